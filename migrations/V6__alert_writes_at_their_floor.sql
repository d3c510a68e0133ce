-- Fewer index writes per raised alert (bench/PROFILE.md, "The evaluator's writes").
--
-- `idx_max_alerts_tenant_lead` indexed every alert by (tenant, lead): one more B-tree entry for
-- every alert the evaluator raises (a full pass over a million leads raises close to a million)
-- and for every resolution, open or closed alike. What reads a lead's alerts by (tenant, lead)
-- asks one of two questions, each with an index of its own:
-- - the lead's open alerts (the evaluator's probe, the activity trigger's, a lead's page of the
--   widget): `idx_max_alerts_unique_active`, (tenant, lead, type) of the open alerts, already
--   written for every raised alert;
-- - when a person last resolved an alert of a type for the lead (the evaluator's hold-back):
--   now `idx_max_alerts_tenant_lead`, the same name (the client's checklist names it), over the
--   alerts a person resolved only, with the resolution's time: a raised or automatically resolved
--   alert writes nothing to it, and the evaluator reads the newest time off its end.
--
-- A raised alert now writes three B-trees (four when high: `max_alerts_to_escalate`) instead of
-- four (five). The index is built from the manually resolved alerts alone: a short lock.

DROP INDEX idx_max_alerts_tenant_lead;

CREATE INDEX idx_max_alerts_tenant_lead ON max_alerts (tenant_id, lead_id, type, resolved_at)
    WHERE resolution = 'manual';

-- Without `idx_max_alerts_tenant_lead` on every alert, a lead's open alerts (`tenant_id = ... AND
-- lead_id = ... AND resolved_at IS NULL`) have one index that fits them, the unique one; but they
-- also implied the predicate of the listing's index, led by the tenant alone, and with stale
-- statistics the planner took that one (all of a tenant's open alerts read for every lead:
-- shared/tests/stale_statistics.rs). The listing's index now says "open" with both columns (the
-- table's check makes them the same): only a statement that says so too can take it, and the
-- listing does; a lead's probe and the evaluator's update by id (`resolution IS NULL`) cannot.
DROP INDEX max_alerts_active_by_urgency;

CREATE INDEX max_alerts_active_by_urgency
    ON max_alerts (tenant_id, severity_rank, not_escalated, created_at, id)
    WHERE resolved_at IS NULL AND resolution IS NULL;
