-- WhatsApp conversations through Green-API (`POST /webhooks/greenapi`, docs/whatsapp.md).
--
-- Green-API calls the webhook with the `webhookUrlToken` of the tenant's instance. A token is
-- bound to one tenant and one Green-API instance, stored as its SHA-256 only, and checked by the
-- database in the statement that stores the notification (`max_record_whatsapp`), as an API key
-- is. The sender's number names the lead through the tenant's phone -> lead mapping
-- (`max_lead_phones`); a number nobody mapped yet waits in `max_unmatched_messages`, and joins its
-- lead, in its own order and with its own times, when an operator maps it (`max_map_phone`).

-- Green-API webhook tokens ---------------------------------------------------------------------

CREATE TABLE max_webhook_tokens (
    id          uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    tenant_id   text NOT NULL REFERENCES max_tenants (id),
    -- The Green-API instance (`instanceData.idInstance`) whose notifications the token carries.
    instance_id bigint NOT NULL CHECK (instance_id > 0),
    token_hash  bytea NOT NULL UNIQUE CHECK (length(token_hash) = 32),
    -- The first characters of the token, shown to operators.
    prefix      text NOT NULL,
    created_at  timestamptz NOT NULL DEFAULT now(),
    revoked_at  timestamptz
);

-- An instance has one live token, so it belongs to one tenant.
CREATE UNIQUE INDEX max_webhook_tokens_live ON max_webhook_tokens (instance_id)
    WHERE revoked_at IS NULL;
CREATE INDEX max_webhook_tokens_tenant ON max_webhook_tokens (tenant_id, created_at);

ALTER TABLE max_webhook_tokens ENABLE ROW LEVEL SECURITY;
ALTER TABLE max_webhook_tokens FORCE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON max_webhook_tokens
    USING (tenant_id = max_current_tenant()) WITH CHECK (tenant_id = max_current_tenant());

-- Verifies a webhook token for a tenant and, when given, the instance the notification names, and
-- makes that tenant the transaction's tenant; SQLSTATE MX401 otherwise (as `max_authorize_key`).
CREATE FUNCTION max_authorize_webhook(p_tenant text, p_token_hash bytea, p_instance bigint)
RETURNS void
LANGUAGE plpgsql SECURITY DEFINER SET search_path = public, pg_temp
AS $$
BEGIN
    PERFORM set_config('app.tenant_id', p_tenant, true);
    PERFORM FROM max_webhook_tokens
     WHERE token_hash = p_token_hash AND tenant_id = p_tenant AND revoked_at IS NULL
       AND (p_instance IS NULL OR instance_id = p_instance);
    IF NOT FOUND THEN
        PERFORM set_config('app.tenant_id', '', true);
        RAISE EXCEPTION 'unknown or revoked webhook token, or another instance' USING ERRCODE = 'MX401';
    END IF;
END
$$;

REVOKE ALL ON FUNCTION max_authorize_webhook(text, bytea, bigint) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION max_authorize_webhook(text, bytea, bigint) TO max_app;

-- Phones of leads ------------------------------------------------------------------------------

-- A phone number in E.164: `+`, then the country code and the number, 8 to 15 digits in all.
CREATE DOMAIN max_phone AS text CHECK (VALUE ~ '^\+[1-9][0-9]{7,14}$');

CREATE TABLE max_lead_phones (
    tenant_id  text NOT NULL REFERENCES max_tenants (id),
    phone      max_phone NOT NULL,
    lead_id    max_lead_ref NOT NULL,
    -- The lead's name, when the mapping gives one: it wins over the name WhatsApp shows.
    lead_name  max_lead_name,
    created_at timestamptz NOT NULL DEFAULT now(),
    updated_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (tenant_id, phone)
);

CREATE INDEX max_lead_phones_lead ON max_lead_phones (tenant_id, lead_id);

ALTER TABLE max_lead_phones ENABLE ROW LEVEL SECURITY;
ALTER TABLE max_lead_phones FORCE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON max_lead_phones
    USING (tenant_id = max_current_tenant()) WITH CHECK (tenant_id = max_current_tenant());

-- WhatsApp messages from or to numbers no lead has yet ----------------------------------------

CREATE TABLE max_unmatched_messages (
    id              uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    tenant_id       text NOT NULL REFERENCES max_tenants (id),
    phone           max_phone NOT NULL,
    -- The name WhatsApp shows for the number, for the operator who maps it.
    sender_name     max_lead_name,
    direction       max_direction NOT NULL,
    status          max_activity_status NOT NULL,
    message_snippet text,
    external_id     max_lead_ref NOT NULL,
    occurred_at     timestamptz NOT NULL,
    received_at     timestamptz NOT NULL DEFAULT now()
);

-- A notification Green-API sends again is stored once, as in `lead_activities`.
CREATE UNIQUE INDEX max_unmatched_messages_event
    ON max_unmatched_messages (tenant_id, external_id, status);
CREATE INDEX max_unmatched_messages_phone
    ON max_unmatched_messages (tenant_id, phone, occurred_at);

ALTER TABLE max_unmatched_messages ENABLE ROW LEVEL SECURITY;
ALTER TABLE max_unmatched_messages FORCE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON max_unmatched_messages
    USING (tenant_id = max_current_tenant()) WITH CHECK (tenant_id = max_current_tenant());

GRANT SELECT ON max_lead_phones TO max_app;
GRANT SELECT, INSERT ON max_unmatched_messages TO max_app;

-- One Green-API notification, stored -----------------------------------------------------------

-- Checks the token for the tenant and instance (MX401), then stores one WhatsApp event of the
-- number `p_phone`: an activity of the lead the number is mapped to (through `max_log_activity`,
-- so that a notification sent again is stored once and the lead's summary and alerts follow in
-- this transaction), or, for a number no lead has, an unmatched message. Without a number it only
-- checks the token (a notification that stores nothing). Runs alone, as its own transaction.
CREATE FUNCTION max_record_whatsapp(
    p_tenant text, p_token_hash bytea, p_instance bigint, p_lock_timeout text,
    p_phone text, p_sender_name text, p_direction text, p_status text, p_snippet text,
    p_external_id text, p_occurred_at timestamptz)
RETURNS TABLE (lead_id text, activity_id uuid, replayed boolean)
LANGUAGE plpgsql
AS $$
#variable_conflict use_column
DECLARE
    v_lead      text;
    v_lead_name text;
BEGIN
    PERFORM set_config('role', 'max_app', true),
            set_config('lock_timeout', p_lock_timeout, true),
            public.max_authorize_webhook(p_tenant, p_token_hash, p_instance);
    IF p_phone IS NULL THEN
        RETURN;
    END IF;

    SELECT p.lead_id, p.lead_name INTO v_lead, v_lead_name
      FROM public.max_lead_phones AS p
     WHERE p.tenant_id = p_tenant AND p.phone = p_phone;
    IF FOUND THEN
        RETURN QUERY
        SELECT l.lead_id, l.id, l.replayed
          FROM public.max_log_activity(p_tenant, NULL, NULL, NULL, v_lead,
                                       coalesce(v_lead_name, p_sender_name), 'whatsapp',
                                       p_direction, p_status, p_snippet, p_external_id, NULL,
                                       p_occurred_at) AS l;
        RETURN;
    END IF;

    INSERT INTO public.max_unmatched_messages AS m
           (tenant_id, phone, sender_name, direction, status, message_snippet, external_id,
            occurred_at)
    VALUES (p_tenant, p_phone, p_sender_name, p_direction, p_status, p_snippet, p_external_id,
            p_occurred_at)
    ON CONFLICT DO NOTHING;
    RETURN QUERY SELECT NULL::text, NULL::uuid, NOT FOUND;
END
$$;

REVOKE ALL ON FUNCTION max_record_whatsapp(text, bytea, bigint, text, text, text, text, text, text,
                                            text, timestamptz) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION max_record_whatsapp(text, bytea, bigint, text, text, text, text, text,
                                               text, text, timestamptz) TO max_app;

-- Maps a number to a lead (or moves it to another lead), and brings the number's unmatched
-- messages into that lead's activities, oldest first, with their own times: the lead's summary
-- and alerts follow as if they had been logged when they arrived. Returns how many joined. Runs in
-- a transaction whose tenant is `p_tenant` (operators; the lead directory's API later).
CREATE FUNCTION max_map_phone(p_tenant text, p_phone text, p_lead_id text, p_lead_name text)
RETURNS integer
LANGUAGE plpgsql
AS $$
DECLARE
    joined integer;
BEGIN
    INSERT INTO public.max_lead_phones AS p (tenant_id, phone, lead_id, lead_name)
    VALUES (p_tenant, p_phone, p_lead_id, p_lead_name)
    ON CONFLICT (tenant_id, phone) DO UPDATE SET
        lead_id = excluded.lead_id,
        lead_name = CASE WHEN p.lead_id = excluded.lead_id
                         THEN coalesce(excluded.lead_name, p.lead_name)
                         ELSE excluded.lead_name END,
        updated_at = now();

    WITH moved AS (
        DELETE FROM public.max_unmatched_messages AS m
         WHERE m.tenant_id = p_tenant AND m.phone = p_phone
        RETURNING m.*
    )
    INSERT INTO public.lead_activities
           (tenant_id, lead_id, lead_name, channel, direction, status, message_snippet,
            external_id, occurred_at)
    SELECT p_tenant, p_lead_id, coalesce(p_lead_name, m.sender_name), 'whatsapp', m.direction,
           m.status, m.message_snippet, m.external_id, m.occurred_at
      FROM moved AS m
     ORDER BY m.occurred_at, m.received_at
    ON CONFLICT DO NOTHING;
    GET DIAGNOSTICS joined = ROW_COUNT;
    RETURN joined;
END
$$;

REVOKE ALL ON FUNCTION max_map_phone(text, text, text, text) FROM PUBLIC;
