-- Alert messages in the reader's language (docs/alerts.md, "Languages"): the evaluator writes each
-- alert's message in English (`message_en`) beside the French one (`message`, the seed's
-- language and the default), from the same facts and at the same moments; the API answers the
-- one the caller asks for (`Accept-Language` or `lang`). An alert written by someone else (an
-- operator's, another system's) has no English message: it is answered in French.

ALTER TABLE max_alerts ADD COLUMN message_en text;
GRANT UPDATE (message_en) ON max_alerts TO max_evaluator;

-- "3 days", "1 hour", "12 minutes": `max_duration_fr` in English (the same units, so that both
-- change wording at the same moments: `max_duration_fr_changes_at`).
CREATE FUNCTION max_duration_en(p_from timestamptz, p_now timestamptz) RETURNS text
LANGUAGE sql STABLE PARALLEL SAFE
AS $$
    SELECT CASE
        WHEN extract(epoch FROM p_now - p_from) >= 86400 THEN
            floor(extract(epoch FROM p_now - p_from) / 86400)::bigint
            || CASE WHEN extract(epoch FROM p_now - p_from) < 2 * 86400 THEN ' day' ELSE ' days' END
        WHEN extract(epoch FROM p_now - p_from) >= 3600 THEN
            floor(extract(epoch FROM p_now - p_from) / 3600)::bigint
            || CASE WHEN extract(epoch FROM p_now - p_from) < 2 * 3600 THEN ' hour' ELSE ' hours' END
        ELSE
            greatest(floor(extract(epoch FROM p_now - p_from) / 60), 1)::bigint
            || CASE WHEN extract(epoch FROM p_now - p_from) < 2 * 60 THEN ' minute' ELSE ' minutes' END
    END
$$;

-- The open alerts written before this migration get their English message at the evaluator's
-- next pass: their leads are due now.
UPDATE max_lead_states AS s
   SET next_check_at = now()
 WHERE s.next_check_at > now()
   AND EXISTS (SELECT FROM max_alerts AS a
                WHERE a.tenant_id = s.tenant_id AND a.lead_id = s.lead_id AND a.resolved_at IS NULL);
