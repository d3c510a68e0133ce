//! The evaluator benchmark: its passes timed on the loaded data set (every lead due, then nothing
//! to change, then new activity on a few leads), and the full pass's writes by PostgreSQL alone.

use std::time::{Duration, Instant};

use serde::Serialize;
use shared::admin;
use shared::config::{EvaluatorSettings, PoolSettings};
use shared::db::Db;
use shared::evaluator::Evaluator;

use crate::database;
use crate::floor;
use crate::generate::Scale;

#[derive(Serialize, serde::Deserialize)]
pub(crate) struct EvaluatorPass {
    pub(crate) pass: &'static str,
    pub(crate) seconds: f64,
    pub(crate) leads_evaluated: u64,
    pub(crate) alerts_changed: u64,
}

/// A pool on the database at `url`, and the evaluator's settings for a timed pass (a batch may
/// take ten minutes at full scale).
pub(crate) fn pass_setup(url: &str) -> (Db, EvaluatorSettings) {
    let db = Db::connect_lazily(
        admin::parse_url(url).expect("url"),
        &PoolSettings::default(),
        "max-bench",
    )
    .expect("pool");
    let settings = EvaluatorSettings {
        timeout: Duration::from_secs(600),
        ..EvaluatorSettings::default()
    };
    (db, settings)
}

/// The evaluator's three passes, then the full pass's writes by PostgreSQL alone.
pub(crate) async fn evaluator_passes(
    url: &str,
    client: &tokio_postgres::Client,
) -> (Vec<EvaluatorPass>, floor::Floor) {
    let (db, settings) = pass_setup(url);
    let evaluator = Evaluator::default();
    let mut passes = Vec::new();
    let pass = async |name: &'static str| timed_pass(&evaluator, &db, &settings, name).await;
    floor::copy_leads(client)
        .await
        .expect("copy the lead summaries");
    // Start from a quiet server: the load's writes are flushed first, not during the pass.
    client
        .batch_execute("CHECKPOINT")
        .await
        .expect("checkpoint");
    let now = async || -> String {
        client
            .query_one("SELECT clock_timestamp()::text", &[])
            .await
            .expect("clock")
            .get(0)
    };
    let from = now().await;
    passes.push(pass("full pass (every lead due)").await);
    let to = now().await;
    passes.push(pass("nothing to change").await);
    client
        .batch_execute(
            "INSERT INTO lead_activities (tenant_id, lead_id, channel, direction, status)
             SELECT tenant_id, lead_id, 'whatsapp', 'out', 'sent' FROM max_lead_states
              WHERE abs(hashtext(lead_id)) % 100 = 0",
        )
        .await
        .expect("new activity for 1% of leads");
    passes.push(pass("after new activity on 1% of leads").await);
    let floor = floor::measure(url, client, &from, &to)
        .await
        .expect("the full pass's writes alone");
    println!(
        "PostgreSQL alone, the full pass's writes: {:.2} s ({} alerts inserted, {} leads rescheduled)",
        floor.seconds, floor.alerts_inserted, floor.leads_rescheduled
    );
    (passes, floor)
}

/// `max-bench evaluator`: the passes and the floor on `rounds` copies of the loaded data set, one
/// after the other, each migrated to this version and analyzed first (so that a schema change is
/// measured on the same data as before it); prints the full pass against its writes alone.
/// `without_history`: the alerts' history triggers (migrations/V10) off, to see what they cost.
pub(crate) async fn on_copies(scale: &Scale, rounds: usize, without_history: bool) {
    let server = admin::connect(&database::server_url())
        .await
        .expect("reach PostgreSQL");
    let source = database::database_name(scale);
    let copy = format!("{source}_evaluator");
    for round in 1..=rounds {
        database::recreate(&server, &copy, Some(&source)).await;
        let url = database::url_of(&copy);
        admin::migrate(&url).await.expect("migrate the copy");
        let client = database::connect_to(&copy).await;
        if without_history {
            client
                .batch_execute(
                    "ALTER TABLE max_alerts DISABLE TRIGGER max_alerts_history_insert, \
                     DISABLE TRIGGER max_alerts_history_update",
                )
                .await
                .expect("history triggers off");
        }
        client
            .batch_execute("VACUUM ANALYZE")
            .await
            .expect("analyze");
        let (passes, floor) = evaluator_passes(&url, &client).await;
        println!(
            "round {round}: full pass {:.2} s, writes alone {:.2} s, ratio {:.2}",
            passes[0].seconds,
            floor.seconds,
            passes[0].seconds / floor.seconds
        );
    }
    database::recreate(&server, &copy, None).await;
}

/// One pass of the evaluator, timed and printed.
pub(crate) async fn timed_pass(
    evaluator: &Evaluator,
    db: &Db,
    settings: &EvaluatorSettings,
    name: &'static str,
) -> EvaluatorPass {
    let started = Instant::now();
    let summary = evaluator.pass(db, settings).await.expect("pass");
    let changed = summary.alerts_changed();
    let seconds = started.elapsed().as_secs_f64();
    println!(
        "evaluator {name}: {:.2} s, {} leads evaluated, {changed} alerts changed",
        seconds, summary.leads_evaluated
    );
    EvaluatorPass {
        pass: name,
        seconds,
        leads_evaluated: summary.leads_evaluated,
        alerts_changed: changed,
    }
}
