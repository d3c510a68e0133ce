//! Cold start and footprint: each function's release binary started many times against the
//! emulated Lambda Runtime API (the real runtime loop, secrets from the environment, a first
//! database connection in init), timed from process start to its first answered invocation.

use std::path::Path;
use std::time::Instant;

use shared::testing::lambda::{FunctionProcess, RuntimeApi};

/// What one function measured.
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
pub struct ColdStart {
    pub function: &'static str,
    pub starts: usize,
    pub median_ms: f64,
    pub p90_ms: f64,
    pub peak_rss_mb: f64,
    pub binary_mb: f64,
}

/// The functions, and an event each answers (the ones that need no data go through their
/// whole handler and a database round trip or a rejection before it).
const FUNCTIONS: [(&str, &str); 4] = [
    (
        "log-activity",
        include_str!("../../events/log-activity-no-credential.json"),
    ),
    ("active-alerts", include_str!("../../events/health.json")),
    (
        "resolve-alert",
        include_str!("../../events/resolve-alert-malformed-id.json"),
    ),
    (
        "alert-evaluator",
        include_str!("../../events/scheduled-evaluation.json"),
    ),
];

/// Builds (or checks up to date) the functions' binaries beside this one, in the same profile.
fn binaries(dir: &Path) {
    let mut command = crate::server::cargo_build(dir);
    for (name, _) in FUNCTIONS {
        command.args(["-p", name]);
    }
    assert!(
        command.status().expect("cargo").success(),
        "cannot build the functions"
    );
}

fn peak_rss_mb(pid: u32) -> f64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .ok()
        .and_then(|status| {
            status
                .lines()
                .find(|l| l.starts_with("VmHWM:"))
                .and_then(|l| l.split_whitespace().nth(1))
                .and_then(|kb| kb.parse::<f64>().ok())
        })
        .map_or(0.0, |kb| kb / 1024.0)
}

pub async fn measure(database_url: &str, starts: usize) -> Vec<ColdStart> {
    let exe = std::env::current_exe().expect("current exe");
    let dir = exe.parent().expect("exe dir");
    binaries(dir);
    let mut results = Vec::new();
    for (name, event) in FUNCTIONS {
        let binary = dir.join(name);
        let binary = binary.to_str().expect("path");
        let mut times = Vec::with_capacity(starts);
        let mut rss: f64 = 0.0;
        for _ in 0..starts {
            let api = RuntimeApi::start().await;
            let started = Instant::now();
            let function = FunctionProcess::start(binary, &api, &[("DATABASE_URL", database_url)]);
            let _ = api.invoke(event).await;
            times.push(started.elapsed().as_secs_f64() * 1000.0);
            rss = rss.max(peak_rss_mb(function.pid()));
            drop(function);
        }
        times.sort_by(f64::total_cmp);
        results.push(ColdStart {
            function: name,
            starts,
            median_ms: times[times.len() / 2],
            p90_ms: times[(times.len() * 9 / 10).min(times.len() - 1)],
            peak_rss_mb: rss,
            binary_mb: std::fs::metadata(binary).map_or(0.0, |m| m.len() as f64 / 1e6),
        });
        println!(
            "cold start {name}: median {:.1} ms, p90 {:.1} ms, peak RSS {:.1} MB",
            results.last().unwrap().median_ms,
            results.last().unwrap().p90_ms,
            rss
        );
    }
    results
}
