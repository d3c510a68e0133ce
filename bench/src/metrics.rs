//! The alerts' metrics (`GET /api/alerts/metrics`, `max-local report`): a tenant with a long past
//! of alerts gets a month's figures in milliseconds, because they are read off the daily roll-ups
//! the database keeps (migrations/V13), not counted from the alerts: `max-bench metrics`.
//!
//! In a database of its own (created, migrated, dropped afterwards), one tenant is given
//! `alerts` historical alerts spread over two years, written through the real triggers in
//! statements of 50,000 (each already acknowledged, escalated and resolved as its story goes:
//! the import path, whose facts are the same as the evaluator's and the API's), and twelve users
//! who open the widget most days. Then, statistics refreshed: the metrics of the last 30 days and
//! of the last 366 days, each read many times through `shared::metrics::read` as the functions
//! read them (the functions' role, the tenant's scope, one pipelined transaction over loopback),
//! against the same 30 days' figures counted from the alerts themselves. The roll-ups' figures
//! are checked against those counts: the run fails if they differ.

use std::path::Path;
use std::time::Instant;

use serde::{Deserialize, Serialize};
use shared::admin;
use shared::config::PoolSettings;
use shared::db::Db;
use shared::metrics;
use shared::tenancy::{TenantId, TenantScope};
use tokio_postgres::Client;

use crate::database;

const TENANT: &str = "metrics";
const DATABASE: &str = "max_bench_metrics";
/// Alerts written per statement.
const BATCH: i64 = 50_000;
/// Days of history.
const DAYS: i64 = 730;

/// Reads of one period.
#[derive(Debug, Serialize, Deserialize)]
pub(crate) struct Reads {
    pub(crate) days: i64,
    pub(crate) reads: usize,
    pub(crate) median_ms: f64,
    pub(crate) p95_ms: f64,
    pub(crate) max_ms: f64,
}

/// What `max-bench metrics` measured, and under which conditions.
#[derive(Debug, Serialize, Deserialize)]
pub(crate) struct MetricsResults {
    pub(crate) machine: String,
    pub(crate) postgres: String,
    pub(crate) autovacuum: String,
    pub(crate) alerts: i64,
    pub(crate) history_days: i64,
    /// Writing the alerts through the triggers (history and roll-ups included).
    pub(crate) load_seconds: f64,
    pub(crate) day_rows: i64,
    /// The longest histogram of waiting times in a row (buckets).
    pub(crate) histogram_buckets: i32,
    pub(crate) rollup_mb: f64,
    pub(crate) alerts_mb: f64,
    pub(crate) month: Reads,
    pub(crate) year: Reads,
    /// The same 30 days counted from the alerts (raised, resolutions by kind, median time to
    /// resolve per day), as the owner: the fastest of 5.
    pub(crate) counted_ms: f64,
}

/// The alerts: created over the last two years, a rule and severity each, a person or the alert
/// itself resolving most of them after a wait spread from a minute to days (log-uniform), two in
/// five acknowledged first, the high ones waiting past 24 hours escalated. Deterministic (the
/// series number seeds each choice).
const LOAD: &str = "INSERT INTO max_alerts (tenant_id, lead_id, type, severity, message, created_at,
        acknowledged_at, acknowledged_by, escalated_at, resolved_at, resolved_by, resolution)
SELECT 'metrics', 'lead-' || i, r.type, r.severity, 'Aucun contact depuis 9 jours', a.created_at,
       CASE WHEN a.u2 < 0.4 THEN a.created_at + least(a.ack_wait, coalesce(a.resolve_wait, a.ack_wait)) END,
       CASE WHEN a.u2 < 0.4 THEN 'user:u' || (i % 12) END,
       CASE WHEN r.severity = 'high' AND coalesce(a.resolve_wait, interval '1000 days') > interval '24 hours'
            THEN a.created_at + interval '24 hours' END,
       a.created_at + a.resolve_wait,
       CASE WHEN a.resolve_wait IS NOT NULL AND a.u1 < 0.6 THEN 'user:u' || (i % 12) END,
       CASE WHEN a.resolve_wait IS NOT NULL THEN CASE WHEN a.u1 < 0.6 THEN 'manual' ELSE 'auto' END END
  FROM generate_series($1::int8, $2::int8) AS i,
       LATERAL (SELECT (hashint8(i) & 1023) / 1024.0 AS u1, (hashint8(-i) & 1023) / 1024.0 AS u2,
                       (hashint8(i * 7) & 1023) / 1024.0 AS u3) AS h,
       LATERAL (SELECT now() - make_interval(days => $4::int) + (now() - (now() - make_interval(days => $4::int))) * (i::float8 / $3) AS created_at,
                       -- Resolved (95 %): a person (60 %) after a minute to 7 days, by itself
                       -- after an hour to 10 days; the rest still open.
                       CASE WHEN h.u3 < 0.95 THEN
                         CASE WHEN h.u1 < 0.6 THEN interval '1 minute' * exp(h.u2 * ln(7 * 24 * 60))
                              ELSE interval '1 hour' * exp(h.u2 * ln(10 * 24)) END END AS resolve_wait,
                       interval '1 minute' * exp(h.u3 * ln(24 * 60)) AS ack_wait,
                       h.u1, h.u2) AS a,
       LATERAL (SELECT (ARRAY['UnansweredInbound', 'UnansweredInbound', 'DeliveryFailed', 'NoContact7d',
                              'NoContact7d', 'NoContact7d', 'NoReply3d', 'NoReply3d'])[1 + i % 8] AS type,
                       CASE WHEN i % 8 >= 6 THEN 'medium' ELSE 'high' END AS severity) AS r";

/// Twelve users who opened the widget on most days of the two years.
const VISITS: &str = "INSERT INTO max_widget_visits (tenant_id, day, user_id)
SELECT 'metrics', d::date, 'u' || u
  FROM generate_series(current_date - $1::int, current_date, interval '1 day') AS d,
       generate_series(0, 11) AS u
 WHERE (hashint8(u * 100000 + (d::date - date '2000-01-01')) & 1023) < 716";

/// The month's figures counted from the alerts, per Paris day: raised, resolved by a person,
/// resolved automatically, and the median time to resolve of the day's resolutions.
const COUNTED: &str = "WITH raised AS (
    SELECT (created_at AT TIME ZONE 'Europe/Paris')::date AS day, count(*) AS raised
      FROM max_alerts WHERE tenant_id = 'metrics'
       AND (created_at AT TIME ZONE 'Europe/Paris')::date BETWEEN $1 AND $2 GROUP BY 1),
resolved AS (
    SELECT (resolved_at AT TIME ZONE 'Europe/Paris')::date AS day,
           count(*) FILTER (WHERE resolution = 'manual') AS manual,
           count(*) FILTER (WHERE resolution = 'auto') AS auto,
           percentile_cont(0.5) WITHIN GROUP (ORDER BY extract(epoch FROM resolved_at - created_at)) AS median
      FROM max_alerts WHERE tenant_id = 'metrics'
       AND (resolved_at AT TIME ZONE 'Europe/Paris')::date BETWEEN $1 AND $2 GROUP BY 1)
SELECT day, coalesce(raised, 0), coalesce(manual, 0), coalesce(auto, 0), median
  FROM raised FULL JOIN resolved USING (day) ORDER BY day";

pub(crate) async fn measure(alerts: i64) -> MetricsResults {
    let server = admin::connect(&database::server_url())
        .await
        .expect("reach PostgreSQL");
    database::recreate(&server, DATABASE, None).await;
    server
        .batch_execute(&format!("CREATE DATABASE {DATABASE}"))
        .await
        .expect("create the database");
    let url = database::url_of(DATABASE);
    admin::migrate(&url).await.expect("migrate");
    let client = database::connect_to(DATABASE).await;
    let autovacuum = database::show(&client, "autovacuum").await;
    let postgres = database::show(&client, "server_version").await;
    client
        .batch_execute(
            "INSERT INTO max_tenants (id, name) VALUES ('metrics', 'Metrics');
             SET synchronous_commit = off",
        )
        .await
        .expect("tenant");

    println!("writing {alerts} alerts over {DAYS} days, {BATCH} a statement");
    let started = Instant::now();
    let mut first = 1;
    while first <= alerts {
        let last = (first + BATCH - 1).min(alerts);
        client
            .execute(LOAD, &[&first, &last, &(alerts as f64), &(DAYS as i32)])
            .await
            .expect("load alerts");
        first = last + 1;
    }
    let load_seconds = started.elapsed().as_secs_f64();
    client
        .execute(VISITS, &[&(DAYS as i32)])
        .await
        .expect("visits");
    client
        .batch_execute("VACUUM ANALYZE")
        .await
        .expect("vacuum analyze");
    println!("  written in {load_seconds:.1} s; statistics refreshed (VACUUM ANALYZE)");
    let row = client
        .query_one(
            "SELECT (SELECT count(*) FROM max_alert_days),
                    (SELECT max(greatest(cardinality(acknowledge_times), cardinality(resolve_times)))
                       FROM max_alert_days),
                    pg_total_relation_size('max_alert_days') / 1048576.0::float8,
                    pg_total_relation_size('max_alerts') / 1048576.0::float8",
            &[],
        )
        .await
        .expect("sizes");
    let (day_rows, histogram_buckets): (i64, i32) = (row.get(0), row.get(1));
    let (rollup_mb, alerts_mb): (f64, f64) = (row.get(2), row.get(3));

    let db = Db::connect_lazily(
        admin::parse_url(&url).expect("url"),
        &PoolSettings::default(),
        "max-bench",
    )
    .expect("pool");
    db.warm_up().await;
    let tenant = TenantId::parse(TENANT).expect("tenant id");
    let scope = TenantScope::Verified(&tenant);
    let (zone, today) = metrics::tenant_today(&db, &scope).await.expect("today");

    let month_from = today - shared::time::Duration::days(29);
    check(&client, &db, &scope, &zone, month_from, today).await;
    let month = reads(&db, &scope, &zone, 30, today, 200).await;
    let year = reads(&db, &scope, &zone, 366, today, 50).await;

    let mut counted = Vec::new();
    for _ in 0..5 {
        let started = Instant::now();
        client
            .query(COUNTED, &[&month_from, &today])
            .await
            .expect("count from the alerts");
        counted.push(started.elapsed().as_secs_f64() * 1000.0);
    }
    let counted_ms = counted.iter().copied().fold(f64::INFINITY, f64::min);
    drop(db);
    drop(client);
    database::recreate(&server, DATABASE, None).await;

    let results = MetricsResults {
        machine: crate::results::machine(),
        postgres,
        autovacuum,
        alerts,
        history_days: DAYS,
        load_seconds,
        day_rows,
        histogram_buckets,
        rollup_mb,
        alerts_mb,
        month,
        year,
        counted_ms,
    };
    println!("{results:#?}");
    results
}

/// Reads the metrics of the `days` up to `today`, `count` times; the first read (which prepares
/// the statements) is not counted.
async fn reads(
    db: &Db,
    scope: &TenantScope<'_>,
    zone: &str,
    days: i64,
    today: shared::time::Date,
    count: usize,
) -> Reads {
    let from = today - shared::time::Duration::days(days - 1);
    metrics::read(db, scope, zone.to_owned(), from, today)
        .await
        .expect("metrics");
    let mut times = Vec::with_capacity(count);
    for _ in 0..count {
        let started = Instant::now();
        let figures = metrics::read(db, scope, zone.to_owned(), from, today)
            .await
            .expect("metrics");
        times.push(started.elapsed().as_secs_f64() * 1000.0);
        assert_eq!(figures.days.len() as i64, days);
    }
    times.sort_by(f64::total_cmp);
    let at = |q: f64| times[((times.len() - 1) as f64 * q).round() as usize];
    Reads {
        days,
        reads: count,
        median_ms: at(0.5),
        p95_ms: at(0.95),
        max_ms: at(1.0),
    }
}

/// The roll-ups' figures of each day against those counted from the alerts: raised and
/// resolutions exactly, the median time to resolve to within 10 %.
async fn check(
    client: &Client,
    db: &Db,
    scope: &TenantScope<'_>,
    zone: &str,
    from: shared::time::Date,
    to: shared::time::Date,
) {
    let figures = metrics::read(db, scope, zone.to_owned(), from, to)
        .await
        .expect("metrics");
    let counted = client
        .query(COUNTED, &[&from, &to])
        .await
        .expect("count from the alerts");
    for row in counted {
        let day: shared::time::Date = row.get(0);
        let (raised, manual, auto): (i64, i64, i64) = (row.get(1), row.get(2), row.get(3));
        let median: Option<f64> = row.get(4);
        let rolled = figures
            .days
            .iter()
            .find(|d| d.day == day)
            .unwrap_or_else(|| panic!("{day} missing from the metrics"));
        let f = &rolled.figures;
        assert_eq!(
            (f.raised, f.resolved_manually, f.resolved_automatically),
            (raised, manual, auto),
            "{day}: the roll-ups against the alerts"
        );
        if let (Some(median), Some(waits)) = (median, f.time_to_resolve) {
            let error = (waits.median_seconds as f64 - median).abs() / median.max(1.0);
            assert!(
                error <= 0.1,
                "{day}: median time to resolve {} against {median:.0} s",
                waits.median_seconds
            );
        }
    }
    println!("  checked: each day's raised and resolutions equal the alerts' own counts");
}

/// What the last `max-bench metrics --write` wrote beside `output`, if anything.
pub(crate) fn saved(output: &Path) -> Option<MetricsResults> {
    let json = crate::results::results_dir(output).join("metrics.json");
    serde_json::from_str(&std::fs::read_to_string(json).ok()?).ok()
}

/// Writes `bench/results/metrics.json` and the "Metrics" section of the report.
pub(crate) fn write(results: &MetricsResults, output: &Path) {
    let json = crate::results::results_dir(output).join("metrics.json");
    std::fs::create_dir_all(json.parent().expect("results dir")).expect("results dir");
    std::fs::write(
        &json,
        serde_json::to_string_pretty(results).expect("json") + "\n",
    )
    .expect("write json");
    let text = std::fs::read_to_string(output).unwrap_or_default();
    let section = crate::report::metrics(results);
    std::fs::write(
        output,
        crate::results::with_section(
            &text,
            "## Metrics\n",
            "## Cold start and footprint\n",
            &section,
        ),
    )
    .expect("write report");
    println!(
        "wrote the metrics' section of {} and {}",
        output.display(),
        json.display()
    );
}
