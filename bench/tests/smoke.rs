//! A smoke run of the benchmark tools on a tiny data set, so that they do not rot. It checks that
//! every benchmark ran and wrote its report, not how fast anything was.

use std::process::Command;

#[test]
fn a_tiny_run_measures_every_route_and_writes_the_report() {
    let dir = std::env::temp_dir().join(format!("max-bench-smoke-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let report = dir.join("BENCHMARKS.md");
    let output = Command::new(env!("CARGO_BIN_EXE_max-bench"))
        .args([
            "all",
            "--scale",
            "tiny",
            "--duration",
            "1",
            "--concurrency",
            "2",
            "--drop",
        ])
        // A database of its own, dropped at the end: runs never see each other's data.
        .env(
            "MAX_BENCH_DATABASE",
            format!("max_bench_smoke_{}", std::process::id()),
        )
        .arg("--output")
        .arg(&report)
        .output()
        .expect("max-bench runs");
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success(),
        "{stdout}{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let text = std::fs::read_to_string(&report).unwrap();
    for route in [
        "### GET /api/alerts/active (small tenant)",
        "### GET /api/alerts/active (huge tenant, ",
        "### POST /api/activities/log",
        "### POST /api/activities/log (Idempotency-Key)",
        "### POST /api/alerts/{id}/resolve",
        "| nothing to change |",
        "| alert-evaluator |",
        "### Where the processor time goes",
    ] {
        assert!(
            text.contains(route),
            "{route} missing from the report:\n{text}"
        );
    }
    let results: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(dir.join("bench/results/tiny.json")).unwrap(),
    )
    .unwrap();
    for route in results["routes"].as_array().unwrap() {
        for http in route["http"].as_array().unwrap() {
            assert!(http["requests"].as_u64().unwrap() > 0, "{route}");
            assert_eq!(http["errors"], 0, "{route}");
        }
        // The server and PostgreSQL did the work: their CPU time was measured.
        for cpu in route["http_cpu"].as_array().unwrap() {
            assert!(cpu["server_us"].as_f64().unwrap() > 0.0, "{route}");
            assert!(cpu["postgres_us"].as_f64().unwrap() > 0.0, "{route}");
        }
        for db in route["database"].as_array().unwrap() {
            assert_eq!(db["failed"], false, "pgbench failed: {route}");
        }
    }
    let _ = std::fs::remove_dir_all(&dir);
}
