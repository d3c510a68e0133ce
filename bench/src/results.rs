//! A run's results: what every benchmark measured, the machine it ran on, and the files they are
//! written to (BENCHMARKS.md, and beside it in `bench/results/` the JSON, the plans and the
//! latency chart).

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::directory::Directory;
use crate::evaluator::EvaluatorPass;
use crate::generate::{self, Scale};
use crate::plot::plot;
use crate::report::report;
use crate::routes::{Cores, RouteResult, Routes};
use crate::{coldstart, floor, greenapi};

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
    /// The numbers the WhatsApp webhook's notifications came from.
    pub(crate) whatsapp: Option<greenapi::Numbers>,
    /// Whether the routes were measured alone (`routes --write`), after the rest.
    pub(crate) routes_alone: bool,
    pub(crate) evaluator: Vec<EvaluatorPass>,
    /// The full pass's writes, by PostgreSQL alone.
    pub(crate) evaluator_floor: floor::Floor,
    pub(crate) cold_start: Vec<coldstart::ColdStart>,
    /// `EXPLAIN (ANALYZE, BUFFERS)` of the statements that matter, as text.
    #[serde(skip)]
    pub(crate) plans: String,
    /// The lead directory: the EspoCRM sync and the listing's plan.
    pub(crate) directory: Option<Directory>,
    /// The listing's plans of the lead directory's section, as text.
    #[serde(skip)]
    pub(crate) directory_plans: String,
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

/// Where the JSON, the plans and the chart of the report `output` are.
pub(crate) fn results_dir(output: &Path) -> PathBuf {
    output
        .parent()
        .map(|p| p.join("bench/results"))
        .unwrap_or_else(|| PathBuf::from("bench/results"))
}

/// What an `all` run measured besides the routes, as its JSON holds it.
#[derive(Deserialize)]
#[serde(bound(deserialize = "'de: 'static"))]
struct Earlier {
    statistics: generate::Statistics,
    loaded: generate::Loaded,
    evaluator: Vec<EvaluatorPass>,
    evaluator_floor: floor::Floor,
    cold_start: Vec<coldstart::ColdStart>,
    #[serde(default)]
    directory: Option<Directory>,
}

/// The results of the `all` run of `scale` written beside the report `output`, with the routes
/// of this run instead of its own (`routes --write`).
pub(crate) fn with_routes_of_this_run(
    scale: Scale,
    postgres: String,
    autovacuum: String,
    cores: Cores,
    routes: Routes,
    output: &Path,
) -> Results {
    let dir = results_dir(output);
    let json = dir.join(format!("{}.json", scale.name));
    let text = std::fs::read_to_string(&json).unwrap_or_else(|error| {
        panic!(
            "{}: {error} (the `all` run of this scale writes it)",
            json.display()
        )
    });
    // The passes and functions are named by `&'static str`: read from text that lives as long.
    let earlier: Earlier = serde_json::from_str(Box::leak(text.into_boxed_str()))
        .unwrap_or_else(|error| panic!("{}: {error}", json.display()));
    let plans =
        std::fs::read_to_string(dir.join(format!("{}-plans.txt", scale.name))).unwrap_or_default();
    Results {
        scale,
        machine: machine(),
        postgres,
        autovacuum,
        statistics: earlier.statistics,
        loaded: earlier.loaded,
        cores,
        routes: routes.routes,
        whatsapp: routes.whatsapp,
        routes_alone: true,
        evaluator: earlier.evaluator,
        evaluator_floor: earlier.evaluator_floor,
        cold_start: earlier.cold_start,
        plans,
        directory: earlier.directory,
        directory_plans: std::fs::read_to_string(dir.join(directory_plans_file(&scale)))
            .unwrap_or_default(),
    }
}

/// The file of the lead directory's plans, in `bench/results/`.
fn directory_plans_file(scale: &Scale) -> String {
    format!("{}-directory-plans.txt", scale.name)
}

/// Writes the report to `output`, and the JSON, the plans and the latency chart to
/// `bench/results/` beside it.
pub(crate) fn write(results: &Results, output: &Path) {
    let scale = &results.scale;
    let results_dir = results_dir(output);
    std::fs::create_dir_all(&results_dir).expect("results dir");
    let json = results_dir.join(format!("{}.json", scale.name));
    std::fs::write(&json, serde_json::to_string_pretty(results).unwrap()).expect("write json");
    let plans = results_dir.join(format!("{}-plans.txt", scale.name));
    std::fs::write(&plans, &results.plans).expect("write plans");
    if results.directory.is_some() {
        std::fs::write(
            results_dir.join(directory_plans_file(scale)),
            &results.directory_plans,
        )
        .expect("write the directory's plans");
    }
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

/// Writes the lead directory's section alone (`directory --write`): its part of the JSON and its
/// plans in `bench/results/`, and its section of the report `output`, every other section kept
/// (the section is added before the evaluator's when the report has none yet).
pub(crate) fn write_directory(scale: &Scale, directory: &Directory, plans: &str, output: &Path) {
    let results_dir = results_dir(output);
    std::fs::create_dir_all(&results_dir).expect("results dir");
    let json = results_dir.join(format!("{}.json", scale.name));
    let figures = serde_json::to_string_pretty(directory)
        .expect("the directory's figures")
        .replace('\n', "\n  ");
    // The other figures as they were written (in their order): `directory` is the last field of
    // `Results`, so it is replaced or added at the end.
    let text = std::fs::read_to_string(&json)
        .ok()
        .filter(|text| serde_json::from_str::<serde_json::Value>(text).is_ok_and(|v| v.is_object()))
        .unwrap_or_else(|| "{}".to_owned());
    let kept = match text.find("\n  \"directory\": ") {
        Some(at) => text[..at].trim_end_matches(',').to_owned(),
        None => text.trim_end().trim_end_matches('}').trim_end().to_owned(),
    };
    let separator = if kept.trim_end().ends_with('{') {
        ""
    } else {
        ","
    };
    let rewritten = format!("{kept}{separator}\n  \"directory\": {figures}\n}}");
    serde_json::from_str::<serde_json::Value>(&rewritten).expect("the results stay JSON");
    std::fs::write(&json, rewritten).expect("write json");
    let plans_path = results_dir.join(directory_plans_file(scale));
    std::fs::write(&plans_path, plans).expect("write the directory's plans");
    let mut section = String::new();
    crate::report::directory(&mut section, Some(directory), scale.name);
    let text = std::fs::read_to_string(output).unwrap_or_default();
    std::fs::write(
        output,
        with_section(&text, "## Lead directory\n", "## Evaluator\n", &section),
    )
    .expect("write report");
    println!(
        "wrote the lead directory's section of {}, and {} and {}",
        output.display(),
        json.display(),
        plans_path.display()
    );
}

/// `report` with its section under `heading` replaced by `section` (or added before the section
/// under `next`, or at the end).
pub(crate) fn with_section(report: &str, heading: &str, next: &str, section: &str) -> String {
    let at_line_start = |heading: &str| {
        report
            .match_indices(heading)
            .find(|(at, _)| *at == 0 || report[..*at].ends_with('\n'))
            .map(|(at, _)| at)
    };
    let (before, after) = match at_line_start(heading) {
        Some(start) => {
            let rest = &report[start + heading.len()..];
            let end = rest
                .find("\n## ")
                .map_or(report.len(), |at| start + heading.len() + at + 1);
            (&report[..start], &report[end..])
        }
        None => match at_line_start(next) {
            Some(at) => (&report[..at], &report[at..]),
            None => (report, ""),
        },
    };
    let mut text = before.to_owned();
    if !text.is_empty() && !text.ends_with("\n\n") {
        text.push('\n');
    }
    text.push_str(section);
    text.push_str(after);
    text
}
