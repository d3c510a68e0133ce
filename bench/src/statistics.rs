//! The evaluator's full pass with stale statistics against the same pass with fresh ones, on the
//! same data: `max-bench statistics`.
//!
//! For each way statistics go stale ([`Staleness`]), the data set is loaded once into a source
//! database that ends up in that state, copied twice (`CREATE DATABASE ... TEMPLATE`, which copies
//! the files, statistics included), one copy analyzed, and a full pass (every lead due) timed on
//! each. The plan the first batch gets in each copy (`EXPLAIN`, estimates only: the pass itself is
//! what is timed) is kept beside the figures, and the conditions the run had (autovacuum, what the
//! planner knew of each table) are written with them.

use std::path::Path;
use std::time::Instant;

use serde::Serialize;
use shared::admin;
use shared::evaluator::Evaluator;
use tokio_postgres::Client;

use crate::database;
use crate::evaluator::{EvaluatorPass, timed_pass};
use crate::generate::{self, Scale, Statistics};

/// How the statistics of the evaluator's tables came to be stale.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum, Serialize)]
#[serde(rename_all = "lowercase")]
pub(crate) enum Staleness {
    /// Loaded right after the migrations and never analyzed (autovacuum off, or not there yet).
    Never,
    /// Analyzed while empty (right after the migrations), then loaded.
    Empty,
    /// Analyzed when every lead was scheduled a day ahead (as after a pass), then every lead due
    /// again (as after a large import of activities), not analyzed since.
    Scheduled,
}

impl Staleness {
    fn describe(self) -> &'static str {
        match self {
            Self::Never => "never analyzed: loaded right after the migrations",
            Self::Empty => "analyzed while empty, right after the migrations, then loaded",
            Self::Scheduled => {
                "analyzed with every lead scheduled a day ahead, then every lead made due again"
            }
        }
    }
}

/// One comparison: the same data, its statistics stale or fresh.
#[derive(Serialize)]
pub(crate) struct Comparison {
    pub(crate) staleness: Staleness,
    pub(crate) conditions: &'static str,
    pub(crate) stale: EvaluatorPass,
    pub(crate) fresh: EvaluatorPass,
    /// `ANALYZE` of the fresh copy, before its pass (not counted in its pass).
    pub(crate) analyze_seconds: f64,
    /// The stale pass's time over the fresh one's.
    pub(crate) ratio: f64,
}

/// What `max-bench statistics` measured, and under which conditions.
#[derive(Serialize)]
pub(crate) struct StatisticsResults {
    pub(crate) scale: Scale,
    pub(crate) machine: String,
    pub(crate) postgres: String,
    /// `SHOW autovacuum` on the server.
    pub(crate) autovacuum: String,
    pub(crate) comparisons: Vec<Comparison>,
    #[serde(skip)]
    pub(crate) plans: String,
}

/// Runs `rounds` comparisons for each of `staleness`, and writes the results beside `output`
/// (`bench/results/<scale>-statistics.json` and `-statistics-plans.txt`).
pub(crate) async fn compare(
    scale: Scale,
    staleness: &[Staleness],
    rounds: usize,
    output: &Path,
) -> StatisticsResults {
    let server = admin::connect(&database::server_url())
        .await
        .expect("reach PostgreSQL");
    let show = async |setting: &str| -> String {
        server
            .query_one(&format!("SHOW {setting}"), &[])
            .await
            .expect("show")
            .get(0)
    };
    let autovacuum = show("autovacuum").await;
    let postgres = show("server_version").await;
    println!("autovacuum = {autovacuum}");
    let base = database::database_name(&scale);
    let names = ["src", "stale", "fresh"].map(|part| format!("{base}_stats_{part}"));
    let [source, stale, fresh] = &names;
    let mut comparisons = Vec::new();
    let mut plans = String::new();
    for &how in staleness {
        for round in 1..=rounds {
            println!("{how:?} statistics, round {round}: {}", how.describe());
            load_stale(&server, &scale, source, how).await;
            for copy in [stale, fresh] {
                database::recreate(&server, copy, Some(source)).await;
            }
            let fresh_client = database::connect_to(fresh).await;
            let started = Instant::now();
            fresh_client
                .batch_execute("ANALYZE")
                .await
                .expect("analyze");
            let analyze_seconds = started.elapsed().as_secs_f64();
            drop(fresh_client);
            let (stale_pass, stale_plan) = measure(stale, "full pass, stale statistics").await;
            let (fresh_pass, fresh_plan) = measure(fresh, "full pass, fresh statistics").await;
            let ratio = stale_pass.seconds / fresh_pass.seconds.max(f64::EPSILON);
            println!(
                "  stale {:.2} s, fresh {:.2} s (ANALYZE {:.2} s before it): ratio {ratio:.2}",
                stale_pass.seconds, fresh_pass.seconds, analyze_seconds
            );
            for (state, plan) in [("stale", stale_plan), ("fresh", fresh_plan)] {
                plans.push_str(&format!(
                    "## {how:?}, round {round}: the first batch's plan, {state} statistics\n\n{plan}\n"
                ));
            }
            comparisons.push(Comparison {
                staleness: how,
                conditions: how.describe(),
                stale: stale_pass,
                fresh: fresh_pass,
                analyze_seconds,
                ratio,
            });
        }
    }
    for name in &names {
        database::recreate(&server, name, None).await;
    }
    let results = StatisticsResults {
        scale,
        machine: crate::results::machine(),
        postgres,
        autovacuum,
        comparisons,
        plans,
    };
    write(&results, output);
    results
}

/// Loads the data set into a fresh `name` whose statistics end up stale the way `how` says.
async fn load_stale(server: &Client, scale: &Scale, name: &str, how: Staleness) {
    database::recreate(server, name, None).await;
    server
        .batch_execute(&format!("CREATE DATABASE {name}"))
        .await
        .expect("create the source database");
    let url = database::url_of(name);
    admin::migrate(&url).await.expect("migrate");
    let mut client = admin::connect(&url).await.expect("connect");
    if how == Staleness::Empty {
        client.batch_execute("ANALYZE").await.expect("analyze");
    }
    let loaded = generate::load(&mut client, scale, Statistics::Stale)
        .await
        .expect("load");
    println!(
        "  loaded {} activities and {} alerts in {:.1} s",
        loaded.activities, loaded.alerts, loaded.seconds
    );
    if how == Staleness::Scheduled {
        client
            .batch_execute(
                "UPDATE max_lead_states SET next_check_at = now() + interval '1 day';
                 ANALYZE;
                 UPDATE max_lead_states SET next_check_at = now();",
            )
            .await
            .expect("schedule, analyze, make due");
    }
}

/// The first batch's plan (estimates) and a timed full pass, in the copy `name`.
async fn measure(name: &str, pass: &'static str) -> (EvaluatorPass, String) {
    let client = database::connect_to(name).await;
    let plan = crate::explain::plan(&client).await;
    client
        .batch_execute("CHECKPOINT")
        .await
        .expect("checkpoint");
    let url = database::url_of(name);
    let (db, settings) = crate::evaluator::pass_setup(&url);
    let evaluator = Evaluator::default();
    let timed = timed_pass(&evaluator, &db, &settings, pass).await;
    (timed, plan)
}

/// Writes the JSON and the plans to `bench/results/` beside `output` (the report's path).
fn write(results: &StatisticsResults, output: &Path) {
    let dir = output
        .parent()
        .map(|p| p.join("bench/results"))
        .unwrap_or_else(|| "bench/results".into());
    std::fs::create_dir_all(&dir).expect("results dir");
    let json = dir.join(format!("{}-statistics.json", results.scale.name));
    std::fs::write(&json, serde_json::to_string_pretty(results).unwrap()).expect("write json");
    let plans = dir.join(format!("{}-statistics-plans.txt", results.scale.name));
    std::fs::write(&plans, &results.plans).expect("write plans");
    println!("{}", table(results));
    println!("wrote {} and {}", json.display(), plans.display());
}

/// The comparisons as a Markdown table, with their conditions.
pub(crate) fn table(results: &StatisticsResults) -> String {
    let mut md = format!(
        "Data set `{}` ({} leads), PostgreSQL {}, autovacuum {}; {}.\n\n\
         | stale statistics | stale pass s | fresh pass s | ratio | ANALYZE s | leads | alerts changed |\n\
         |---|---|---|---|---|---|---|\n",
        results.scale.name,
        results.scale.leads,
        results.postgres,
        results.autovacuum,
        results.machine
    );
    for c in &results.comparisons {
        md.push_str(&format!(
            "| {} | {:.2} | {:.2} | {:.2} | {:.2} | {} / {} | {} / {} |\n",
            c.conditions,
            c.stale.seconds,
            c.fresh.seconds,
            c.ratio,
            c.analyze_seconds,
            c.stale.leads_evaluated,
            c.fresh.leads_evaluated,
            c.stale.alerts_changed,
            c.fresh.alerts_changed
        ));
    }
    md
}
