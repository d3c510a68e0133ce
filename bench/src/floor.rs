//! The database's own limit for the evaluator's full pass: the same writes, without the evaluation.
//!
//! A full pass raises an alert for most leads and reschedules every lead it looks at. Here
//! PostgreSQL alone does what that pass wrote, in the same batches and on as many connections as
//! the evaluator's workers:
//! - each batch inserts the alerts one transaction of the pass raised (same values, same order:
//!   by tenant, then lead) into a copy of `max_alerts` with its indexes;
//! - and reschedules the next [`BATCH_SIZE`] due rows of a copy of `max_lead_states` (taken before
//!   the pass, so with the same due order and its two indexes) the way the evaluator does: the due
//!   rows in order, locked `FOR UPDATE SKIP LOCKED`, updated by row id.
//!
//! Nothing is evaluated, read back, checked by a policy or counted by a trigger: the time is a
//! lower bound for a full pass on this machine, as pgbench is for the routes.

use std::sync::Arc;
use std::sync::atomic::{AtomicI64, Ordering};
use std::time::Instant;

use futures_util::future::try_join_all;
use serde::Serialize;
use shared::admin;
use shared::config::EvaluatorSettings;
use shared::evaluator::BATCH_SIZE;
use shared::rules;
use tokio_postgres::Client;

/// What the writes alone cost.
#[derive(Debug, Serialize, serde::Deserialize)]
pub struct Floor {
    pub seconds: f64,
    pub alerts_inserted: u64,
    pub leads_rescheduled: u64,
    pub batches: i64,
    pub connections: usize,
}

/// Copies the lead summaries as they are before the pass (every lead due, in its due order).
pub async fn copy_leads(client: &Client) -> Result<(), tokio_postgres::Error> {
    client
        .batch_execute(
            "DROP TABLE IF EXISTS bench_floor_leads;
             CREATE TABLE bench_floor_leads (LIKE max_lead_states INCLUDING ALL);
             INSERT INTO bench_floor_leads SELECT * FROM max_lead_states;",
        )
        .await?;
    client
        .batch_execute("VACUUM ANALYZE bench_floor_leads")
        .await
}

/// After the pass that ran between `from` and `to` (database clock, as text): its writes again,
/// timed, then the copies dropped.
pub async fn measure(
    url: &str,
    client: &Client,
    from: &str,
    to: &str,
) -> Result<Floor, tokio_postgres::Error> {
    // The alerts the pass raised, numbered by the transaction (batch) that raised them.
    client
        .batch_execute(
            "DROP TABLE IF EXISTS bench_floor_source, bench_floor_alerts;
             CREATE TABLE bench_floor_source AS
                 SELECT 0::bigint AS batch, tenant_id, lead_id, lead_name, type, severity, message,
                        suggested_action
                   FROM max_alerts WITH NO DATA;
             CREATE TABLE bench_floor_alerts (LIKE max_alerts INCLUDING ALL);",
        )
        .await?;
    client
        .execute(
            "INSERT INTO bench_floor_source
             SELECT dense_rank() OVER (ORDER BY created_at), tenant_id, lead_id, lead_name, type,
                    severity, message, suggested_action
               FROM max_alerts
              WHERE created_at BETWEEN $1::text::timestamptz AND $2::text::timestamptz
                AND type = ANY ($3)",
            &[&from, &to, &rules::names(&rules::ALL)],
        )
        .await?;
    client
        .batch_execute("CREATE INDEX ON bench_floor_source (batch)")
        .await?;
    client.batch_execute("ANALYZE bench_floor_source").await?;
    let row = client
        .query_one(
            "SELECT (SELECT count(*) FROM bench_floor_source),
                    (SELECT coalesce(max(batch), 0) FROM bench_floor_source),
                    (SELECT count(*) FROM bench_floor_leads WHERE next_check_at <= now())",
            &[],
        )
        .await?;
    let (alerts, alert_batches, due): (i64, i64, i64) = (row.get(0), row.get(1), row.get(2));
    let batches = alert_batches.max((due + BATCH_SIZE - 1) / BATCH_SIZE);
    client.batch_execute("CHECKPOINT").await?;

    let workers = EvaluatorSettings::default().workers;
    let mut connections = Vec::with_capacity(workers);
    for _ in 0..workers {
        connections.push(admin::connect(url).await.expect("connect"));
    }
    let next = Arc::new(AtomicI64::new(1));
    let started = Instant::now();
    let rescheduled = try_join_all(connections.iter().map(|connection| {
        let next = Arc::clone(&next);
        async move {
            let mut rescheduled = 0_u64;
            loop {
                let batch = next.fetch_add(1, Ordering::Relaxed);
                if batch > batches {
                    return Ok::<u64, tokio_postgres::Error>(rescheduled);
                }
                connection.batch_execute("BEGIN").await?;
                connection
                    .execute(
                        "INSERT INTO bench_floor_alerts
                             (tenant_id, lead_id, lead_name, type, severity, message, suggested_action)
                         SELECT tenant_id, lead_id, lead_name, type, severity, message, suggested_action
                           FROM bench_floor_source WHERE batch = $1
                          ORDER BY tenant_id, lead_id",
                        &[&batch],
                    )
                    .await?;
                rescheduled += connection
                    .execute(
                        "WITH due AS (
                             SELECT ctid AS row_id FROM bench_floor_leads
                              WHERE next_check_at <= now()
                              ORDER BY next_check_at LIMIT $1
                                FOR UPDATE SKIP LOCKED)
                         UPDATE bench_floor_leads SET next_check_at = now() + interval '1 day'
                          WHERE ctid = ANY (ARRAY(SELECT row_id FROM due))",
                        &[&BATCH_SIZE],
                    )
                    .await?;
                connection.batch_execute("COMMIT").await?;
            }
        }
    }))
    .await?;
    let seconds = started.elapsed().as_secs_f64();
    client
        .batch_execute("DROP TABLE bench_floor_source, bench_floor_alerts, bench_floor_leads")
        .await?;
    Ok(Floor {
        seconds,
        alerts_inserted: u64::try_from(alerts).unwrap_or_default(),
        leads_rescheduled: rescheduled.iter().sum(),
        batches,
        connections: workers,
    })
}
