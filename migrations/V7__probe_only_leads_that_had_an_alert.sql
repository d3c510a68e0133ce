-- Only a lead that had an alert is probed for open ones (bench/PROFILE.md, "A mark on the leads
-- that had an alert").
--
-- Every logged activity asked `max_alerts` whether its lead had an alert open (an index probe
-- and a statement's start: 50,000 instructions, a tenth of the activity's cost), and the
-- evaluator asked twice for every due lead (its open alerts, and when a person last resolved
-- one: 80 ms of each batch of 20,000 leads). Most leads never had an alert. The lead's summary
-- now says whether one was ever written for it (`alerted`, never cleared: an alert resolved by a
-- person still holds the lead's next alert back):
-- - the evaluator sets it in the same update that reschedules the lead it raised an alert for;
-- - any other insert into `max_alerts` (an operator's, a test's) sets it with a statement trigger
--   over the inserted rows, which the evaluator's batches skip (`max.evaluator_marks_leads`);
-- - a lead's first activity creates its summary unmarked: that activity probes anyway (an alert
--   written before a lead had any activity had no summary to mark).
-- The activity trigger and the evaluator probe only marked leads.

ALTER TABLE max_lead_states ADD COLUMN alerted boolean NOT NULL DEFAULT false;
GRANT UPDATE (alerted) ON max_lead_states TO max_evaluator;

-- The leads that have an alert open or resolved by a person (an alert resolved automatically
-- holds nothing back and needs no probe).
UPDATE max_lead_states AS s SET alerted = true
  FROM (SELECT DISTINCT tenant_id, lead_id FROM max_alerts
         WHERE resolved_at IS NULL OR resolution = 'manual') AS a
 WHERE s.tenant_id = a.tenant_id AND s.lead_id = a.lead_id;

-- Marks the leads of alerts written by anything but the evaluator (which marks its own).
CREATE FUNCTION max_alerts_mark_leads() RETURNS trigger
LANGUAGE plpgsql
AS $$
BEGIN
    UPDATE public.max_lead_states AS s SET alerted = true
      FROM (SELECT DISTINCT n.tenant_id, n.lead_id FROM new_rows AS n) AS n
     WHERE s.tenant_id = n.tenant_id AND s.lead_id = n.lead_id AND NOT s.alerted;
    RETURN NULL;
END
$$;

CREATE TRIGGER max_alerts_mark_leads AFTER INSERT ON max_alerts
    REFERENCING NEW TABLE AS new_rows
    FOR EACH STATEMENT
    WHEN (current_setting('max.evaluator_marks_leads', true) IS DISTINCT FROM 'on')
    EXECUTE FUNCTION max_alerts_mark_leads();

-- The activity trigger: the V5 body, probing only a marked lead or one this activity created.
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
    -- The lead's summary as this activity leaves it, and whether this activity created it.
    summary  record;
    merged   boolean := false;
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
        RETURNING s.*, false AS created INTO summary;
        merged := FOUND;
    END IF;
    IF NOT merged THEN
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
        RETURNING s.*, s.xmax = 0 AS created INTO summary;
    END IF;

    -- The alerts this activity clears, if the lead has any open (the rules say which, from the
    -- summary as it now is and this activity's time of each kind). Only a lead that had an alert
    -- can have one open: one the evaluator raised an alert for, or one an alert was written for
    -- otherwise (`max_alerts_mark_leads`), and a lead whose summary this activity created (an
    -- alert written before the lead's first activity had no summary to mark).
    IF summary.alerted OR summary.created THEN
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
    END IF;
    RETURN NULL;
END
$$;
