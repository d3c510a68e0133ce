-- Snoozing an alert (docs/alerts.md): "not before Monday". A snoozed alert leaves the active list
-- and the counts until its time comes, then comes back by itself; a person may wake it sooner; an
-- activity that clears its condition still resolves it.
--
-- - Coming back needs no write: the listing and the counts compare `snoozed_until` with the
--   time of the request. The evaluator's pass clears the snoozes whose time has come, so that the
--   history says when each alert came back (`woken`, at the snooze's end, by nobody).
-- - `snoozed_by` is who last snoozed or woke the alert; the API shows it only while snoozed.

ALTER TABLE max_alerts
    ADD COLUMN snoozed_until timestamptz,
    ADD COLUMN snoozed_by text;

GRANT UPDATE (snoozed_until, snoozed_by) ON max_alerts TO max_app;
GRANT UPDATE (snoozed_until, snoozed_by) ON max_alerts TO max_evaluator;

-- The snoozed alerts of a tenant (a few at a time), for the counts and the evaluator's wake-up.
CREATE INDEX max_alerts_snoozed ON max_alerts (tenant_id, snoozed_until)
    WHERE resolved_at IS NULL AND snoozed_until IS NOT NULL;

-- Until when a snooze holds, in its history.
ALTER TABLE max_alert_events ADD COLUMN until timestamptz;

-- The transitions of an update (V10), with snoozing and waking.
CREATE OR REPLACE FUNCTION max_alert_events_changed() RETURNS trigger
LANGUAGE plpgsql SET search_path = public, pg_temp
AS $$
BEGIN
    INSERT INTO max_alert_events
           (tenant_id, alert_id, at, kind, actor, comment, resolution, until, severity, message)
    SELECT e.tenant_id, e.id, e.at, e.kind, e.actor, e.comment, e.resolution, e.until,
           e.severity, e.message
      FROM (SELECT n.tenant_id, n.id, now() AS at, 'reworded' AS kind, NULL::text AS actor,
                   NULL::text AS comment, NULL::text AS resolution, NULL::timestamptz AS until,
                   n.severity, n.message, 1 AS step
              FROM new_rows AS n JOIN old_rows AS o ON o.id = n.id
             WHERE (n.message, n.severity) IS DISTINCT FROM (o.message, o.severity)
            UNION ALL
            SELECT n.tenant_id, n.id, n.escalated_at, 'escalated', NULL, NULL, NULL, NULL,
                   n.severity, n.message, 2
              FROM new_rows AS n JOIN old_rows AS o ON o.id = n.id
             WHERE n.escalated_at IS NOT NULL AND o.escalated_at IS NULL
            UNION ALL
            SELECT n.tenant_id, n.id, n.acknowledged_at, 'acknowledged', n.acknowledged_by,
                   n.acknowledgement, NULL, NULL, n.severity, n.message, 3
              FROM new_rows AS n JOIN old_rows AS o ON o.id = n.id
             WHERE n.acknowledged_at IS NOT NULL AND o.acknowledged_at IS NULL
            UNION ALL
            SELECT n.tenant_id, n.id, now(), 'snoozed', n.snoozed_by, NULL, NULL,
                   n.snoozed_until, n.severity, n.message, 4
              FROM new_rows AS n JOIN old_rows AS o ON o.id = n.id
             WHERE n.snoozed_until IS NOT NULL
               AND n.snoozed_until IS DISTINCT FROM o.snoozed_until
            UNION ALL
            -- Woken by a person before its time (`snoozed_by` says who), or by the time passing
            -- (then at the snooze's end, by nobody).
            SELECT n.tenant_id, n.id, least(now(), o.snoozed_until), 'woken',
                   CASE WHEN o.snoozed_until > now() THEN n.snoozed_by END, NULL, NULL, NULL,
                   n.severity, n.message, 5
              FROM new_rows AS n JOIN old_rows AS o ON o.id = n.id
             WHERE n.snoozed_until IS NULL AND o.snoozed_until IS NOT NULL
               AND n.resolved_at IS NULL
            UNION ALL
            SELECT n.tenant_id, n.id, n.resolved_at, 'resolved', n.resolved_by, NULL,
                   n.resolution, NULL, n.severity, n.message, 6
              FROM new_rows AS n JOIN old_rows AS o ON o.id = n.id
             WHERE n.resolved_at IS NOT NULL AND o.resolved_at IS NULL) AS e
     ORDER BY e.tenant_id, e.id, e.step;
    RETURN NULL;
END
$$;
