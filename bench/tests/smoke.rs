//! A smoke run of the benchmark tools on a tiny data set, so that they do not rot: `generate`,
//! `routes` on what it loaded, then `all` with `--drop`, then `routes` and `directory` alone. It
//! checks that every benchmark ran and wrote its report, not how fast anything was.

use std::process::Command;

/// Runs max-bench on its own database; panics with its output when it fails.
fn max_bench(database: &str, args: &[&str]) -> String {
    let output = Command::new(env!("CARGO_BIN_EXE_max-bench"))
        .args(args)
        // A database of its own: runs never see each other's data.
        .env("MAX_BENCH_DATABASE", database)
        .output()
        .expect("max-bench runs");
    let stdout = String::from_utf8_lossy(&output.stdout).into_owned();
    assert!(
        output.status.success(),
        "{stdout}{}",
        String::from_utf8_lossy(&output.stderr)
    );
    stdout
}

/// The PostgreSQL server the benchmark uses.
fn server() -> String {
    std::env::var("BENCH_DATABASE_URL")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/postgres".to_owned())
}

fn database_exists(name: &str) -> bool {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    runtime.block_on(async {
        let client = shared::admin::connect(&server()).await.unwrap();
        let count: i64 = client
            .query_one(
                "SELECT count(*) FROM pg_database WHERE datname = $1",
                &[&name],
            )
            .await
            .unwrap()
            .get(0);
        count == 1
    })
}

/// The distinct Idempotency-Keys and leads the HTTP log benchmark wrote in `database`.
fn bench_writes(database: &str) -> (i64, i64) {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    runtime.block_on(async {
        let url = shared::admin::with_database(&server(), database).unwrap();
        let client = shared::admin::connect(&url).await.unwrap();
        let row = client
            .query_one(
                "SELECT count(DISTINCT idempotency_key) FILTER (WHERE idempotency_key LIKE 'bench-%'),
                        count(DISTINCT lead_id) FILTER (WHERE lead_id LIKE 'bench-%')
                   FROM lead_activities",
                &[],
            )
            .await
            .unwrap();
        (row.get(0), row.get(1))
    })
}

/// The WhatsApp webhook's notifications stored in `database`: the activities of its benchmark's
/// messages, the tenants and the leads they went to, and the messages left unmatched.
fn whatsapp_writes(database: &str) -> (i64, i64, i64, i64) {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    runtime.block_on(async {
        let url = shared::admin::with_database(&server(), database).unwrap();
        let client = shared::admin::connect(&url).await.unwrap();
        let row = client
            .query_one(
                "SELECT count(*), count(DISTINCT tenant_id), count(DISTINCT lead_id),
                        (SELECT count(*) FROM max_unmatched_messages)
                   FROM lead_activities
                  WHERE channel = 'whatsapp' AND external_id LIKE 'bench-%'
                    AND lead_id LIKE 'lead-%'",
                &[],
            )
            .await
            .unwrap();
        (row.get(0), row.get(1), row.get(2), row.get(3))
    })
}

/// Drops `database`.
fn drop_database(database: &str) {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    runtime.block_on(async {
        shared::admin::connect(&server())
            .await
            .unwrap()
            .batch_execute(&format!("DROP DATABASE IF EXISTS {database} WITH (FORCE)"))
            .await
            .unwrap();
    });
}

/// The cores process `pid` may run on.
fn affinity(pid: &str) -> String {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .unwrap()
        .lines()
        .find_map(|line| line.strip_prefix("Cpus_allowed_list:"))
        .unwrap()
        .trim()
        .to_owned()
}

/// A PostgreSQL server process on this machine.
fn postgres_pid() -> String {
    std::fs::read_dir("/proc")
        .unwrap()
        .filter_map(|entry| entry.ok()?.file_name().into_string().ok())
        .find(|pid| {
            std::fs::read_to_string(format!("/proc/{pid}/comm"))
                .is_ok_and(|comm| comm.trim() == "postgres")
        })
        .expect("PostgreSQL runs on this machine")
}

#[test]
fn a_tiny_run_measures_every_route_and_writes_the_report() {
    let database = format!("max_bench_smoke_{}", std::process::id());
    // The quick commands for trying a change: load only, then the routes on what it loaded.
    max_bench(&database, &["generate", "--scale", "tiny"]);
    assert!(database_exists(&database));
    let routes = max_bench(
        &database,
        &[
            "routes",
            "--scale",
            "tiny",
            "--only",
            "small tenant",
            "--duration",
            "1",
            "--concurrency",
            "1",
            "--cpu-concurrency",
            "1",
        ],
    );
    assert!(
        routes.contains("GET /api/alerts/active (small tenant)") && routes.contains("errors 0"),
        "{routes}"
    );
    assert!(
        !routes.contains("POST"),
        "--only keeps the other routes out: {routes}"
    );

    // Every logged request writes a new lead under a new Idempotency-Key, from one concurrency
    // level to the next and with the cores split or not: none replays an earlier one.
    let logged = max_bench(
        &database,
        &[
            "routes",
            "--scale",
            "tiny",
            "--only",
            "Idempotency-Key",
            "--duration",
            "1",
            "--concurrency",
            "1,2",
            "--cpu-concurrency",
            "2",
        ],
    );
    let requests: i64 = logged
        .lines()
        .filter_map(|line| line.split("requests ").nth(1))
        .map(|rest| {
            rest.split_whitespace()
                .next()
                .unwrap()
                .parse::<i64>()
                .unwrap()
        })
        .sum();
    assert!(requests > 0, "{logged}");
    assert_eq!(
        bench_writes(&database),
        (requests, requests),
        "distinct keys and leads against requests: {logged}"
    );

    // The webhook: its mix at each level, then each kind of notification alone against the bare
    // work; every notification answered 200 and stored for a mapped lead, none unmatched.
    let webhook = max_bench(
        &database,
        &[
            "routes",
            "--scale",
            "tiny",
            "--only",
            "greenapi",
            "--duration",
            "1",
            "--concurrency",
            "1,2",
            "--cpu-concurrency",
            "2",
            "--no-split",
        ],
    );
    for route in [
        "POST /webhooks/greenapi (message, then sent, delivered, read)",
        "POST /webhooks/greenapi (messages only)",
        "POST /webhooks/greenapi (statuses only)",
    ] {
        assert!(webhook.contains(route), "{webhook}");
    }
    assert!(!webhook.contains("GET "), "{webhook}");
    for line in webhook.lines().filter(|line| line.contains("errors ")) {
        assert!(line.contains("errors 0 "), "{line}");
    }
    // pgbench replayed the function's statement and the bare insert (a failure is 0 tx/s).
    for line in webhook.lines().filter(|line| line.contains(" tx/s")) {
        let tps: f64 = line
            .split(" tx/s")
            .next()
            .unwrap()
            .split_whitespace()
            .last()
            .unwrap()
            .parse()
            .unwrap();
        assert!(tps > 0.0, "{line}");
    }
    let (stored, tenants, leads, unmatched) = whatsapp_writes(&database);
    assert!(
        stored > 0 && tenants == 4 && leads > 1 && unmatched == 0,
        "{stored} activities of {leads} leads of {tenants} tenants, {unmatched} unmatched: {webhook}"
    );

    let dir = std::env::temp_dir().join(format!("max-bench-smoke-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let report = dir.join("BENCHMARKS.md");
    let report_arg = report.to_str().unwrap();
    let stdout = max_bench(
        &database,
        &[
            "all",
            "--scale",
            "tiny",
            "--duration",
            "1",
            "--concurrency",
            "2",
            "--cpu-concurrency",
            "3",
            "--drop",
            "--output",
            report_arg,
        ],
    );
    assert!(
        !database_exists(&database),
        "--drop keeps nothing: {stdout}"
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
        "| PostgreSQL alone: the full pass's writes |",
        "### Where the processor time goes",
        "### PostgreSQL's CPU per request against the bare work",
        "| POST /api/activities/log | unflushed |",
        "| POST /api/alerts/{id}/resolve | flushed |",
        "### POST /webhooks/greenapi (message, then sent, delivered, read)",
        "### POST /webhooks/greenapi: a status against a message",
        "| mix (message, sent, delivered, read) | flushed |",
        "| message | unflushed |",
        "| status (sent, delivered, read) | flushed |",
        "A status notification over a message notification",
        "## Lead directory",
        "| full, every lead new |",
        "| incremental, 1 % of the leads changed |",
        "| full again, nothing changed |",
        "| PostgreSQL alone: the same leads and numbers, two `INSERT ... SELECT` |",
        "### The listing reads one directory row per shown alert",
        "| after ANALYZE max_leads, max_lead_phones, max_alerts |",
        "| after ANALYZE: full again, nothing changed |",
        "Conditions: autovacuum o",
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
    // The full pass's writes, replayed by PostgreSQL alone: every alert the pass raised and every
    // lead it evaluated.
    let full_pass = &results["evaluator"][0];
    let floor = &results["evaluator_floor"];
    assert_eq!(
        floor["leads_rescheduled"], full_pass["leads_evaluated"],
        "{floor}"
    );
    let inserted = floor["alerts_inserted"].as_u64().unwrap();
    assert!(
        inserted > 0 && inserted <= full_pass["alerts_changed"].as_u64().unwrap(),
        "{floor} {full_pass}"
    );
    // The lead directory: every lead of the fake EspoCRM written once, 1 % again, none by the
    // pass with nothing changed; one upsert per page; the floor wrote the same leads; the
    // listing probed the directory once per fetched row at most.
    let directory = &results["directory"];
    let syncs = directory["syncs"].as_array().unwrap();
    let leads = directory["leads"].as_u64().unwrap();
    assert_eq!(leads, 500, "{directory}");
    let written: Vec<_> = syncs
        .iter()
        .map(|s| s["leads_written"].as_u64().unwrap())
        .collect();
    assert_eq!(written, [500, 5, 0, 5, 0], "{directory}");
    for sync in syncs {
        assert_eq!(sync["outcome"], "ok", "{directory}");
        assert!(
            sync["upsert_statements"].as_i64().unwrap() > 0,
            "{directory}"
        );
        assert!(sync["crm_requests"].as_u64().unwrap() > 0, "{directory}");
    }
    assert_eq!(
        syncs[0]["upsert_statements"], 3,
        "pages of 200: {directory}"
    );
    assert_eq!(directory["floor"]["leads"], 500, "{directory}");
    for listing in directory["listing"].as_array().unwrap() {
        let probes = listing["directory_probes"].as_u64().unwrap();
        assert!(probes > 0 && probes <= 51, "{directory}");
    }
    assert!(
        std::fs::read_to_string(dir.join("bench/results/tiny-directory-plans.txt"))
            .unwrap()
            .contains("max_leads_pkey"),
    );
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
        // PostgreSQL's time against the bare work, commits flushed then unflushed: through HTTP
        // (at a concurrency of its own, so measured again), replayed and bare.
        let against_bare = route["against_bare"].as_array().unwrap();
        let commits: Vec<_> = against_bare.iter().map(|run| &run["commits"]).collect();
        assert_eq!(commits, ["flushed", "unflushed"], "{route}");
        for run in against_bare {
            assert_eq!(run["http"]["concurrency"], 3, "{route}");
            assert_eq!(run["http"]["errors"], 0, "{route}");
            assert!(
                run["http_cpu"]["postgres_us"].as_f64().unwrap() > 0.0,
                "{route}"
            );
            for side in ["replay", "bare"] {
                assert_eq!(run[side]["failed"], false, "pgbench failed: {route}");
                assert!(run[side]["postgres_us"].as_f64().unwrap() > 0.0, "{route}");
            }
        }
        // Measured again with the database on cores of its own, where this machine lets the
        // cores be split; otherwise the report says why not.
        let split = route["split"].as_array().unwrap();
        if results["cores"]["split"].is_null() {
            assert!(split.is_empty(), "{route}");
        } else {
            assert_eq!(
                split.len(),
                route["http"].as_array().unwrap().len(),
                "{route}"
            );
            for run in split {
                assert!(run["http"]["requests"].as_u64().unwrap() > 0, "{route}");
                assert_eq!(run["http"]["errors"], 0, "{route}");
                assert_eq!(run["database"]["failed"], false, "{route}");
            }
        }
    }
    // The report says under which autovacuum and statistics conditions it measured.
    assert!(
        text.contains("- Conditions: autovacuum o")
            && text.contains("ran `VACUUM ANALYZE` after loading"),
        "{text}"
    );
    assert!(
        text.contains("### The database on cores of its own")
            && (text.contains("| GET /api/alerts/active (small tenant) | 2 |")
                || text.contains("Not measured in this run: ")),
        "{text}"
    );
    // The cores are given back: PostgreSQL's processes may run on every core this test may.
    assert_eq!(affinity(&postgres_pid()), affinity("self"));

    // The routes alone, written into the report `all` wrote: the route sections from this run
    // (here the webhook's only), every other one kept.
    max_bench(&database, &["generate", "--scale", "tiny"]);
    max_bench(
        &database,
        &[
            "routes",
            "--scale",
            "tiny",
            "--only",
            "greenapi",
            "--duration",
            "1",
            "--concurrency",
            "1",
            "--cpu-concurrency",
            "1",
            "--no-split",
            "--write",
            "--output",
            report_arg,
        ],
    );
    drop_database(&database);
    let rewritten = std::fs::read_to_string(&report).unwrap();
    for kept in [
        "later run of the routes alone, `max-bench routes --scale tiny --write`",
        "### POST /webhooks/greenapi (message, then sent, delivered, read)",
        "| message | flushed |",
        "| full pass (every lead due) |",
        "| PostgreSQL alone: the full pass's writes |",
        "| alert-evaluator |",
        "| full, every lead new |",
    ] {
        assert!(rewritten.contains(kept), "{kept} missing:\n{rewritten}");
    }
    assert!(
        !rewritten.contains("### POST /api/activities/log"),
        "{rewritten}"
    );

    // The lead directory alone, written into the same report: its section replaced, every other
    // one kept.
    max_bench(
        &database,
        &[
            "directory",
            "--scale",
            "tiny",
            "--write",
            "--output",
            report_arg,
        ],
    );
    let alone = std::fs::read_to_string(&report).unwrap();
    assert_eq!(alone.matches("## Lead directory").count(), 1, "{alone}");
    for kept in [
        "Measured alone by `max-bench directory --scale tiny --write`",
        "| full again, nothing changed |",
        "### POST /webhooks/greenapi (message, then sent, delivered, read)",
        "| alert-evaluator |",
    ] {
        assert!(alone.contains(kept), "{kept} missing:\n{alone}");
    }
    assert!(
        alone.find("## Lead directory") < alone.find("## Evaluator"),
        "{alone}"
    );
    assert!(!database_exists(&format!("{database}_directory")));
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn a_tiny_statistics_run_times_the_same_pass_with_stale_and_with_fresh_statistics() {
    let database = format!("max_bench_stats_{}", std::process::id());
    let dir = std::env::temp_dir().join(format!("max-bench-stats-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let report = dir.join("BENCHMARKS.md");
    let stdout = max_bench(
        &database,
        &[
            "statistics",
            "--scale",
            "tiny",
            "--stale",
            "never,scheduled",
            "--output",
            report.to_str().unwrap(),
        ],
    );
    assert!(stdout.contains("autovacuum "), "{stdout}");
    let results: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(dir.join("bench/results/tiny-statistics.json")).unwrap(),
    )
    .unwrap();
    assert!(results["autovacuum"].is_string(), "{results}");
    let comparisons = results["comparisons"].as_array().unwrap();
    assert_eq!(
        comparisons
            .iter()
            .map(|c| c["staleness"].as_str().unwrap())
            .collect::<Vec<_>>(),
        ["never", "scheduled"]
    );
    for comparison in comparisons {
        // The same data on both sides: every generated lead evaluated, alerts raised.
        for side in ["stale", "fresh"] {
            let pass = &comparison[side];
            assert!(
                pass["leads_evaluated"].as_u64().unwrap() >= 2_000,
                "{comparison}"
            );
            assert!(pass["alerts_changed"].as_u64().unwrap() > 0, "{comparison}");
            assert!(pass["seconds"].as_f64().unwrap() > 0.0, "{comparison}");
        }
        assert!(comparison["ratio"].as_f64().unwrap() > 0.0, "{comparison}");
    }
    let plans =
        std::fs::read_to_string(dir.join("bench/results/tiny-statistics-plans.txt")).unwrap();
    assert!(
        plans.contains("stale statistics") && plans.contains("CTE open_alerts"),
        "{plans}"
    );
    // The copies and their source are dropped.
    for part in ["src", "stale", "fresh"] {
        assert!(!database_exists(&format!("{database}_stats_{part}")));
    }
    let _ = std::fs::remove_dir_all(&dir);
}
