-- M.A.X. Living Alerts: the alert evaluator.
--
-- Alerts are raised by rules over a per-lead summary (`max_lead_states`) that every activity insert
-- keeps up to date, in the same transaction. The evaluator (role `max_evaluator`) looks only at
-- leads whose situation may have changed: each lead carries `next_check_at`, the next moment a rule
-- threshold is crossed or an alert message changes, and an activity sets it to now. A pass with
-- nothing new is one empty index range scan, whatever the number of leads.

DO $$
BEGIN
    CREATE ROLE max_evaluator NOLOGIN NOSUPERUSER NOBYPASSRLS NOCREATEDB NOCREATEROLE;
EXCEPTION
    WHEN duplicate_object OR unique_violation THEN NULL;
END
$$;

DO $$
BEGIN
    IF NOT pg_has_role(current_user, 'max_evaluator', 'MEMBER') THEN
        EXECUTE format('GRANT max_evaluator TO %I', current_user);
    END IF;
END
$$;

GRANT USAGE ON SCHEMA public TO max_evaluator;

-- Rules -----------------------------------------------------------------------------------------

-- The four rules and their defaults. `priority` decides which rule wins when several hold for a
-- lead (1 wins): one situation, one alert.
CREATE TABLE max_alert_rule_defaults (
    rule         text PRIMARY KEY,
    priority     smallint NOT NULL UNIQUE,
    enabled      boolean NOT NULL,
    threshold    interval NOT NULL CHECK (threshold >= interval '0'),
    severity     text NOT NULL CHECK (severity IN ('high', 'medium', 'low')),
    action_label text NOT NULL,
    action       text NOT NULL,
    description  text NOT NULL
);

INSERT INTO max_alert_rule_defaults VALUES
    ('UnansweredInbound', 1, true, '4 hours', 'high', 'Répondre au lead', 'reply',
     'the lead''s latest message or call is inbound and older than the threshold'),
    ('DeliveryFailed', 2, true, '0', 'high', 'Vérifier le numéro du lead', 'check_contact',
     'the latest outbound message failed'),
    ('NoContact7d', 3, true, '7 days', 'high', 'Relancer le lead', 'follow_up',
     'no outbound contact for the threshold, or never since the lead first appeared'),
    ('NoReply3d', 4, true, '3 days', 'medium', 'Relancer par un autre canal', 'switch_channel',
     'our latest outbound contact got no inbound reply for the threshold');

-- Per-tenant overrides; a NULL column keeps the default.
CREATE TABLE max_alert_rules (
    tenant_id  text NOT NULL,
    rule       text NOT NULL REFERENCES max_alert_rule_defaults (rule),
    enabled    boolean,
    threshold  interval CHECK (threshold >= interval '0'),
    severity   text CHECK (severity IN ('high', 'medium', 'low')),
    updated_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (tenant_id, rule)
);

-- A tenant's threshold for a rule.
CREATE FUNCTION max_rule_threshold(p_tenant text, p_rule text) RETURNS interval
LANGUAGE sql STABLE PARALLEL SAFE
AS $$
    SELECT coalesce(o.threshold, d.threshold)
      FROM max_alert_rule_defaults d
      LEFT JOIN max_alert_rules o ON o.tenant_id = p_tenant AND o.rule = d.rule
     WHERE d.rule = p_rule
$$;

-- Per-lead summary -------------------------------------------------------------------------------

-- What the rules need to know about a lead, by the time things happened (`occurred_at`):
-- a touch is an inbound activity or an outbound contact (a message sent, a call or meeting held);
-- an outcome is the latest known fate of an outbound message (sent, delivered, read, failed).
CREATE TABLE max_lead_states (
    tenant_id            text NOT NULL,
    lead_id              text NOT NULL,
    lead_name            text,
    first_seen_at        timestamptz NOT NULL,
    last_in_at           timestamptz,
    last_contact_at      timestamptz,
    last_contact_channel text,
    last_touch_at        timestamptz,
    last_touch_in        boolean,
    last_touch_channel   text,
    last_outcome_at      timestamptz,
    last_outcome_failed  boolean,
    last_outcome_channel text,
    -- When the evaluator must look at this lead again; NULL: not until its next activity.
    next_check_at        timestamptz,
    PRIMARY KEY (tenant_id, lead_id)
);

-- The evaluator's work list, across tenants.
CREATE INDEX max_lead_states_due ON max_lead_states (next_check_at) WHERE next_check_at IS NOT NULL;

-- Escalation candidates: open high alerts not yet escalated, oldest first.
CREATE INDEX max_alerts_to_escalate ON max_alerts (created_at)
    WHERE resolved_at IS NULL AND severity = 'high' AND escalated_at IS NULL;

-- Folds new activities into their leads' summaries, then resolves at once the alerts they clear:
-- an outbound contact clears NoContact7d, NoReply3d and UnansweredInbound, an inbound reply clears
-- NoReply3d, a sent, delivered or read message clears DeliveryFailed. Only an activity that is now
-- the newest of its kind clears anything, and NoContact7d / NoReply3d only while it is within
-- the rule's threshold: back-filled history is left to the evaluator. Called by the insert trigger
-- of `lead_activities` (set-wise: one upsert per statement) and by the backfill below.
CREATE FUNCTION max_merge_activities(p_rows lead_activities[]) RETURNS void
LANGUAGE sql SET search_path = public, pg_temp
AS $$
    WITH events AS (
        SELECT e.tenant_id, e.lead_id, e.lead_name, e.channel, e.occurred_at,
               e.direction = 'in' AS inbound,
               e.direction = 'out' AND e.status IN ('sent', 'completed') AS contact,
               e.direction = 'out' AND e.status IN ('sent', 'delivered', 'read', 'failed', 'completed') AS outcome,
               e.status = 'failed' AS failed
          FROM unnest(p_rows) AS e
    ), batch AS (
        SELECT tenant_id, lead_id,
               (array_agg(lead_name ORDER BY occurred_at DESC) FILTER (WHERE lead_name IS NOT NULL))[1] AS lead_name,
               min(occurred_at) AS first_seen_at,
               max(occurred_at) FILTER (WHERE inbound) AS last_in_at,
               max(occurred_at) FILTER (WHERE contact) AS last_contact_at,
               (array_agg(channel ORDER BY occurred_at DESC) FILTER (WHERE contact))[1] AS last_contact_channel,
               max(occurred_at) FILTER (WHERE inbound OR contact) AS last_touch_at,
               (array_agg(inbound ORDER BY occurred_at DESC) FILTER (WHERE inbound OR contact))[1] AS last_touch_in,
               (array_agg(channel ORDER BY occurred_at DESC) FILTER (WHERE inbound OR contact))[1] AS last_touch_channel,
               max(occurred_at) FILTER (WHERE outcome) AS last_outcome_at,
               (array_agg(failed ORDER BY occurred_at DESC) FILTER (WHERE outcome))[1] AS last_outcome_failed,
               (array_agg(channel ORDER BY occurred_at DESC) FILTER (WHERE outcome))[1] AS last_outcome_channel
          FROM events
         GROUP BY tenant_id, lead_id
    ), merged AS (
        INSERT INTO max_lead_states AS s
               (tenant_id, lead_id, lead_name, first_seen_at, last_in_at, last_contact_at,
                last_contact_channel, last_touch_at, last_touch_in, last_touch_channel,
                last_outcome_at, last_outcome_failed, last_outcome_channel, next_check_at)
        SELECT tenant_id, lead_id, lead_name, first_seen_at, last_in_at, last_contact_at,
               last_contact_channel, last_touch_at, last_touch_in, last_touch_channel,
               last_outcome_at, last_outcome_failed, last_outcome_channel, now()
          FROM batch
         ORDER BY tenant_id, lead_id
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
            next_check_at = now()
        RETURNING s.tenant_id, s.lead_id, s.last_in_at, s.last_contact_at, s.last_touch_at,
                  s.last_touch_in, s.last_outcome_at, s.last_outcome_failed
    )
    UPDATE max_alerts a
       SET resolved_at = now(), resolution = 'auto'
      FROM merged m
      JOIN batch b ON b.tenant_id = m.tenant_id AND b.lead_id = m.lead_id
     WHERE a.tenant_id = m.tenant_id AND a.lead_id = m.lead_id AND a.resolved_at IS NULL
       AND CASE a.type
           WHEN 'UnansweredInbound' THEN
               m.last_touch_at = b.last_touch_at AND NOT m.last_touch_in
           WHEN 'DeliveryFailed' THEN
               m.last_outcome_at = b.last_outcome_at AND NOT m.last_outcome_failed
           WHEN 'NoContact7d' THEN
               m.last_contact_at = b.last_contact_at
               AND m.last_contact_at > now() - max_rule_threshold(a.tenant_id, 'NoContact7d')
           WHEN 'NoReply3d' THEN
               (m.last_contact_at = b.last_contact_at
                AND m.last_contact_at > now() - max_rule_threshold(a.tenant_id, 'NoReply3d'))
               OR (m.last_in_at = b.last_in_at AND m.last_in_at >= m.last_contact_at)
           ELSE false
           END
$$;

CREATE FUNCTION max_lead_activities_merge() RETURNS trigger
LANGUAGE plpgsql SET search_path = public, pg_temp
AS $$
BEGIN
    PERFORM max_merge_activities(ARRAY(SELECT r::lead_activities FROM new_rows AS r));
    RETURN NULL;
END
$$;

CREATE TRIGGER lead_activities_merge AFTER INSERT ON lead_activities
    REFERENCING NEW TABLE AS new_rows
    FOR EACH STATEMENT EXECUTE FUNCTION max_lead_activities_merge();

-- Activities logged before this migration.
SELECT max_merge_activities(ARRAY(SELECT a FROM lead_activities AS a));

-- Living messages ------------------------------------------------------------------------------

-- "3 jours", "1 heure", "12 minutes": the time since `p_from`, in its largest whole unit.
-- Plain expressions (no FROM), so that PostgreSQL inlines them into the evaluator's statement.
CREATE FUNCTION max_duration_fr(p_from timestamptz, p_now timestamptz) RETURNS text
LANGUAGE sql STABLE PARALLEL SAFE
AS $$
    SELECT CASE
        WHEN extract(epoch FROM p_now - p_from) >= 86400 THEN
            floor(extract(epoch FROM p_now - p_from) / 86400)::bigint
            || CASE WHEN extract(epoch FROM p_now - p_from) < 2 * 86400 THEN ' jour' ELSE ' jours' END
        WHEN extract(epoch FROM p_now - p_from) >= 3600 THEN
            floor(extract(epoch FROM p_now - p_from) / 3600)::bigint
            || CASE WHEN extract(epoch FROM p_now - p_from) < 2 * 3600 THEN ' heure' ELSE ' heures' END
        ELSE
            greatest(floor(extract(epoch FROM p_now - p_from) / 60), 1)::bigint
            || CASE WHEN extract(epoch FROM p_now - p_from) < 2 * 60 THEN ' minute' ELSE ' minutes' END
    END
$$;

-- When `max_duration_fr(p_from, ...)` next reads differently (whole units of elapsed seconds, so
-- no time zone is involved).
CREATE FUNCTION max_duration_fr_changes_at(p_from timestamptz, p_now timestamptz) RETURNS timestamptz
LANGUAGE sql STABLE PARALLEL SAFE
AS $$
    SELECT p_from + make_interval(secs => CASE
        WHEN extract(epoch FROM p_now - p_from) >= 86400 THEN
            (floor(extract(epoch FROM p_now - p_from) / 86400) + 1) * 86400
        WHEN extract(epoch FROM p_now - p_from) >= 3600 THEN
            (floor(extract(epoch FROM p_now - p_from) / 3600) + 1) * 3600
        ELSE
            (greatest(floor(extract(epoch FROM p_now - p_from) / 60), 1) + 1) * 60
    END)
$$;

-- The message of an alert: French, human and concrete ("Aucun contact depuis 9 jours").
CREATE FUNCTION max_alert_message(
    p_rule text, p_lead_name text, p_channel text, p_since timestamptz, p_contacted boolean,
    p_now timestamptz
) RETURNS text
LANGUAGE sql STABLE PARALLEL SAFE
AS $$
    SELECT CASE p_rule
        WHEN 'NoContact7d' THEN
            CASE
                WHEN p_contacted THEN
                    'Aucun contact' || coalesce(' avec ' || p_lead_name, '') || ' depuis '
                    || max_duration_fr(p_since, p_now)
                WHEN p_lead_name IS NOT NULL THEN
                    p_lead_name || ' attend un premier contact depuis ' || max_duration_fr(p_since, p_now)
                ELSE 'Jamais contacté depuis ' || max_duration_fr(p_since, p_now)
            END
        WHEN 'UnansweredInbound' THEN
            coalesce(p_lead_name, 'Le lead')
            || CASE p_channel WHEN 'call' THEN ' a appelé' WHEN 'meeting' THEN ' a demandé un rendez-vous' ELSE ' a écrit' END
            || ' il y a ' || max_duration_fr(p_since, p_now) || ', sans réponse'
        WHEN 'NoReply3d' THEN
            coalesce(p_lead_name, 'Le lead') || ' n''a pas répondu depuis '
            || max_duration_fr(p_since, p_now) || '. Peut-être essayer '
            || CASE p_channel WHEN 'whatsapp' THEN 'un appel' ELSE 'WhatsApp' END || ' ?'
        WHEN 'DeliveryFailed' THEN
            CASE p_channel
                WHEN 'whatsapp' THEN 'Le dernier message WhatsApp'
                WHEN 'sms' THEN 'Le dernier SMS'
                WHEN 'email' THEN 'Le dernier e-mail'
                ELSE 'Le dernier message'
            END
            || coalesce(' à ' || p_lead_name, '') || ' n''a pas été délivré'
    END
$$;

-- Row Level Security and privileges --------------------------------------------------------------

ALTER TABLE max_lead_states ENABLE ROW LEVEL SECURITY;
ALTER TABLE max_lead_states FORCE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON max_lead_states
    USING (tenant_id = (SELECT max_current_tenant()))
    WITH CHECK (tenant_id = (SELECT max_current_tenant()));

ALTER TABLE max_alert_rules ENABLE ROW LEVEL SECURITY;
ALTER TABLE max_alert_rules FORCE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON max_alert_rules
    USING (tenant_id = (SELECT max_current_tenant()))
    WITH CHECK (tenant_id = (SELECT max_current_tenant()));

-- The evaluator works across tenants by design, and only it: these policies name its role alone.
CREATE POLICY evaluator_all_tenants ON max_lead_states TO max_evaluator USING (true) WITH CHECK (true);
CREATE POLICY evaluator_all_tenants ON max_alerts TO max_evaluator USING (true) WITH CHECK (true);
CREATE POLICY evaluator_all_tenants ON max_alert_counters TO max_evaluator USING (true) WITH CHECK (true);
CREATE POLICY evaluator_all_tenants ON max_alert_rules TO max_evaluator USING (true);

-- The functions' role: its inserts fold into summaries and may resolve its own tenant's alerts.
GRANT SELECT, INSERT, UPDATE ON max_lead_states TO max_app;
GRANT SELECT ON max_alert_rule_defaults, max_alert_rules TO max_app;

GRANT SELECT ON max_lead_states, max_alert_rule_defaults, max_alert_rules TO max_evaluator;
GRANT UPDATE (next_check_at) ON max_lead_states TO max_evaluator;
GRANT SELECT, INSERT ON max_alerts TO max_evaluator;
GRANT UPDATE (message, severity, lead_name, resolved_at, resolution, escalated_at) ON max_alerts TO max_evaluator;
GRANT SELECT, INSERT, UPDATE ON max_alert_counters TO max_evaluator;
