-- M.A.X. Living Alerts: each alert rule in one home.
--
-- Everything about a rule now lives in its home in the code (shared/src/rules/): when it holds, its
-- message, its priority, its defaults, and what clears it when an activity is logged. The database
-- keeps what the code installs from those homes, at each `max-local migrate` where the rules
-- changed: the rows of `max_alert_rule_defaults`, and `max_alert_cleared`, which the activity
-- trigger asks which open alerts new activities clear.

-- Expand, then contract (docs/deploy.md, 6): the previous release's evaluator still calls
-- `max_alert_message` and its `max-local rules` sorts by `priority`, so both stay until a later
-- migration drops them; this release reads neither. The priority is the order in which the code
-- lists the rules, and a rule added by the code has none here.
COMMENT ON FUNCTION max_alert_message(text, text, text, timestamptz, boolean, timestamptz) IS
    'Not used since V3: each rule''s message is in its home (shared/src/rules/). To be dropped.';
ALTER TABLE max_alert_rule_defaults ALTER COLUMN priority DROP NOT NULL;
COMMENT ON COLUMN max_alert_rule_defaults.priority IS
    'Not read since V3: the order of rules::ALL (shared/src/rules/mod.rs) decides. To be dropped.';

-- Whether new activities clear an open alert of type `p_type`: the lead's summary once they are
-- folded in (`last_*`), and the newest of each kind among them (`new_*`). Installed from the rule
-- homes by `max-local migrate` right after this migration; until then, nothing is cleared at
-- ingest (the evaluator still resolves what no longer holds).
CREATE FUNCTION max_alert_cleared(
    p_type text, p_tenant text,
    last_in_at timestamptz, last_contact_at timestamptz, last_touch_at timestamptz,
    last_touch_in boolean, last_outcome_at timestamptz, last_outcome_failed boolean,
    new_in_at timestamptz, new_contact_at timestamptz, new_touch_at timestamptz,
    new_outcome_at timestamptz
) RETURNS boolean
LANGUAGE sql STABLE PARALLEL SAFE
AS $$ SELECT false $$;

-- As in V2, with the clearing asked of the rules instead of written here.
CREATE OR REPLACE FUNCTION max_merge_activities(p_rows lead_activities[]) RETURNS void
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
       AND max_alert_cleared(a.type, a.tenant_id,
                             m.last_in_at, m.last_contact_at, m.last_touch_at, m.last_touch_in,
                             m.last_outcome_at, m.last_outcome_failed,
                             b.last_in_at, b.last_contact_at, b.last_touch_at, b.last_outcome_at)
$$;
