-- The alert lifecycle, first part (docs/alerts.md): a person acknowledges an alert ("I'm on it",
-- with an optional comment), and every transition of every alert is kept in an append-only
-- history.
--
-- - Acknowledging keeps the alert active: it stays listed, counted, and is still marked escalated
--   once a high alert has waited 24 hours unresolved (the checklist's escalation is about
--   alerts left unresolved; acknowledging says who is on it, not that it is dealt with).
-- - The history is written by statement triggers on `max_alerts`, from the rows each statement
--   inserted or changed: raised (an insert), reworded (message or severity changed), escalated,
--   acknowledged, resolved (by a person or a caller, or automatically). Whatever writes an alert
--   (the evaluator, an activity's auto-resolution, the API, an operator) writes its history in
--   the same transaction, and nothing else can: the functions' roles may insert and read it,
--   never change or delete it.

ALTER TABLE max_alerts
    ADD COLUMN acknowledged_at timestamptz,
    -- `user:<id>` or `api-key:<prefix>`, as `resolved_by`.
    ADD COLUMN acknowledged_by text,
    ADD COLUMN acknowledgement text CHECK (char_length(acknowledgement) <= 1000),
    ADD CHECK ((acknowledged_at IS NULL) = (acknowledged_by IS NULL));

GRANT UPDATE (acknowledged_at, acknowledged_by, acknowledgement) ON max_alerts TO max_app;

CREATE TABLE max_alert_events (
    tenant_id  text NOT NULL,
    alert_id   uuid NOT NULL,
    id         bigint GENERATED ALWAYS AS IDENTITY,
    at         timestamptz NOT NULL,
    kind       text NOT NULL CHECK (kind IN (
                   'raised', 'reworded', 'escalated', 'acknowledged', 'snoozed', 'woken', 'resolved')),
    -- Who: `user:<id>` or `api-key:<prefix>`; NULL for the system (the evaluator, an activity).
    actor      text,
    -- An acknowledgement's comment.
    comment    text CHECK (char_length(comment) <= 1000),
    -- A resolution's kind: `manual` or `auto`.
    resolution text CHECK (resolution IN ('manual', 'auto')),
    -- What the alert said and how urgent it was after the transition.
    severity   text NOT NULL,
    message    text NOT NULL,
    PRIMARY KEY (tenant_id, alert_id, id)
);

ALTER TABLE max_alert_events ENABLE ROW LEVEL SECURITY;
ALTER TABLE max_alert_events FORCE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON max_alert_events
    USING (tenant_id = (SELECT max_current_tenant()))
    WITH CHECK (tenant_id = (SELECT max_current_tenant()));
CREATE POLICY evaluator_all_tenants ON max_alert_events TO max_evaluator
    USING (true) WITH CHECK (true);

-- Append-only: read and added to, never changed (no UPDATE or DELETE for the functions' roles).
GRANT SELECT, INSERT ON max_alert_events TO max_app;
GRANT INSERT ON max_alert_events TO max_evaluator;

-- The raised alerts of an insert. Runs as the caller, whose policies say which tenants it may
-- write history for.
CREATE FUNCTION max_alert_events_raised() RETURNS trigger
LANGUAGE plpgsql SET search_path = public, pg_temp
AS $$
BEGIN
    INSERT INTO max_alert_events (tenant_id, alert_id, at, kind, actor, resolution, severity, message)
    SELECT n.tenant_id, n.id, n.created_at, 'raised', NULL, NULL, n.severity, n.message
      FROM new_rows AS n
    UNION ALL
    -- An alert written already resolved (an operator's import) is raised and resolved at once.
    SELECT n.tenant_id, n.id, n.resolved_at, 'resolved', n.resolved_by, n.resolution,
           n.severity, n.message
      FROM new_rows AS n
     WHERE n.resolved_at IS NOT NULL;
    RETURN NULL;
END
$$;

-- The transitions of an update: one event per change, in the order they happened within it.
CREATE FUNCTION max_alert_events_changed() RETURNS trigger
LANGUAGE plpgsql SET search_path = public, pg_temp
AS $$
BEGIN
    INSERT INTO max_alert_events
           (tenant_id, alert_id, at, kind, actor, comment, resolution, severity, message)
    SELECT e.tenant_id, e.id, e.at, e.kind, e.actor, e.comment, e.resolution, e.severity, e.message
      FROM (SELECT n.tenant_id, n.id, now() AS at, 'reworded' AS kind, NULL::text AS actor,
                   NULL::text AS comment, NULL::text AS resolution, n.severity, n.message, 1 AS step
              FROM new_rows AS n JOIN old_rows AS o ON o.id = n.id
             WHERE (n.message, n.severity) IS DISTINCT FROM (o.message, o.severity)
            UNION ALL
            SELECT n.tenant_id, n.id, n.escalated_at, 'escalated', NULL, NULL, NULL,
                   n.severity, n.message, 2
              FROM new_rows AS n JOIN old_rows AS o ON o.id = n.id
             WHERE n.escalated_at IS NOT NULL AND o.escalated_at IS NULL
            UNION ALL
            SELECT n.tenant_id, n.id, n.acknowledged_at, 'acknowledged', n.acknowledged_by,
                   n.acknowledgement, NULL, n.severity, n.message, 3
              FROM new_rows AS n JOIN old_rows AS o ON o.id = n.id
             WHERE n.acknowledged_at IS NOT NULL AND o.acknowledged_at IS NULL
            UNION ALL
            SELECT n.tenant_id, n.id, n.resolved_at, 'resolved', n.resolved_by, NULL,
                   n.resolution, n.severity, n.message, 4
              FROM new_rows AS n JOIN old_rows AS o ON o.id = n.id
             WHERE n.resolved_at IS NOT NULL AND o.resolved_at IS NULL) AS e
     ORDER BY e.tenant_id, e.id, e.step;
    RETURN NULL;
END
$$;

CREATE TRIGGER max_alerts_history_insert AFTER INSERT ON max_alerts
    REFERENCING NEW TABLE AS new_rows
    FOR EACH STATEMENT EXECUTE FUNCTION max_alert_events_raised();
CREATE TRIGGER max_alerts_history_update AFTER UPDATE ON max_alerts
    REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows
    FOR EACH STATEMENT EXECUTE FUNCTION max_alert_events_changed();

-- The alerts that exist already: their history starts with what is known of them.
INSERT INTO max_alert_events (tenant_id, alert_id, at, kind, actor, resolution, severity, message)
SELECT tenant_id, id, created_at, 'raised', NULL, NULL, severity, message FROM max_alerts
UNION ALL
SELECT tenant_id, id, escalated_at, 'escalated', NULL, NULL, severity, message
  FROM max_alerts WHERE escalated_at IS NOT NULL
UNION ALL
SELECT tenant_id, id, resolved_at, 'resolved', resolved_by, resolution, severity, message
  FROM max_alerts WHERE resolved_at IS NOT NULL
ORDER BY 1, 2, 3;
