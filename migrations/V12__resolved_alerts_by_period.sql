-- Resolved alerts listed by period (`GET /api/alerts/resolved`, docs/alerts.md): a page of a
-- tenant's resolutions, newest first, read off the history's `resolved` events (each alert has
-- one, at its `resolved_at`), then each alert by primary key.
--
-- The index is on the history, not on `max_alerts`: an index of `max_alerts` led by the tenant and
-- ordered by resolution time would be taken by the evaluator's probe of a lead's last manual
-- resolution whenever statistics are stale, reading every resolved alert of the tenant for each
-- lead (bench/PROFILE.md, "Stale statistics").
CREATE INDEX max_alert_events_resolutions ON max_alert_events (tenant_id, at DESC, alert_id DESC)
    WHERE kind = 'resolved';
