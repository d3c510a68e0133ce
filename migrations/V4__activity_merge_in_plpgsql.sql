-- Logging an activity at close to the cost of a plain insert (bench/PROFILE.md, "The write path").
--
-- The insert trigger folded new activities into their leads' summaries once per statement: it
-- collected the statement's rows in a transition table, passed them as an array to
-- max_merge_activities, a LANGUAGE sql function whose statement PostgreSQL planned again at every
-- call, aggregated them per lead, then updated the lead's alerts even when it had none open (an
-- update of no row still runs the alert counters' statement trigger). For the one-row inserts of
-- the API, that cost about nine times the insert itself.
--
-- The trigger is now a row trigger in PL/pgSQL: no transition table (collecting one costs about a
-- quarter of an insert, whatever the trigger does), plans kept for the connection's life, one
-- upsert of the row's lead, and the alerts updated only when the lead has one open. What it keeps
-- is unchanged: the same summary columns with the same rules (the newest of each kind wins,
-- whatever order activities arrive in), alerts cleared at once in the inserting transaction, for
-- COPY and multi-row inserts too (their rows are folded one after the other, at the end of the
-- statement).
--
-- Two things are written differently:
-- - a lead that is already due keeps its due time (`least(next_check_at, now())`) instead of
--   being set to now(): the evaluator looks at it all the same, and the summary's update then
--   leaves `max_lead_states_due` alone, so that PostgreSQL can make it a HOT update (no new index
--   entries) when the page has room, which the fill factor below leaves it;
-- - a statement of many rows locks their leads' summaries in the order of its rows, not sorted:
--   two such statements at once over the same leads in opposite orders can deadlock (PostgreSQL
--   then cancels one, which can be retried). The API inserts one activity per statement.
CREATE OR REPLACE FUNCTION max_lead_activities_merge() RETURNS trigger
LANGUAGE plpgsql SET search_path = public, pg_temp
AS $$
DECLARE
    -- What the activity is to the rules: a touch is an inbound activity or an outbound contact (a
    -- message sent, a call or meeting held); an outcome is a known fate of an outbound message.
    inbound  constant boolean := NEW.direction = 'in';
    contact  constant boolean := NEW.direction = 'out' AND NEW.status IN ('sent', 'completed');
    outcome  constant boolean := NEW.direction = 'out'
                                 AND NEW.status IN ('sent', 'delivered', 'read', 'failed', 'completed');
    touch    constant boolean := inbound OR contact;
    summary  max_lead_states;
BEGIN
    INSERT INTO max_lead_states AS s
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

    -- The alerts this activity clears, if the lead has any open (the rules say which, from the
    -- summary as it now is and this activity's time of each kind).
    IF EXISTS (SELECT FROM max_alerts AS a
                WHERE a.tenant_id = NEW.tenant_id AND a.lead_id = NEW.lead_id
                  AND a.resolved_at IS NULL) THEN
        UPDATE max_alerts AS a
           SET resolved_at = now(), resolution = 'auto'
         WHERE a.tenant_id = NEW.tenant_id AND a.lead_id = NEW.lead_id AND a.resolved_at IS NULL
           AND max_alert_cleared(a.type, a.tenant_id,
                                 summary.last_in_at, summary.last_contact_at, summary.last_touch_at,
                                 summary.last_touch_in, summary.last_outcome_at,
                                 summary.last_outcome_failed,
                                 CASE WHEN inbound THEN NEW.occurred_at END,
                                 CASE WHEN contact THEN NEW.occurred_at END,
                                 CASE WHEN touch THEN NEW.occurred_at END,
                                 CASE WHEN outcome THEN NEW.occurred_at END);
    END IF;
    RETURN NULL;
END
$$;

DROP TRIGGER lead_activities_merge ON lead_activities;
CREATE TRIGGER lead_activities_merge AFTER INSERT ON lead_activities
    FOR EACH ROW EXECUTE FUNCTION max_lead_activities_merge();

-- Nothing calls it any more: the trigger above does its work row by row.
DROP FUNCTION max_merge_activities(lead_activities[]);

-- Room on each page for a summary's new version next to its old one (HOT updates).
ALTER TABLE max_lead_states SET (fillfactor = 85);
