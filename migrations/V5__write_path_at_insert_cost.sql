-- Logging an activity close to the cost of a plain insert (bench/PROFILE.md, "The write path",
-- second round). What an instruction profile of the backend (valgrind's callgrind, one activity
-- after another) named, and what changes here:
--
-- 1. The table's CHECK constraints were read again at every insert. PostgreSQL keeps a table's
--    CHECK constraints as node trees in text and parses them again for every statement that writes
--    a row (`ExecRelCheck` -> `stringToNode`, then plans them): for the seven checks of
--    `lead_activities`, 61 % of a plain insert's instructions. A domain's constraint is parsed once
--    per connection and kept in its type cache. The columns keep their names and their text
--    values (a domain over text reads and compares as text; clients see `text`); the rules are
--    the same, under the domains' names.
-- 2. The policies compared with `(SELECT max_current_tenant())`, a sub-plan that every statement
--    initialises and runs once. `max_current_tenant()` is STABLE: an index scan evaluates it once
--    at its start, as it did the sub-plan's result, without a plan node per statement.
-- 3. The activity trigger pinned its `search_path` (`SET search_path`), which makes every call save,
--    set and restore that setting. It now names every object with its schema instead: the path it
--    is called with cannot redirect it (objects are looked up in `public` by name, and operators
--    and functions are never looked up in `pg_temp`).
-- 4. `max_log_activity`: the API's insert as one statement. With an API key it sets the role,
--    checks the key and inserts in one call, so that a request is one statement in one implicit
--    transaction: no BEGIN and COMMIT of their own, one answer instead of four. An activity with
--    neither an `Idempotency-Key` nor an `externalId` cannot repeat one already stored: it is a
--    plain insert; the others insert unless they conflict, and only then look up what was stored.

-- 1. Domains instead of the table's CHECK constraints -----------------------------------------------

CREATE DOMAIN max_lead_ref AS text CHECK (length(VALUE) BETWEEN 1 AND 200);
CREATE DOMAIN max_lead_name AS text CHECK (length(VALUE) <= 200);
CREATE DOMAIN max_channel AS text
    CHECK (VALUE IN ('whatsapp', 'email', 'sms', 'call', 'meeting', 'other'));
CREATE DOMAIN max_direction AS text CHECK (VALUE IN ('in', 'out'));
CREATE DOMAIN max_activity_status AS text
    CHECK (VALUE IN ('sent', 'delivered', 'read', 'failed', 'received', 'missed', 'completed'));

ALTER TABLE lead_activities
    DROP CONSTRAINT lead_activities_lead_id_check,
    DROP CONSTRAINT lead_activities_lead_name_check,
    DROP CONSTRAINT lead_activities_channel_check,
    DROP CONSTRAINT lead_activities_direction_check,
    DROP CONSTRAINT lead_activities_status_check,
    DROP CONSTRAINT lead_activities_external_id_check,
    DROP CONSTRAINT lead_activities_idempotency_key_check,
    ALTER COLUMN lead_id TYPE max_lead_ref,
    ALTER COLUMN lead_name TYPE max_lead_name,
    ALTER COLUMN channel TYPE max_channel,
    ALTER COLUMN direction TYPE max_direction,
    ALTER COLUMN status TYPE max_activity_status,
    ALTER COLUMN external_id TYPE max_lead_ref,
    ALTER COLUMN idempotency_key TYPE max_lead_ref;

-- 2. Policies without a sub-plan ---------------------------------------------------------------------

ALTER POLICY tenant_isolation ON max_tenants
    USING (id = max_current_tenant()) WITH CHECK (id = max_current_tenant());
ALTER POLICY tenant_isolation ON max_api_keys
    USING (tenant_id = max_current_tenant()) WITH CHECK (tenant_id = max_current_tenant());
ALTER POLICY tenant_isolation ON lead_activities
    USING (tenant_id = max_current_tenant()) WITH CHECK (tenant_id = max_current_tenant());
ALTER POLICY tenant_isolation ON max_alerts
    USING (tenant_id = max_current_tenant()) WITH CHECK (tenant_id = max_current_tenant());
ALTER POLICY tenant_isolation ON max_alert_counters
    USING (tenant_id = max_current_tenant()) WITH CHECK (tenant_id = max_current_tenant());
ALTER POLICY tenant_isolation ON max_lead_states
    USING (tenant_id = max_current_tenant()) WITH CHECK (tenant_id = max_current_tenant());
ALTER POLICY tenant_isolation ON max_alert_rules
    USING (tenant_id = max_current_tenant()) WITH CHECK (tenant_id = max_current_tenant());

-- 3. The activity trigger, with its objects named in full ------------------------------------------

-- The same body as in V4, every object named with its schema, and no SET clause.
CREATE OR REPLACE FUNCTION max_lead_activities_merge() RETURNS trigger
LANGUAGE plpgsql
AS $$
DECLARE
    -- What the activity is to the rules: a touch is an inbound activity or an outbound contact (a
    -- message sent, a call or meeting held); an outcome is a known fate of an outbound message.
    inbound  constant boolean := NEW.direction = 'in';
    contact  constant boolean := NEW.direction = 'out' AND NEW.status IN ('sent', 'completed');
    outcome  constant boolean := NEW.direction = 'out'
                                 AND NEW.status IN ('sent', 'delivered', 'read', 'failed', 'completed');
    touch    constant boolean := inbound OR contact;
    summary  public.max_lead_states;
BEGIN
    -- A delivery status (delivered, read, failed) changes only the lead's last outcome: a narrow
    -- update, the same values as the upsert below would write, when the lead has a summary.
    IF outcome AND NOT touch THEN
        UPDATE public.max_lead_states AS s SET
            lead_name = coalesce(NEW.lead_name, s.lead_name),
            first_seen_at = least(s.first_seen_at, NEW.occurred_at),
            last_outcome_failed = CASE WHEN NEW.occurred_at >= coalesce(s.last_outcome_at, '-infinity')
                                       THEN NEW.status = 'failed' ELSE s.last_outcome_failed END,
            last_outcome_channel = CASE WHEN NEW.occurred_at >= coalesce(s.last_outcome_at, '-infinity')
                                        THEN NEW.channel ELSE s.last_outcome_channel END,
            last_outcome_at = greatest(s.last_outcome_at, NEW.occurred_at),
            next_check_at = least(s.next_check_at, now())
         WHERE s.tenant_id = NEW.tenant_id AND s.lead_id = NEW.lead_id
        RETURNING s.* INTO summary;
    END IF;
    IF summary.lead_id IS NULL THEN
        INSERT INTO public.max_lead_states AS s
               (tenant_id, lead_id, lead_name, first_seen_at, last_in_at, last_contact_at,
                last_contact_channel, last_touch_at, last_touch_in, last_touch_channel,
                last_outcome_at, last_outcome_failed, last_outcome_channel, next_check_at)
        VALUES (NEW.tenant_id, NEW.lead_id, NEW.lead_name, NEW.occurred_at,
                CASE WHEN inbound THEN NEW.occurred_at END,
                CASE WHEN contact THEN NEW.occurred_at END,
                CASE WHEN contact THEN NEW.channel END,
                CASE WHEN touch THEN NEW.occurred_at END,
                CASE WHEN touch THEN inbound END,
                CASE WHEN touch THEN NEW.channel END,
                CASE WHEN outcome THEN NEW.occurred_at END,
                CASE WHEN outcome THEN NEW.status = 'failed' END,
                CASE WHEN outcome THEN NEW.channel END,
                now())
        ON CONFLICT (tenant_id, lead_id) DO UPDATE SET
            lead_name = coalesce(excluded.lead_name, s.lead_name),
            first_seen_at = least(s.first_seen_at, excluded.first_seen_at),
            last_in_at = greatest(s.last_in_at, excluded.last_in_at),
            last_contact_channel = CASE WHEN excluded.last_contact_at >= coalesce(s.last_contact_at, '-infinity')
                                        THEN excluded.last_contact_channel ELSE s.last_contact_channel END,
            last_contact_at = greatest(s.last_contact_at, excluded.last_contact_at),
            last_touch_in = CASE WHEN excluded.last_touch_at >= coalesce(s.last_touch_at, '-infinity')
                                 THEN excluded.last_touch_in ELSE s.last_touch_in END,
            last_touch_channel = CASE WHEN excluded.last_touch_at >= coalesce(s.last_touch_at, '-infinity')
                                      THEN excluded.last_touch_channel ELSE s.last_touch_channel END,
            last_touch_at = greatest(s.last_touch_at, excluded.last_touch_at),
            last_outcome_failed = CASE WHEN excluded.last_outcome_at >= coalesce(s.last_outcome_at, '-infinity')
                                       THEN excluded.last_outcome_failed ELSE s.last_outcome_failed END,
            last_outcome_channel = CASE WHEN excluded.last_outcome_at >= coalesce(s.last_outcome_at, '-infinity')
                                        THEN excluded.last_outcome_channel ELSE s.last_outcome_channel END,
            last_outcome_at = greatest(s.last_outcome_at, excluded.last_outcome_at),
            next_check_at = least(s.next_check_at, now())
        RETURNING s.* INTO summary;
    END IF;

    -- The alerts this activity clears, if the lead has any open (the rules say which, from the
    -- summary as it now is and this activity's time of each kind).
    IF EXISTS (SELECT FROM public.max_alerts AS a
                WHERE a.tenant_id = NEW.tenant_id AND a.lead_id = NEW.lead_id
                  AND a.resolved_at IS NULL) THEN
        UPDATE public.max_alerts AS a
           SET resolved_at = now(), resolution = 'auto'
         WHERE a.tenant_id = NEW.tenant_id AND a.lead_id = NEW.lead_id AND a.resolved_at IS NULL
           AND public.max_alert_cleared(a.type, a.tenant_id,
                                        summary.last_in_at, summary.last_contact_at,
                                        summary.last_touch_at, summary.last_touch_in,
                                        summary.last_outcome_at, summary.last_outcome_failed,
                                        CASE WHEN inbound THEN NEW.occurred_at END,
                                        CASE WHEN contact THEN NEW.occurred_at END,
                                        CASE WHEN touch THEN NEW.occurred_at END,
                                        CASE WHEN outcome THEN NEW.occurred_at END);
    END IF;
    RETURN NULL;
END
$$;

-- 4. The API's insert as one statement ----------------------------------------------------------

-- Logs an activity for a tenant and returns it, or the activity a retry with the same
-- `Idempotency-Key` (or the same `externalId` and `status`) stored before (`replayed`).
--
-- With an API key (`p_key_hash`), the call is the whole transaction: it takes the role `max_app`,
-- bounds every lock wait by `p_lock_timeout` (a one-row insert waits for nothing else), and checks
-- the key for `p_scope` (SQLSTATE MX401 / MX403, as `max_authorize_key`) before anything is
-- written. Without a key, the transaction's opening statement must have set the same tenant
-- (a caller the application verified); otherwise MX401: the function never makes a tenant current
-- by itself.
CREATE FUNCTION max_log_activity(
    p_tenant text, p_key_hash bytea, p_scope text, p_lock_timeout text,
    p_lead_id text, p_lead_name text, p_channel text, p_direction text, p_status text,
    p_snippet text, p_external_id text, p_idempotency_key text, p_occurred_at timestamptz)
RETURNS TABLE (id uuid, lead_id text, lead_name text, channel text, direction text, status text,
               message_snippet text, external_id text, occurred_at timestamptz,
               created_at timestamptz, replayed boolean)
LANGUAGE plpgsql
AS $$
#variable_conflict use_column
BEGIN
    IF p_key_hash IS NOT NULL THEN
        PERFORM set_config('role', 'max_app', true),
                set_config('lock_timeout', p_lock_timeout, true),
                public.max_authorize_key(p_tenant, p_key_hash, p_scope);
    ELSIF public.max_current_tenant() IS DISTINCT FROM p_tenant THEN
        RAISE EXCEPTION 'no verified tenant for this activity' USING ERRCODE = 'MX401';
    END IF;

    IF p_idempotency_key IS NULL AND p_external_id IS NULL THEN
        RETURN QUERY
        INSERT INTO public.lead_activities AS a
               (tenant_id, lead_id, lead_name, channel, direction, status, message_snippet,
                occurred_at)
        VALUES (p_tenant, p_lead_id, p_lead_name, p_channel, p_direction, p_status, p_snippet,
                coalesce(p_occurred_at, now()))
        RETURNING a.id, a.lead_id::text, a.lead_name::text, a.channel::text, a.direction::text,
                  a.status::text, a.message_snippet, a.external_id::text, a.occurred_at,
                  a.created_at, false;
        RETURN;
    END IF;

    RETURN QUERY
    INSERT INTO public.lead_activities AS a
           (tenant_id, lead_id, lead_name, channel, direction, status, message_snippet,
            external_id, idempotency_key, occurred_at)
    VALUES (p_tenant, p_lead_id, p_lead_name, p_channel, p_direction, p_status, p_snippet,
            p_external_id, p_idempotency_key, coalesce(p_occurred_at, now()))
    ON CONFLICT DO NOTHING
    RETURNING a.id, a.lead_id::text, a.lead_name::text, a.channel::text, a.direction::text,
              a.status::text, a.message_snippet, a.external_id::text, a.occurred_at, a.created_at,
              false;
    IF FOUND THEN
        RETURN;
    END IF;
    -- A conflict: the insert waited for the other writer to end, and this statement's snapshot,
    -- taken now, sees what it stored.
    RETURN QUERY
    SELECT a.id, a.lead_id::text, a.lead_name::text, a.channel::text, a.direction::text,
           a.status::text, a.message_snippet, a.external_id::text, a.occurred_at, a.created_at,
           true
      FROM public.lead_activities AS a
     WHERE a.tenant_id = p_tenant
       AND (a.idempotency_key = p_idempotency_key
            OR (a.external_id = p_external_id AND a.status = p_status))
     ORDER BY a.created_at
     LIMIT 1;
END
$$;

REVOKE ALL ON FUNCTION max_log_activity(text, bytea, text, text, text, text, text, text, text, text,
                                         text, text, timestamptz) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION max_log_activity(text, bytea, text, text, text, text, text, text, text,
                                            text, text, text, timestamptz) TO max_app;
