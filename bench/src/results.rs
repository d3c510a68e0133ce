//! A run's results: what every benchmark measured, the machine it ran on, and the files they are
//! written to (BENCHMARKS.md, and beside it in `bench/results/` the JSON, the plans and the
//! latency chart).

use std::path::{Path, PathBuf};

use serde::Serialize;

use crate::evaluator::EvaluatorPass;
use crate::generate::{self, Scale};
use crate::plot::plot;
use crate::report::report;
use crate::routes::{Cores, RouteResult};
use crate::{coldstart, floor};

#[derive(Serialize)]
pub(crate) struct Results {
    pub(crate) scale: Scale,
    pub(crate) machine: String,
    pub(crate) postgres: String,
    /// `SHOW autovacuum` on the server during the run.
    pub(crate) autovacuum: String,
    /// The planner's statistics once the data set was loaded.
    pub(crate) statistics: generate::Statistics,
    pub(crate) loaded: generate::Loaded,
    pub(crate) cores: Cores,
    pub(crate) routes: Vec<RouteResult>,
    pub(crate) evaluator: Vec<EvaluatorPass>,
    /// The full pass's writes, by PostgreSQL alone.
    pub(crate) evaluator_floor: floor::Floor,
    pub(crate) cold_start: Vec<coldstart::ColdStart>,
    /// `EXPLAIN (ANALYZE, BUFFERS)` of the statements that matter, as text.
    #[serde(skip)]
    pub(crate) plans: String,
}

/// This machine: its cores, its CPU model and its memory.
pub(crate) fn machine() -> String {
    let cpu = std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|text| {
            text.lines()
                .find(|l| l.starts_with("model name"))
                .and_then(|l| l.split(':').nth(1))
                .map(|s| s.trim().to_owned())
        })
        .unwrap_or_else(|| "unknown CPU".into());
    let memory = std::fs::read_to_string("/proc/meminfo")
        .ok()
        .and_then(|text| {
            text.lines().next().and_then(|l| {
                l.split_whitespace()
                    .nth(1)
                    .and_then(|kb| kb.parse::<f64>().ok())
            })
        })
        .map_or("?".into(), |kb| format!("{:.0} GiB", kb / 1_048_576.0));
    let cores = std::thread::available_parallelism().map_or(0, |n| n.get());
    format!("{cores} cores ({cpu}), {memory} memory")
}

/// Writes the report to `output`, and the JSON, the plans and the latency chart to
/// `bench/results/` beside it.
pub(crate) fn write(results: &Results, output: &Path) {
    let scale = &results.scale;
    let results_dir = output
        .parent()
        .map(|p| p.join("bench/results"))
        .unwrap_or_else(|| PathBuf::from("bench/results"));
    std::fs::create_dir_all(&results_dir).expect("results dir");
    let json = results_dir.join(format!("{}.json", scale.name));
    std::fs::write(&json, serde_json::to_string_pretty(results).unwrap()).expect("write json");
    let plans = results_dir.join(format!("{}-plans.txt", scale.name));
    std::fs::write(&plans, &results.plans).expect("write plans");
    let svg = results_dir.join(format!("{}-active-alerts-latency.svg", scale.name));
    std::fs::write(&svg, plot(results)).expect("write svg");
    std::fs::write(output, report(results, &svg, output)).expect("write report");
    println!(
        "wrote {}, {}, {} and {}",
        output.display(),
        json.display(),
        plans.display(),
        svg.display()
    );
}
