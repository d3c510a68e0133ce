-- Logging an activity at close to the cost of a plain insert (bench/PROFILE.md, "The write path").
--
-- The insert trigger folded new activities into their leads' summaries by calling
-- max_merge_activities, a LANGUAGE sql function, with an array of the new rows. PostgreSQL plans
-- the statement of such a function again at every call, and planning that statement cost several
-- times the insert itself. A PL/pgSQL function keeps the plan of each of its statements for the
-- connection's life, so the trigger now runs the same statement itself, reading the transition
-- table directly (no array is built and unnested), and it looks for the alerts the new activities
-- clear only when their leads have an open one. What it does is unchanged: one upsert per
-- statement, leads in key order, then the alerts the new activities clear, in the same transaction.
--
-- One thing is written differently: a lead that is already due keeps its due time
-- (`least(next_check_at, now())`) instead of being set to now(). The evaluator looks at it all
-- the same, and the summary's update then leaves `max_lead_states_due` alone, so that PostgreSQL
-- can make it a HOT update (no new index entries) when the page has room, which the fill factor
-- below leaves it.
CREATE OR REPLACE FUNCTION max_lead_activities_merge() RETURNS trigger
LANGUAGE plpgsql SET search_path = public, pg_temp
AS $$
BEGIN
    -- The new activities folded into their leads' summaries: one upsert, leads in key order.
    WITH events AS (
        SELECT e.tenant_id, e.lead_id, e.lead_name, e.channel, e.occurred_at,
               e.direction = 'in' AS inbound,
               e.direction = 'out' AND e.status IN ('sent', 'completed') AS contact,
               e.direction = 'out' AND e.status IN ('sent', 'delivered', 'read', 'failed', 'completed') AS outcome,
               e.status = 'failed' AS failed
          FROM new_rows AS e
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
    )
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
        next_check_at = least(s.next_check_at, now());

    -- Then the alerts the new activities clear, if their leads have any open: most activities
    -- belong to a lead without one, and an update of no row still runs the alert counters'
    -- statement trigger. The summaries read here are the ones just written, which this
    -- transaction holds locked.
    IF EXISTS (SELECT FROM new_rows AS r
                 JOIN max_alerts AS a ON a.tenant_id = r.tenant_id AND a.lead_id = r.lead_id
                WHERE a.resolved_at IS NULL) THEN
        -- The newest of each kind among the new activities (kinds as in `events` above).
        WITH batch AS (
            SELECT tenant_id, lead_id,
                   max(occurred_at) FILTER (WHERE direction = 'in') AS last_in_at,
                   max(occurred_at) FILTER (WHERE direction = 'out' AND status IN ('sent', 'completed')) AS last_contact_at,
                   max(occurred_at) FILTER (WHERE direction = 'in' OR status IN ('sent', 'completed')) AS last_touch_at,
                   max(occurred_at) FILTER (WHERE direction = 'out' AND status IN ('sent', 'delivered', 'read', 'failed', 'completed')) AS last_outcome_at
              FROM new_rows
             GROUP BY tenant_id, lead_id
        )
        UPDATE max_alerts a
           SET resolved_at = now(), resolution = 'auto'
          FROM batch b
          JOIN max_lead_states m ON m.tenant_id = b.tenant_id AND m.lead_id = b.lead_id
         WHERE a.tenant_id = b.tenant_id AND a.lead_id = b.lead_id AND a.resolved_at IS NULL
           AND max_alert_cleared(a.type, a.tenant_id,
                                 m.last_in_at, m.last_contact_at, m.last_touch_at, m.last_touch_in,
                                 m.last_outcome_at, m.last_outcome_failed,
                                 b.last_in_at, b.last_contact_at, b.last_touch_at, b.last_outcome_at);
    END IF;
    RETURN NULL;
END
$$;

-- Nothing calls it any more: the trigger above holds its statement.
DROP FUNCTION max_merge_activities(lead_activities[]);

-- Room on each page for a summary's new version next to its old one (HOT updates).
ALTER TABLE max_lead_states SET (fillfactor = 85);
