-- The lead directory (docs/leads.md): who a lead is, per tenant. Its name, its numbers in E.164,
-- its e-mail and a link to it in the CRM, filled by other systems through the API
-- (`PUT /api/leads/{id}`, `POST /api/leads`, scope `leads:write`) and by the EspoCRM sync.
--
-- - The listing of alerts reads one directory row per shown alert, by primary key, for the
--   lead's name (when no activity gave one) and its link (`leadUrl`).
-- - A lead's numbers are the directory's side of the phone -> lead mapping the WhatsApp webhook
--   reads (`max_lead_phones`, V8): writing a lead writes its numbers there, and the messages that
--   waited for those numbers join the lead. A number an operator mapped by hand stays theirs.
-- - The `leadName` of logged activities is kept where it always was, in the lead's summary
--   (`max_lead_states`): the directory falls back on it when it has no name, so that logging an
--   activity writes nothing more than before.
-- - `max_crm_syncs` keeps, per tenant, where the EspoCRM sync stands and how its last run went.

-- A new API-key scope for other systems that keep leads --------------------------------------------

ALTER TABLE max_api_keys DROP CONSTRAINT max_api_keys_scopes_check;
ALTER TABLE max_api_keys ADD CONSTRAINT max_api_keys_scopes_check CHECK (
    cardinality(scopes) > 0
    AND scopes <@ ARRAY['activities:write', 'alerts:read', 'alerts:resolve', 'leads:write']
);

-- The directory ---------------------------------------------------------------------------------

CREATE DOMAIN max_lead_source AS text CHECK (VALUE IN ('api', 'espocrm'));
CREATE DOMAIN max_web_url AS text CHECK (length(VALUE) <= 2000 AND VALUE ~ '^https?://[^\s]+$');
CREATE DOMAIN max_email AS text CHECK (length(VALUE) <= 320 AND VALUE ~ '^[^\s@]+@[^\s@]+$');

CREATE TABLE max_leads (
    tenant_id   text NOT NULL REFERENCES max_tenants (id),
    lead_id     max_lead_ref NOT NULL,
    name        max_lead_name,
    phones      max_phone[] NOT NULL DEFAULT '{}',
    email       max_email,
    -- The lead's page in the CRM (EspoCRM: `{ESPO_URL}/#Lead/view/{id}`); none once the CRM
    -- deleted the lead.
    crm_url     max_web_url,
    source      max_lead_source NOT NULL,
    -- When the source last changed the lead (EspoCRM's `modifiedAt`, the API's `modifiedAt`): an
    -- older version never overwrites a newer one.
    modified_at timestamptz,
    -- When the directory last took a change of the lead from its source.
    synced_at   timestamptz NOT NULL DEFAULT now(),
    -- When the CRM was found to have deleted the lead: its name stays for the alerts that name it.
    removed_at  timestamptz,
    PRIMARY KEY (tenant_id, lead_id)
);

ALTER TABLE max_leads ENABLE ROW LEVEL SECURITY;
ALTER TABLE max_leads FORCE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON max_leads
    USING (tenant_id = max_current_tenant()) WITH CHECK (tenant_id = max_current_tenant());

-- A number is the directory's (written with a lead, rewritten with it) or an operator's.
ALTER TABLE max_lead_phones ADD COLUMN from_directory boolean NOT NULL DEFAULT false;

GRANT SELECT, INSERT, UPDATE ON max_leads TO max_app;
GRANT INSERT, UPDATE, DELETE ON max_lead_phones TO max_app;
GRANT DELETE ON max_unmatched_messages TO max_app;

-- Writing leads ---------------------------------------------------------------------------------

-- Writes a batch of leads of the transaction's tenant, from `p_source`: a JSON array of
-- `{"id", "name", "email", "phones": [E.164...], "url", "modifiedAt"}` (the callers parse and
-- normalise; ids are distinct; `modifiedAt` in microseconds since 1970). A lead whose stored `modifiedAt` is newer is left as it is
-- (`stale`), and one that changes nothing is not written again (`unchanged`). The written leads' numbers replace their earlier directory numbers in the mapping
-- (a number an operator mapped by hand is left to them; a number two leads of the batch share
-- goes to the later one), and messages that waited for those numbers join their lead. Returns
-- each lead's outcome: `created`, `updated`, `unchanged` or `stale`.
CREATE FUNCTION max_upsert_leads(p_tenant text, p_source text, p_leads jsonb)
RETURNS TABLE (lead_id text, outcome text)
LANGUAGE plpgsql
AS $$
#variable_conflict use_column
DECLARE
    v_in_ids    text[];
    v_in_at     timestamptz[];
    v_ids       text[];
    v_created   boolean[];
    v_updated   text[];
    v_ph_lead   text[];
    v_ph_name   text[];
    v_ph_phone  text[];
BEGIN
    -- Every statement below reaches the directory by primary key or through an arbiter index,
    -- with plain columns and arrays: no lookup depends on statistics (a first import runs before
    -- any ANALYZE) nor on an expression Row Level Security would keep off an index.
    WITH input AS (
        SELECT x.id, x.name, x.email, coalesce(x.phones, '{}') AS phones, x.url,
               to_timestamp(x.m / 1000000) + (x.m % 1000000) * interval '1 microsecond'
                   AS modified_at,
               x.ord
          FROM ROWS FROM (jsonb_to_recordset(p_leads)
                          AS (id text, name text, email text, phones text[], url text,
                              "modifiedAt" bigint))
               WITH ORDINALITY AS x(id, name, email, phones, url, m, ord)
    ),
    written AS (
        INSERT INTO public.max_leads AS d
               (tenant_id, lead_id, name, email, phones, crm_url, source, modified_at)
        SELECT p_tenant, i.id, i.name, i.email, i.phones::public.max_phone[], i.url, p_source,
               i.modified_at
          FROM input AS i
        ON CONFLICT (tenant_id, lead_id) DO UPDATE SET
            name = excluded.name,
            email = excluded.email,
            phones = excluded.phones,
            crm_url = excluded.crm_url,
            source = excluded.source,
            modified_at = excluded.modified_at,
            synced_at = now(),
            removed_at = NULL
         WHERE (d.modified_at IS NULL OR excluded.modified_at IS NULL
                OR excluded.modified_at >= d.modified_at)
           AND (d.name, d.email, d.phones, d.crm_url, d.source, d.modified_at, d.removed_at)
               IS DISTINCT FROM (excluded.name, excluded.email, excluded.phones, excluded.crm_url,
                                 excluded.source, excluded.modified_at, NULL)
        RETURNING d.lead_id::text AS lead_id, d.name::text AS name, d.phones::text[] AS phones,
                  xmax = 0 AS created
    ),
    -- The written leads' numbers, a number two of them share going to the later in the batch.
    numbers AS (
        SELECT DISTINCT ON (ph.phone) w.lead_id, w.name, ph.phone
          FROM written AS w
          JOIN input AS i ON i.id = w.lead_id
         CROSS JOIN LATERAL unnest(w.phones) AS ph(phone)
         ORDER BY ph.phone, i.ord DESC
    )
    SELECT (SELECT array_agg(i.id ORDER BY i.ord) FROM input AS i),
           (SELECT array_agg(i.modified_at ORDER BY i.ord) FROM input AS i),
           (SELECT array_agg(w.lead_id) FROM written AS w),
           (SELECT array_agg(w.created) FROM written AS w),
           (SELECT array_agg(w.lead_id) FROM written AS w WHERE NOT w.created),
           (SELECT array_agg(n.lead_id) FROM numbers AS n),
           (SELECT array_agg(n.name) FROM numbers AS n),
           (SELECT array_agg(n.phone) FROM numbers AS n)
      INTO v_in_ids, v_in_at, v_ids, v_created, v_updated, v_ph_lead, v_ph_name, v_ph_phone;

    -- Numbers the updated leads no longer have leave the mapping (a new lead had none).
    IF v_updated IS NOT NULL THEN
        DELETE FROM public.max_lead_phones AS p
         USING unnest(v_updated) AS u(lead_id)
         WHERE p.tenant_id = p_tenant AND p.lead_id = u.lead_id AND p.from_directory
           AND NOT EXISTS (SELECT FROM unnest(v_ph_phone, v_ph_lead) AS n(phone, lead)
                            WHERE n.phone = p.phone AND n.lead = p.lead_id);
    END IF;

    IF v_ph_phone IS NOT NULL THEN
        -- Their numbers, to them (unless an operator mapped the number by hand).
        INSERT INTO public.max_lead_phones AS p (tenant_id, phone, lead_id, lead_name, from_directory)
        SELECT p_tenant, n.phone, n.lead_id, n.name, true
          FROM unnest(v_ph_phone, v_ph_lead, v_ph_name) AS n(phone, lead_id, name)
        ON CONFLICT (tenant_id, phone) DO UPDATE SET
            lead_id = excluded.lead_id,
            lead_name = excluded.lead_name,
            updated_at = now()
         WHERE p.from_directory
           AND (p.lead_id, p.lead_name) IS DISTINCT FROM (excluded.lead_id, excluded.lead_name);

        -- Messages that waited for these numbers join the lead each number now names, oldest
        -- first.
        WITH moved AS (
            DELETE FROM public.max_unmatched_messages AS m
             USING unnest(v_ph_phone) AS n(phone), public.max_lead_phones AS p
             WHERE m.tenant_id = p_tenant AND m.phone = n.phone
               AND p.tenant_id = p_tenant AND p.phone = n.phone
            RETURNING m.*, p.lead_id AS mapped_lead, p.lead_name AS mapped_name
        )
        INSERT INTO public.lead_activities
               (tenant_id, lead_id, lead_name, channel, direction, status, message_snippet,
                external_id, occurred_at)
        SELECT p_tenant, m.mapped_lead, coalesce(m.mapped_name, m.sender_name), 'whatsapp',
               m.direction, m.status, m.message_snippet, m.external_id, m.occurred_at
          FROM moved AS m
         ORDER BY m.occurred_at, m.received_at
        ON CONFLICT DO NOTHING;
    END IF;

    RETURN QUERY
    SELECT u.id,
           CASE WHEN w.created THEN 'created'
                WHEN w.created IS NOT NULL THEN 'updated'
                WHEN d.modified_at > u.at THEN 'stale'
                ELSE 'unchanged' END
      FROM unnest(v_in_ids, v_in_at) WITH ORDINALITY AS u(id, at, ord)
      LEFT JOIN unnest(v_ids, v_created) AS w(lead_id, created) ON w.lead_id = u.id
      LEFT JOIN public.max_leads AS d
        ON w.lead_id IS NULL AND d.tenant_id = p_tenant AND d.lead_id = u.id
     ORDER BY u.ord;
END
$$;

REVOKE ALL ON FUNCTION max_upsert_leads(text, text, jsonb) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION max_upsert_leads(text, text, jsonb) TO max_app;

-- Marks leads the CRM deleted: their link and their directory numbers go, their name stays for
-- the alerts that name them. Returns how many were marked.
CREATE FUNCTION max_remove_leads(p_tenant text, p_ids text[])
RETURNS integer
LANGUAGE plpgsql
AS $$
DECLARE
    removed integer;
BEGIN
    UPDATE public.max_leads AS d SET removed_at = now(), crm_url = NULL, synced_at = now()
     WHERE d.tenant_id = p_tenant AND d.lead_id = ANY (p_ids) AND d.removed_at IS NULL;
    GET DIAGNOSTICS removed = ROW_COUNT;
    DELETE FROM public.max_lead_phones AS p
     WHERE p.tenant_id = p_tenant AND p.lead_id = ANY (p_ids) AND p.from_directory;
    RETURN removed;
END
$$;

REVOKE ALL ON FUNCTION max_remove_leads(text, text[]) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION max_remove_leads(text, text[]) TO max_app;

-- An operator's mapping (V8) is theirs: the directory does not take the number back.
CREATE OR REPLACE FUNCTION max_map_phone(p_tenant text, p_phone text, p_lead_id text, p_lead_name text)
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
        from_directory = false,
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

-- The EspoCRM sync, per tenant ------------------------------------------------------------------

-- The secrets (the CRM's URL and API key) are not here: Secrets Manager or the environment holds
-- them, and the sync's configuration names the tenants it takes (docs/leads.md). This is where
-- the sync stands for a tenant and how its last run went, read and written under that tenant.
CREATE TABLE max_crm_syncs (
    tenant_id        text PRIMARY KEY REFERENCES max_tenants (id),
    -- The newest `modifiedAt` taken: the next incremental sync asks from there.
    cursor_at        timestamptz,
    -- When the last full pass (every lead, and deleted ones found) ended.
    full_at          timestamptz,
    last_run_at      timestamptz,
    -- `ok`, or what stopped the last run: `unauthorized`, `rate_limited`, `server_error`,
    -- `timeout`, `unreachable`, `unexpected`, `invalid_url`.
    last_outcome     text,
    last_ok_at       timestamptz,
    -- Runs that failed in a row: the next one waits longer (`retry_after`).
    failures         integer NOT NULL DEFAULT 0,
    retry_after      timestamptz,
    -- What the last run did.
    leads_read       integer NOT NULL DEFAULT 0,
    leads_written    integer NOT NULL DEFAULT 0,
    leads_removed    integer NOT NULL DEFAULT 0,
    phones_skipped   integer NOT NULL DEFAULT 0
);

ALTER TABLE max_crm_syncs ENABLE ROW LEVEL SECURITY;
ALTER TABLE max_crm_syncs FORCE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON max_crm_syncs
    USING (tenant_id = max_current_tenant()) WITH CHECK (tenant_id = max_current_tenant());

GRANT SELECT, INSERT, UPDATE ON max_crm_syncs TO max_app;
