-- M.A.X. Living Alerts: the core schema.
--
-- The seed's contract holds word for word: tables `lead_activities` and `max_alerts`, indexes
-- `idx_lead_activities_tenant_lead`, `idx_lead_activities_created`, `idx_max_alerts_unique_active`,
-- `idx_max_alerts_tenant_lead`, and its manual `INSERT INTO max_alerts ...` works as written.
--
-- Tenancy is enforced twice: every statement of the functions filters by tenant, and Row Level
-- Security, enabled and forced on every tenant table, only shows the rows of the tenant named by the
-- transaction-local setting `app.tenant_id` (an unset or empty setting shows nothing). The functions
-- run their statements as the role `max_app`, which owns nothing and cannot bypass RLS.

-- The role of the functions. Roles are shared by every database of a cluster, so another database
-- (or a concurrent migration) may have created it already.
DO $$
BEGIN
    CREATE ROLE max_app NOLOGIN NOSUPERUSER NOBYPASSRLS NOCREATEDB NOCREATEROLE;
EXCEPTION
    WHEN duplicate_object OR unique_violation THEN NULL;
END
$$;

-- The login that runs the functions switches to `max_app` in each transaction; the migrating role
-- (the tables' owner) may do the same, which the local runner and tests rely on.
DO $$
BEGIN
    IF NOT pg_has_role(current_user, 'max_app', 'MEMBER') THEN
        EXECUTE format('GRANT max_app TO %I', current_user);
    END IF;
END
$$;

GRANT USAGE ON SCHEMA public TO max_app;

-- The tenant of the current transaction, or NULL when none is set: policies compare with it, so
-- that a forgotten setting fails closed. STABLE and wrapped in `(SELECT ...)` by the policies so it
-- is evaluated once per statement, not once per row.
CREATE FUNCTION max_current_tenant() RETURNS text
LANGUAGE sql STABLE PARALLEL SAFE
AS $$ SELECT nullif(current_setting('app.tenant_id', true), '') $$;

GRANT EXECUTE ON FUNCTION max_current_tenant() TO max_app;

-- Tenants and their API keys -------------------------------------------------------------------

CREATE TABLE max_tenants (
    id         text PRIMARY KEY CHECK (id ~ '^[a-z0-9][a-z0-9_-]{0,62}$'),
    name       text NOT NULL,
    created_at timestamptz NOT NULL DEFAULT now()
);

-- Keys are random (190 bits) and stored only as their SHA-256: a stolen table yields no key.
CREATE TABLE max_api_keys (
    id         uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    tenant_id  text NOT NULL REFERENCES max_tenants (id),
    key_hash   bytea NOT NULL UNIQUE CHECK (length(key_hash) = 32),
    -- The first characters of the key, shown to operators and recorded as who resolved an alert.
    prefix     text NOT NULL,
    scopes     text[] NOT NULL CHECK (
        cardinality(scopes) > 0
        AND scopes <@ ARRAY['activities:write', 'alerts:read', 'alerts:resolve']
    ),
    label      text,
    created_at timestamptz NOT NULL DEFAULT now(),
    revoked_at timestamptz
);

CREATE INDEX max_api_keys_tenant ON max_api_keys (tenant_id, created_at);

-- Activities -----------------------------------------------------------------------------------

CREATE TABLE lead_activities (
    id              uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    tenant_id       text NOT NULL,
    lead_id         text NOT NULL CHECK (length(lead_id) BETWEEN 1 AND 200),
    lead_name       text CHECK (length(lead_name) <= 200),
    channel         text NOT NULL
        CHECK (channel IN ('whatsapp', 'email', 'sms', 'call', 'meeting', 'other')),
    direction       text NOT NULL CHECK (direction IN ('in', 'out')),
    status          text NOT NULL
        CHECK (status IN ('sent', 'delivered', 'read', 'failed', 'received', 'missed', 'completed')),
    message_snippet text,
    -- The provider's id of the message or call (a WhatsApp message id, say): with `status` it names
    -- one event, so a retried webhook is stored once while `sent`, `delivered`, `read` each count.
    external_id     text CHECK (length(external_id) BETWEEN 1 AND 200),
    -- The caller's `Idempotency-Key`: a retried request is stored once.
    idempotency_key text CHECK (length(idempotency_key) BETWEEN 1 AND 200),
    -- When the contact happened (back-filled history may be older than `created_at`).
    occurred_at     timestamptz NOT NULL DEFAULT now(),
    created_at      timestamptz NOT NULL DEFAULT now()
);

CREATE INDEX idx_lead_activities_tenant_lead ON lead_activities (tenant_id, lead_id, occurred_at DESC);
CREATE INDEX idx_lead_activities_created ON lead_activities (tenant_id, created_at DESC);
CREATE UNIQUE INDEX lead_activities_idempotency_key
    ON lead_activities (tenant_id, idempotency_key) WHERE idempotency_key IS NOT NULL;
CREATE UNIQUE INDEX lead_activities_external_event
    ON lead_activities (tenant_id, external_id, status) WHERE external_id IS NOT NULL;

-- Alerts ---------------------------------------------------------------------------------------

CREATE TABLE max_alerts (
    id               uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    tenant_id        text NOT NULL,
    lead_id          text NOT NULL,
    lead_name        text,
    type             text NOT NULL,
    severity         text NOT NULL CHECK (severity IN ('high', 'medium', 'low')),
    message          text NOT NULL,
    suggested_action jsonb,
    created_at       timestamptz NOT NULL DEFAULT now(),
    resolved_at      timestamptz,
    -- Who resolved it: `user:<id>` or `api-key:<prefix>` for a person or a caller, NULL when automatic.
    resolved_by      text,
    resolution       text CHECK (resolution IN ('manual', 'auto')),
    escalated_at     timestamptz,
    -- The order of urgency, as columns so that one index serves the listing: high first, then
    -- escalated first, then oldest first.
    severity_rank    smallint NOT NULL
        GENERATED ALWAYS AS (CASE severity WHEN 'high' THEN 0 WHEN 'medium' THEN 1 ELSE 2 END) STORED,
    not_escalated    boolean NOT NULL GENERATED ALWAYS AS (escalated_at IS NULL) STORED,
    CHECK ((resolved_at IS NULL) = (resolution IS NULL))
);

CREATE UNIQUE INDEX idx_max_alerts_unique_active
    ON max_alerts (tenant_id, lead_id, type) WHERE resolved_at IS NULL;
CREATE INDEX idx_max_alerts_tenant_lead ON max_alerts (tenant_id, lead_id);
-- Serves `GET /api/alerts/active` in its order, a page at a time, without sorting.
CREATE INDEX max_alerts_active_by_urgency
    ON max_alerts (tenant_id, severity_rank, not_escalated, created_at, id)
    WHERE resolved_at IS NULL;

-- Active alert counts per tenant, kept by triggers so that `stats` costs one row read instead of a
-- count over every open alert.
CREATE TABLE max_alert_counters (
    tenant_id text PRIMARY KEY,
    high      bigint NOT NULL DEFAULT 0,
    medium    bigint NOT NULL DEFAULT 0,
    low       bigint NOT NULL DEFAULT 0,
    escalated bigint NOT NULL DEFAULT 0
);

-- One upsert per statement (not per row), with the tenants in a fixed order so that two statements
-- touching several tenants cannot deadlock on the counters. Runs as the caller, whose policies
-- decide which tenants' counters it may change.
CREATE FUNCTION max_alert_counters_apply() RETURNS trigger
LANGUAGE plpgsql SET search_path = public, pg_temp
AS $$
DECLARE
    v_tenants text[];
    v_high bigint[];
    v_medium bigint[];
    v_low bigint[];
    v_escalated bigint[];
BEGIN
    -- A trigger sees only the transition tables it declares: one delta query per event.
    IF TG_OP = 'INSERT' THEN
        SELECT array_agg(tenant_id), array_agg(h), array_agg(m), array_agg(l), array_agg(e)
          INTO v_tenants, v_high, v_medium, v_low, v_escalated
          FROM (SELECT tenant_id,
                       count(*) FILTER (WHERE severity = 'high') AS h,
                       count(*) FILTER (WHERE severity = 'medium') AS m,
                       count(*) FILTER (WHERE severity = 'low') AS l,
                       count(*) FILTER (WHERE escalated_at IS NOT NULL) AS e
                  FROM new_rows WHERE resolved_at IS NULL GROUP BY tenant_id) AS delta;
    ELSIF TG_OP = 'DELETE' THEN
        SELECT array_agg(tenant_id), array_agg(h), array_agg(m), array_agg(l), array_agg(e)
          INTO v_tenants, v_high, v_medium, v_low, v_escalated
          FROM (SELECT tenant_id,
                       -count(*) FILTER (WHERE severity = 'high') AS h,
                       -count(*) FILTER (WHERE severity = 'medium') AS m,
                       -count(*) FILTER (WHERE severity = 'low') AS l,
                       -count(*) FILTER (WHERE escalated_at IS NOT NULL) AS e
                  FROM old_rows WHERE resolved_at IS NULL GROUP BY tenant_id) AS delta;
    ELSE
        SELECT array_agg(tenant_id), array_agg(h), array_agg(m), array_agg(l), array_agg(e)
          INTO v_tenants, v_high, v_medium, v_low, v_escalated
          FROM (SELECT tenant_id,
                       coalesce(sum(d) FILTER (WHERE severity = 'high'), 0) AS h,
                       coalesce(sum(d) FILTER (WHERE severity = 'medium'), 0) AS m,
                       coalesce(sum(d) FILTER (WHERE severity = 'low'), 0) AS l,
                       coalesce(sum(d) FILTER (WHERE escalated_at IS NOT NULL), 0) AS e
                  FROM (SELECT tenant_id, severity, escalated_at, 1 AS d
                          FROM new_rows WHERE resolved_at IS NULL
                        UNION ALL
                        SELECT tenant_id, severity, escalated_at, -1 AS d
                          FROM old_rows WHERE resolved_at IS NULL) AS changes
                 GROUP BY tenant_id) AS delta;
    END IF;
    INSERT INTO max_alert_counters AS c (tenant_id, high, medium, low, escalated)
    SELECT tenant_id, h, m, l, e
      FROM unnest(v_tenants, v_high, v_medium, v_low, v_escalated) AS u(tenant_id, h, m, l, e)
     WHERE h <> 0 OR m <> 0 OR l <> 0 OR e <> 0
     ORDER BY tenant_id
    ON CONFLICT (tenant_id) DO UPDATE
       SET high = c.high + excluded.high,
           medium = c.medium + excluded.medium,
           low = c.low + excluded.low,
           escalated = c.escalated + excluded.escalated;
    RETURN NULL;
END
$$;

CREATE FUNCTION max_alert_counters_reset() RETURNS trigger
LANGUAGE plpgsql SET search_path = public, pg_temp
AS $$
BEGIN
    DELETE FROM max_alert_counters;
    RETURN NULL;
END
$$;


CREATE TRIGGER max_alerts_count_insert AFTER INSERT ON max_alerts
    REFERENCING NEW TABLE AS new_rows
    FOR EACH STATEMENT EXECUTE FUNCTION max_alert_counters_apply();
CREATE TRIGGER max_alerts_count_update AFTER UPDATE ON max_alerts
    REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows
    FOR EACH STATEMENT EXECUTE FUNCTION max_alert_counters_apply();
CREATE TRIGGER max_alerts_count_delete AFTER DELETE ON max_alerts
    REFERENCING OLD TABLE AS old_rows
    FOR EACH STATEMENT EXECUTE FUNCTION max_alert_counters_apply();
CREATE TRIGGER max_alerts_count_truncate AFTER TRUNCATE ON max_alerts
    FOR EACH STATEMENT EXECUTE FUNCTION max_alert_counters_reset();

-- API key check --------------------------------------------------------------------------------

-- Verifies an API key for a tenant and a scope, and makes that tenant the transaction's tenant.
-- The functions send it first in the same pipelined transaction as their work, so checking a key
-- costs no extra round trip, and a revoked key stops working at once. Fails with SQLSTATE MX401
-- (unknown or revoked key) or MX403 (key lacks the scope), which aborts the transaction.
CREATE FUNCTION max_authorize_key(p_tenant text, p_key_hash bytea, p_scope text) RETURNS void
LANGUAGE plpgsql SECURITY DEFINER SET search_path = public, pg_temp
AS $$
DECLARE
    v_scopes text[];
BEGIN
    PERFORM set_config('app.tenant_id', p_tenant, true);
    SELECT scopes INTO v_scopes
      FROM max_api_keys
     WHERE key_hash = p_key_hash AND tenant_id = p_tenant AND revoked_at IS NULL;
    IF NOT FOUND THEN
        PERFORM set_config('app.tenant_id', '', true);
        RAISE EXCEPTION 'unknown or revoked API key' USING ERRCODE = 'MX401';
    END IF;
    IF p_scope IS NULL OR NOT p_scope = ANY (v_scopes) THEN
        RAISE EXCEPTION 'API key lacks scope %', p_scope USING ERRCODE = 'MX403';
    END IF;
END
$$;

REVOKE ALL ON FUNCTION max_authorize_key(text, bytea, text) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION max_authorize_key(text, bytea, text) TO max_app;

-- Row Level Security ---------------------------------------------------------------------------

ALTER TABLE max_tenants ENABLE ROW LEVEL SECURITY;
ALTER TABLE max_tenants FORCE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON max_tenants
    USING (id = (SELECT max_current_tenant()))
    WITH CHECK (id = (SELECT max_current_tenant()));

ALTER TABLE max_api_keys ENABLE ROW LEVEL SECURITY;
ALTER TABLE max_api_keys FORCE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON max_api_keys
    USING (tenant_id = (SELECT max_current_tenant()))
    WITH CHECK (tenant_id = (SELECT max_current_tenant()));

ALTER TABLE lead_activities ENABLE ROW LEVEL SECURITY;
ALTER TABLE lead_activities FORCE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON lead_activities
    USING (tenant_id = (SELECT max_current_tenant()))
    WITH CHECK (tenant_id = (SELECT max_current_tenant()));

ALTER TABLE max_alerts ENABLE ROW LEVEL SECURITY;
ALTER TABLE max_alerts FORCE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON max_alerts
    USING (tenant_id = (SELECT max_current_tenant()))
    WITH CHECK (tenant_id = (SELECT max_current_tenant()));

ALTER TABLE max_alert_counters ENABLE ROW LEVEL SECURITY;
ALTER TABLE max_alert_counters FORCE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON max_alert_counters
    USING (tenant_id = (SELECT max_current_tenant()))
    WITH CHECK (tenant_id = (SELECT max_current_tenant()));

-- What the functions may do, and nothing more: keys are reached only through max_authorize_key.
GRANT SELECT, INSERT ON lead_activities TO max_app;
GRANT SELECT ON max_alerts TO max_app;
GRANT UPDATE (resolved_at, resolved_by, resolution) ON max_alerts TO max_app;
-- The counters follow the alerts a role may change (their trigger runs as that role).
GRANT SELECT, INSERT, UPDATE ON max_alert_counters TO max_app;
