-- The alerts' metrics (docs/alerts.md, "Metrics"): per tenant and per day, how many alerts were
-- raised, escalated, acknowledged, resolved by a person or automatically, how many were still open
-- at the end of the day, how long they waited to be acknowledged and resolved, and how many of a
-- day's alerts were resolved within 24 hours; and which users opened the widget each day.
--
-- - Kept as things happen, in small daily roll-ups: statement triggers on `max_alerts` add what
--   each statement changed to the rows of its days (`max_alert_days`, one per tenant, day, rule
--   and severity, with the histograms of its waiting times), whoever writes (the evaluator, an
--   activity's auto-resolution, the API, an operator). A month's metrics read a month of
--   roll-ups, never the history: about a hundred rows, whatever the tenant's number of alerts.
-- - A day is the tenant's (`max_tenants.time_zone`, Europe/Paris unless set otherwise); the
--   rows already written keep the days they were counted in if the zone changes.
-- - `opened` is what the day added to the open alerts (raised, less resolved, and the moves
--   between severities when a rule's severity changes): the alerts open at the end of a day are
--   the sum of `opened` over that day and every day before it.
-- - Waiting times are counted in buckets of an eighth of a doubling (bucket b holds the times
--   from 2^(b/8) to 2^((b+1)/8) seconds, 9 % apart; `*_times[b + 1]` counts them): a median or a
--   90th percentile read from them is exact to within 10 % (interpolated inside its bucket);
--   means are exact (`*_seconds` are sums).
-- - Roll-up rows are keyed by day, rule and severity: two writers of the same tenant, day, rule
--   and severity take turns on that row for the rest of their (short) transactions. Each
--   statement writes its rows in key order, so that writers cannot deadlock on them.

ALTER TABLE max_tenants
    ADD COLUMN time_zone text NOT NULL DEFAULT 'Europe/Paris'
        -- An unknown zone is refused ("time zone ... not recognized").
        CHECK (timestamptz '2000-01-01 00:00Z' AT TIME ZONE time_zone IS NOT NULL);

GRANT SELECT (id, time_zone) ON max_tenants TO max_app, max_evaluator;
CREATE POLICY evaluator_all_tenants ON max_tenants TO max_evaluator USING (true);

CREATE TABLE max_alert_days (
    tenant_id           text NOT NULL,
    day                 date NOT NULL,
    type                text NOT NULL,
    severity            text NOT NULL,
    raised              integer NOT NULL DEFAULT 0,
    escalated           integer NOT NULL DEFAULT 0,
    acknowledged        integer NOT NULL DEFAULT 0,
    resolved_manual     integer NOT NULL DEFAULT 0,
    resolved_auto       integer NOT NULL DEFAULT 0,
    -- Of the alerts raised this day, those resolved within 24 hours of being raised.
    resolved_within_24h integer NOT NULL DEFAULT 0,
    -- What this day added to the open alerts (see above).
    opened              integer NOT NULL DEFAULT 0,
    -- The sums of the waiting times of the day's acknowledgements and resolutions.
    acknowledge_seconds double precision NOT NULL DEFAULT 0,
    resolve_seconds     double precision NOT NULL DEFAULT 0,
    -- Their histograms (see above).
    acknowledge_times   integer[] NOT NULL DEFAULT '{}',
    resolve_times       integer[] NOT NULL DEFAULT '{}',
    PRIMARY KEY (tenant_id, day, type, severity)
);

-- The users who opened the widget (read the active alerts with their own token), once a day each.
CREATE TABLE max_widget_visits (
    tenant_id text NOT NULL,
    day       date NOT NULL,
    user_id   text NOT NULL,
    PRIMARY KEY (tenant_id, day, user_id)
);

ALTER TABLE max_alert_days ENABLE ROW LEVEL SECURITY;
ALTER TABLE max_alert_days FORCE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON max_alert_days
    USING (tenant_id = max_current_tenant()) WITH CHECK (tenant_id = max_current_tenant());
CREATE POLICY evaluator_all_tenants ON max_alert_days TO max_evaluator USING (true) WITH CHECK (true);

ALTER TABLE max_widget_visits ENABLE ROW LEVEL SECURITY;
ALTER TABLE max_widget_visits FORCE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON max_widget_visits
    USING (tenant_id = max_current_tenant()) WITH CHECK (tenant_id = max_current_tenant());

GRANT SELECT, INSERT, UPDATE ON max_alert_days TO max_app, max_evaluator;
GRANT SELECT, INSERT ON max_widget_visits TO max_app;

-- A tenant's time zone; the default one for a tenant without a row (alerts written for a tenant
-- before it was created, as tests and imports do).
CREATE FUNCTION max_tenant_time_zone(p_tenant text) RETURNS text
LANGUAGE sql STABLE SET search_path = public, pg_temp
RETURN coalesce((SELECT time_zone FROM max_tenants WHERE id = p_tenant), 'Europe/Paris');

-- The bucket of a waiting time (see above).
CREATE FUNCTION max_time_bucket(seconds double precision) RETURNS smallint
LANGUAGE sql IMMUTABLE PARALLEL SAFE
RETURN floor(8 * ln(greatest(seconds, 1)) / ln(2))::smallint;

-- The histogram of a list of buckets: element b + 1 counts bucket b's.
CREATE FUNCTION max_histogram(buckets smallint[]) RETURNS integer[]
LANGUAGE sql IMMUTABLE PARALLEL SAFE
AS $$
    SELECT coalesce(array_agg(coalesce(c.n, 0) ORDER BY i), '{}')
      FROM generate_series(0, (SELECT max(b) FROM unnest(buckets) AS b)) AS i
      LEFT JOIN (SELECT b, count(*)::integer AS n FROM unnest(buckets) AS b GROUP BY b) AS c
        ON c.b = i
$$;

-- Two histograms added up.
CREATE FUNCTION max_add_counts(a integer[], b integer[]) RETURNS integer[]
LANGUAGE sql IMMUTABLE PARALLEL SAFE
AS $$
    SELECT CASE WHEN cardinality(b) = 0 THEN a
                WHEN cardinality(a) = 0 THEN b
                ELSE (SELECT array_agg(coalesce(a[i], 0) + coalesce(b[i], 0) ORDER BY i)
                        FROM generate_series(1, greatest(cardinality(a), cardinality(b))) AS i)
           END
$$;

-- What one change of an alert adds to its days: `o` the alert before (NULL for an insert), `n`
-- after. One row per fact, at the time it happened; `measure` and `seconds` for a waiting time.
CREATE TYPE max_alert_fact AS (
    tenant_id   text,
    type        text,
    severity    text,
    at          timestamptz,
    raised      integer,
    escalated   integer,
    acknowledged integer,
    manual      integer,
    auto        integer,
    within_24h  integer,
    opened      integer,
    measure     text,
    seconds     double precision
);

CREATE FUNCTION max_alert_day_facts(o max_alerts, n max_alerts) RETURNS SETOF max_alert_fact
LANGUAGE sql STABLE
AS $$
    SELECT n.tenant_id, n.type, n.severity, n.created_at, 1, 0, 0, 0, 0, 0, 1, NULL::text,
           NULL::double precision
     WHERE o.id IS NULL
    UNION ALL
    SELECT n.tenant_id, n.type, n.severity, n.escalated_at, 0, 1, 0, 0, 0, 0, 0, NULL, NULL
     WHERE n.escalated_at IS NOT NULL AND o.escalated_at IS NULL
    UNION ALL
    SELECT n.tenant_id, n.type, n.severity, n.acknowledged_at, 0, 0, 1, 0, 0, 0, 0, 'acknowledge',
           greatest(extract(epoch FROM n.acknowledged_at - n.created_at), 0)::double precision
     WHERE n.acknowledged_at IS NOT NULL AND o.acknowledged_at IS NULL
    UNION ALL
    SELECT n.tenant_id, n.type, n.severity, n.resolved_at, 0, 0, 0,
           (n.resolution = 'manual')::integer, (n.resolution = 'auto')::integer, 0, -1, 'resolve',
           greatest(extract(epoch FROM n.resolved_at - n.created_at), 0)::double precision
     WHERE n.resolved_at IS NOT NULL AND o.resolved_at IS NULL
    UNION ALL
    -- Counted on the day it was raised.
    SELECT n.tenant_id, n.type, n.severity, n.created_at, 0, 0, 0, 0, 0, 1, 0, NULL, NULL
     WHERE n.resolved_at IS NOT NULL AND o.resolved_at IS NULL
       AND n.resolved_at <= n.created_at + interval '24 hours'
    UNION ALL
    -- An open alert whose severity changed moves to its new severity.
    SELECT n.tenant_id, n.type, s.severity, now(), 0, 0, 0, 0, 0, 0, s.opened, NULL, NULL
      FROM (VALUES (o.severity, -1), (n.severity, 1)) AS s (severity, opened)
     WHERE o.id IS NOT NULL AND o.resolved_at IS NULL AND o.severity <> n.severity
$$;

-- Adds facts to their days' roll-ups. Runs as the caller, whose policies say which tenants it may
-- count for.
CREATE FUNCTION max_alert_days_add(facts max_alert_fact[]) RETURNS void
LANGUAGE sql SET search_path = public, pg_temp
AS $$
    WITH zones AS (
        SELECT tenant_id, max_tenant_time_zone(tenant_id) AS zone
          FROM (SELECT DISTINCT tenant_id FROM unnest(facts)) AS tenants
    ),
    f AS MATERIALIZED (
        SELECT f.*, (f.at AT TIME ZONE z.zone)::date AS day
          FROM unnest(facts) AS f JOIN zones AS z USING (tenant_id)
    )
    INSERT INTO max_alert_days AS d
           (tenant_id, day, type, severity, raised, escalated, acknowledged, resolved_manual,
            resolved_auto, resolved_within_24h, opened, acknowledge_seconds, resolve_seconds,
            acknowledge_times, resolve_times)
    SELECT tenant_id, day, type, severity, sum(raised), sum(escalated), sum(acknowledged),
           sum(manual), sum(auto), sum(within_24h), sum(opened),
           coalesce(sum(seconds) FILTER (WHERE measure = 'acknowledge'), 0),
           coalesce(sum(seconds) FILTER (WHERE measure = 'resolve'), 0),
           max_histogram(coalesce(array_agg(max_time_bucket(seconds))
                                  FILTER (WHERE measure = 'acknowledge'), '{}')),
           max_histogram(coalesce(array_agg(max_time_bucket(seconds))
                                  FILTER (WHERE measure = 'resolve'), '{}'))
      FROM f
     GROUP BY tenant_id, day, type, severity
     ORDER BY tenant_id, day, type, severity
    ON CONFLICT (tenant_id, day, type, severity) DO UPDATE
       SET raised = d.raised + excluded.raised,
           escalated = d.escalated + excluded.escalated,
           acknowledged = d.acknowledged + excluded.acknowledged,
           resolved_manual = d.resolved_manual + excluded.resolved_manual,
           resolved_auto = d.resolved_auto + excluded.resolved_auto,
           resolved_within_24h = d.resolved_within_24h + excluded.resolved_within_24h,
           opened = d.opened + excluded.opened,
           acknowledge_seconds = d.acknowledge_seconds + excluded.acknowledge_seconds,
           resolve_seconds = d.resolve_seconds + excluded.resolve_seconds,
           acknowledge_times = max_add_counts(d.acknowledge_times, excluded.acknowledge_times),
           resolve_times = max_add_counts(d.resolve_times, excluded.resolve_times);
$$;

CREATE FUNCTION max_alert_days_raised() RETURNS trigger
LANGUAGE plpgsql SET search_path = public, pg_temp
AS $$
BEGIN
    PERFORM max_alert_days_add(ARRAY(
        SELECT f FROM new_rows AS n, max_alert_day_facts(NULL, n) AS f));
    RETURN NULL;
END
$$;

CREATE FUNCTION max_alert_days_changed() RETURNS trigger
LANGUAGE plpgsql SET search_path = public, pg_temp
AS $$
DECLARE
    facts max_alert_fact[] := ARRAY(
        SELECT f FROM new_rows AS n JOIN old_rows AS o ON o.id = n.id,
                      max_alert_day_facts(o, n) AS f);
BEGIN
    -- Most updates (rewording, snoozing) add nothing.
    IF cardinality(facts) > 0 THEN
        PERFORM max_alert_days_add(facts);
    END IF;
    RETURN NULL;
END
$$;

CREATE TRIGGER max_alerts_days_insert AFTER INSERT ON max_alerts
    REFERENCING NEW TABLE AS new_rows
    FOR EACH STATEMENT EXECUTE FUNCTION max_alert_days_raised();
CREATE TRIGGER max_alerts_days_update AFTER UPDATE ON max_alerts
    REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows
    FOR EACH STATEMENT EXECUTE FUNCTION max_alert_days_changed();

-- The alerts that exist already, a tenant at a time: as if each were inserted as it is now.
SELECT max_alert_days_add(ARRAY(
           SELECT f FROM max_alerts AS n, max_alert_day_facts(NULL, n) AS f
            WHERE n.tenant_id = tenants.tenant_id))
  FROM (SELECT DISTINCT tenant_id FROM max_alerts) AS tenants;
