//! `max-bench`: reruns every benchmark and rewrites BENCHMARKS.md.
//!
//!     cargo run --release -p max-bench -- all --quick
//!
//! Loads a seeded data set with binary COPY, serves it with `max-local serve` (the functions'
//! handlers), loads each route over loopback at several concurrencies, replays the same SQL with
//! pgbench as the database's own limit, times the evaluator's passes, and the EspoCRM sync into the
//! lead directory.
//!
//! This file only wires the commands to the modules, one per concern.

mod cli;
mod coldstart;
mod commits;
mod cores;
mod cpu;
mod database;
mod directory;
mod evaluator;
mod explain;
mod floor;
mod generate;
mod greenapi;
mod load;
mod metrics;
mod pgbench;
mod plot;
mod report;
mod results;
mod route_bench;
mod routes;
mod server;
mod statistics;

use clap::Parser;
use cli::{Cli, Load, Run};
use explain::explain;
use generate::{HUGE, Scale, Statistics};
use results::Results;

#[tokio::main]
async fn main() {
    cores::restore_on_panic();
    match Cli::parse().command {
        Run::All {
            quick,
            scale,
            load,
            output,
            drop,
        } => {
            let scale = database::scale_named(if quick { "quick" } else { &scale });
            let output = output.unwrap_or_else(|| server::repository().join("BENCHMARKS.md"));
            let results = run(scale, &load).await;
            if drop {
                database::drop_database(&scale).await;
            }
            results::write(&results, &output);
        }
        Run::Generate {
            scale,
            stale_statistics,
        } => {
            let statistics = if stale_statistics {
                Statistics::Stale
            } else {
                Statistics::Fresh
            };
            database::load_database(&database::scale_named(&scale), statistics).await;
        }
        Run::Statistics {
            scale,
            stale,
            rounds,
            output,
        } => {
            let output = output.unwrap_or_else(|| server::repository().join("BENCHMARKS.md"));
            statistics::compare(database::scale_named(&scale), &stale, rounds, &output).await;
        }
        Run::Evaluator {
            scale,
            rounds,
            without_history,
        } => {
            evaluator::on_copies(&database::scale_named(&scale), rounds, without_history).await;
        }
        Run::Directory {
            scale,
            write,
            output,
        } => {
            let scale = database::scale_named(&scale);
            let (directory, plans) = directory::measure(&scale, true).await;
            if write {
                let output = output.unwrap_or_else(|| server::repository().join("BENCHMARKS.md"));
                results::write_directory(&scale, &directory, &plans, &output);
            }
        }
        Run::Metrics {
            alerts,
            write,
            output,
        } => {
            let results = metrics::measure(alerts).await;
            if write {
                let output = output.unwrap_or_else(|| server::repository().join("BENCHMARKS.md"));
                metrics::write(&results, &output);
            }
        }
        Run::Routes {
            scale,
            load,
            only,
            write,
            output,
        } => {
            let scale = database::scale_named(&scale);
            let (url, mut client) = database::connect(&scale).await;
            let cores = routes::split_cores(&load);
            let routes =
                routes::route_benchmarks(&url, &mut client, &scale, &load, &cores, &only).await;
            if write {
                let output = output.unwrap_or_else(|| server::repository().join("BENCHMARKS.md"));
                let postgres = database::show(&client, "server_version").await;
                let autovacuum = database::show(&client, "autovacuum").await;
                let results = results::with_routes_of_this_run(
                    scale, postgres, autovacuum, cores, routes, &output,
                );
                results::write(&results, &output);
            }
        }
    }
}

/// Every benchmark on a freshly loaded data set: the evaluator first (every generated lead is
/// due), with the plans of the statements that matter, then the cold start, then the routes.
async fn run(scale: Scale, load: &Load) -> Results {
    let (url, mut client, loaded) = database::load_database(&scale, Statistics::Fresh).await;
    let postgres = database::show(&client, "server_version").await;
    let autovacuum = database::show(&client, "autovacuum").await;
    // The evaluator first: every generated lead is due.
    let mut plans = explain(
        &client,
        "Evaluator: one batch of a full pass (rolled back)",
        None,
    )
    .await;
    let (evaluator, evaluator_floor) = evaluator::evaluator_passes(&url, &client).await;
    plans.push_str(&explain(&client, "Evaluator: a pass with nothing due", None).await);
    plans.push_str(
        &explain(
            &client,
            "GET /api/alerts/active: first page of the huge tenant",
            Some(HUGE),
        )
        .await,
    );
    let cold_start = coldstart::measure(&url, if scale.name == "tiny" { 3 } else { 25 }).await;

    let cores = routes::split_cores(load);
    let routes = routes::route_benchmarks(&url, &mut client, &scale, load, &cores, "").await;
    // Last, in a database of its own: nothing above sees its tenant.
    let (directory, directory_plans) = directory::measure(&scale, false).await;
    Results {
        scale,
        machine: results::machine(),
        postgres,
        autovacuum,
        statistics: Statistics::Fresh,
        loaded,
        cores,
        routes: routes.routes,
        whatsapp: routes.whatsapp,
        routes_alone: false,
        evaluator,
        evaluator_floor,
        cold_start,
        plans,
        directory: Some(directory),
        directory_plans,
    }
}
