//! `max-bench`: reruns every benchmark and rewrites BENCHMARKS.md.
//!
//!     cargo run --release -p max-bench -- all --quick
//!
//! Loads a seeded data set with binary COPY, serves it with `max-local serve` (the functions'
//! handlers), loads each route over loopback at several concurrencies, replays the same SQL with
//! pgbench as the database's own limit, and times the evaluator's passes.

mod coldstart;
mod cores;
mod cpu;
mod floor;
mod generate;
mod load;
mod pgbench;

use std::fmt::Write as _;
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use clap::{Parser, Subcommand};
use generate::{HUGE, RESOLVE, SMALL, Scale};
use load::{Call, Stats};
use pgbench::PgbenchStats;
use serde::Serialize;
use shared::admin;
use shared::config::{EvaluatorSettings, PoolSettings};
use shared::db::Db;
use shared::evaluator::Evaluator;
use shared::tenancy::{ApiKey, Scope, TenantId};

#[derive(Parser)]
#[command(
    name = "max-bench",
    about = "Benchmarks of M.A.X. Living Alerts; rewrites BENCHMARKS.md."
)]
struct Cli {
    #[command(subcommand)]
    command: Run,
}

#[derive(Subcommand)]
enum Run {
    /// Generate the data, run every benchmark, write the results.
    All {
        /// The small data set (50,000 leads): a run of a few minutes.
        #[arg(long, conflicts_with = "scale")]
        quick: bool,
        /// tiny, quick or full (1,000,000 leads, 10,000,000 activities).
        #[arg(long, default_value = "quick")]
        scale: String,
        #[command(flatten)]
        load: Load,
        /// Where to write the report (default: BENCHMARKS.md at the root of the repository).
        #[arg(long)]
        output: Option<PathBuf>,
        /// Drop the benchmark database at the end (it is kept by default, for `routes`).
        #[arg(long)]
        drop: bool,
    },
    /// Only load the data set into `max_bench_<scale>` (every lead due for the evaluator), for
    /// trying the evaluator or a query by hand.
    Generate {
        /// tiny, quick or full.
        #[arg(long, default_value = "quick")]
        scale: String,
    },
    /// Only the route benchmarks, on the data set an earlier `all` left (`max_bench_<scale>`);
    /// prints the figures and writes nothing. For trying a change quickly.
    Routes {
        /// tiny, quick or full: the data set `all` loaded.
        #[arg(long, default_value = "quick")]
        scale: String,
        #[command(flatten)]
        load: Load,
        /// Only the routes whose name contains this text.
        #[arg(long, default_value = "")]
        only: String,
    },
}

/// How each route is loaded.
#[derive(clap::Args)]
struct Load {
    /// Seconds per measurement.
    #[arg(long, default_value_t = 5)]
    duration: u64,
    /// Concurrency levels, comma-separated.
    #[arg(long, value_delimiter = ',', default_value = "1,8,32")]
    concurrency: Vec<usize>,
    /// Measure on shared cores only, not again with the database on cores of its own.
    #[arg(long)]
    no_split: bool,
}

#[derive(Serialize)]
struct RouteResult {
    route: String,
    pgbench_script: &'static str,
    http: Vec<Stats>,
    /// CPU time per request of each process, during each HTTP measurement.
    http_cpu: Vec<cpu::PerRequest>,
    database: Vec<PgbenchStats>,
    /// The same, with the database on cores of its own (empty when the cores were not split).
    split: Vec<SplitRun>,
}

/// A route over HTTP and its statements with pgbench, PostgreSQL on cores of its own.
#[derive(Serialize)]
struct SplitRun {
    http: Stats,
    database: PgbenchStats,
}

/// How the cores were shared out for the split measurements, or why they were not.
#[derive(Serialize)]
struct Cores {
    split: Option<cores::Split>,
    not_split: Option<String>,
}

#[derive(Serialize)]
struct EvaluatorPass {
    pass: &'static str,
    seconds: f64,
    leads_evaluated: u64,
    alerts_changed: u64,
}

#[derive(Serialize)]
struct Results {
    scale: Scale,
    machine: String,
    postgres: String,
    loaded: generate::Loaded,
    cores: Cores,
    routes: Vec<RouteResult>,
    evaluator: Vec<EvaluatorPass>,
    /// The full pass's writes, by PostgreSQL alone.
    evaluator_floor: floor::Floor,
    cold_start: Vec<coldstart::ColdStart>,
    /// `EXPLAIN (ANALYZE, BUFFERS)` of the statements that matter, as text.
    #[serde(skip)]
    plans: String,
}

fn server_url() -> String {
    std::env::var("BENCH_DATABASE_URL")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/postgres".to_owned())
}

fn machine() -> String {
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

/// The repository's root (this crate's parent folder).
fn repository() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("the bench crate lives in the repository")
}

/// `cargo build` for this workspace, wherever the benchmark is started from, in the profile of
/// the binaries in `dir` (named by its folder: `debug`, `release`, `profiling`).
pub fn cargo_build(dir: &Path) -> Command {
    let mut command = Command::new(std::env::var("CARGO").unwrap_or_else(|_| "cargo".into()));
    command
        .arg("build")
        .arg("--manifest-path")
        .arg(repository().join("Cargo.toml"));
    if let Some(profile) = dir.file_name().and_then(|name| name.to_str())
        && profile != "debug"
    {
        command.args(["--profile", profile]);
    }
    command
}

/// The max-local binary beside this one, built (or checked up to date) in the same profile.
fn max_local() -> PathBuf {
    let exe = std::env::current_exe().expect("current exe");
    let dir = exe.parent().expect("exe dir");
    let mut command = cargo_build(dir);
    command.args(["-p", "max-local"]);
    assert!(
        command.status().expect("cargo").success(),
        "cannot build max-local"
    );
    dir.join("max-local")
}

struct Serve {
    child: std::process::Child,
    address: String,
}

impl Drop for Serve {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// `max-local serve` with at most `connections` database connections: the pool opens them as
/// requests need them, so at each concurrency up to it the server holds as many backends as
/// pgbench opens for the same concurrency.
fn serve(url: &str, connections: usize) -> Serve {
    let mut child = Command::new(max_local())
        .args(["serve", "--port", "0", "--evaluate-every", "0"])
        .env("DATABASE_URL", url)
        .env("RUST_LOG", "warn")
        .env("JWT_SECRET", "max-bench-secret-0123456789abcdefghij")
        .env("DB_POOL_SIZE", connections.to_string())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .expect("max-local serve");
    let stdout = child.stdout.take().expect("stdout");
    let mut lines = BufReader::new(stdout).lines();
    let mut address = None;
    for line in lines.by_ref().map_while(Result::ok) {
        if let Some(rest) = line.strip_prefix("Listening on http://") {
            address = Some(rest.trim().to_owned());
            break;
        }
    }
    // Keep reading what it prints later, so that it never writes to a closed pipe.
    std::thread::spawn(move || lines.for_each(drop));
    Serve {
        child,
        address: address.expect("max-local serve printed its address"),
    }
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().fold(String::new(), |mut out, b| {
        let _ = write!(out, "{b:02x}");
        out
    })
}

/// The benchmark's database: `max_bench_<scale>`, or `MAX_BENCH_DATABASE` when set (a name of
/// lowercase letters, digits and underscores).
fn database_name(scale: &Scale) -> String {
    match std::env::var("MAX_BENCH_DATABASE") {
        Ok(name) if !name.is_empty() => {
            assert!(
                name.bytes()
                    .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_'),
                "MAX_BENCH_DATABASE: lowercase letters, digits and underscores only"
            );
            name
        }
        _ => format!("max_bench_{}", scale.name),
    }
}

fn scale_named(name: &str) -> Scale {
    match name {
        "quick" => generate::QUICK,
        "tiny" => generate::TINY,
        "full" => generate::FULL,
        other => panic!("unknown scale {other}: tiny, quick or full"),
    }
}

#[tokio::main]
async fn main() {
    cores::restore_on_panic();
    let (quick, scale, load, output, drop) = match Cli::parse().command {
        Run::All {
            quick,
            scale,
            load,
            output,
            drop,
        } => (quick, scale, load, output, drop),
        Run::Generate { scale } => {
            load_database(&scale_named(&scale)).await;
            return;
        }
        Run::Routes { scale, load, only } => {
            let scale = scale_named(&scale);
            let url = admin::with_database(&server_url(), &database_name(&scale)).expect("url");
            let mut client = admin::connect(&url)
                .await
                .expect("the benchmark database (run `all` or `generate` first)");
            let cores = split_cores(&load);
            route_benchmarks(&url, &mut client, &scale, &load, &cores, &only).await;
            return;
        }
    };
    let scale = scale_named(if quick { "quick" } else { &scale });
    let output = output.unwrap_or_else(|| repository().join("BENCHMARKS.md"));
    let results = run(scale, &load).await;
    if drop {
        admin::connect(&server_url())
            .await
            .expect("reach PostgreSQL")
            .batch_execute(&format!(
                "DROP DATABASE IF EXISTS {} WITH (FORCE)",
                database_name(&scale)
            ))
            .await
            .expect("drop the benchmark database");
    }
    let results_dir = output
        .parent()
        .map(|p| p.join("bench/results"))
        .unwrap_or_else(|| PathBuf::from("bench/results"));
    std::fs::create_dir_all(&results_dir).expect("results dir");
    let json = results_dir.join(format!("{}.json", scale.name));
    std::fs::write(&json, serde_json::to_string_pretty(&results).unwrap()).expect("write json");
    let plans = results_dir.join(format!("{}-plans.txt", scale.name));
    std::fs::write(&plans, &results.plans).expect("write plans");
    let svg = results_dir.join(format!("{}-active-alerts-latency.svg", scale.name));
    std::fs::write(&svg, plot(&results)).expect("write svg");
    std::fs::write(&output, report(&results, &svg, &output)).expect("write report");
    println!(
        "wrote {}, {}, {} and {}",
        output.display(),
        json.display(),
        plans.display(),
        svg.display()
    );
}

/// A fresh `max_bench_<scale>` database, migrated and loaded with the data set.
async fn load_database(scale: &Scale) -> (String, tokio_postgres::Client, generate::Loaded) {
    let name = database_name(scale);
    let admin_client = admin::connect(&server_url())
        .await
        .expect("reach PostgreSQL");
    for statement in [
        format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"),
        format!("CREATE DATABASE {name}"),
    ] {
        admin_client
            .batch_execute(&statement)
            .await
            .expect("create the benchmark database");
    }
    let url = admin::with_database(&server_url(), &name).expect("url");
    admin::migrate(&url).await.expect("migrate");

    println!("Loading the {} data set into {name}...", scale.name);
    let mut client = admin::connect(&url).await.expect("connect");
    let loaded = generate::load(&mut client, scale).await.expect("load");
    println!(
        "  {} activities and {} alerts in {:.1} s",
        loaded.activities, loaded.alerts, loaded.seconds
    );
    (url, client, loaded)
}

/// Whether, and how, the route measurements are repeated with the database on cores of its own:
/// tried once here, so that a machine where it cannot be done says why at the start.
fn split_cores(load: &Load) -> Cores {
    let split = if load.no_split {
        Err("not asked for (--no-split)".to_owned())
    } else {
        cores::plan().and_then(|split| split.apply(None).map(|_restored| split))
    };
    match split {
        Ok(split) => {
            println!(
                "Cores split for the second measurement of each route: PostgreSQL on {}, \
                 the server, the load generator and pgbench on {}",
                split.database, split.clients
            );
            Cores {
                split: Some(split),
                not_split: None,
            }
        }
        Err(reason) => {
            println!("Routes measured on shared cores only: {reason}");
            Cores {
                split: None,
                not_split: Some(reason),
            }
        }
    }
}

async fn run(scale: Scale, load: &Load) -> Results {
    let (url, mut client, loaded) = load_database(&scale).await;
    let postgres: String = client
        .query_one("SHOW server_version", &[])
        .await
        .expect("version")
        .get(0);
    // The evaluator first: every generated lead is due.
    let mut plans = String::new();
    plans.push_str(
        &explain(
            &client,
            "Evaluator: one batch of a full pass (rolled back)",
            None,
        )
        .await,
    );
    let (evaluator, evaluator_floor) = evaluator_passes(&url, &client).await;
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

    let cores = split_cores(load);
    let results = route_benchmarks(&url, &mut client, &scale, load, &cores, "").await;
    Results {
        scale,
        machine: machine(),
        postgres,
        loaded,
        cores,
        routes: results,
        evaluator,
        evaluator_floor,
        cold_start,
        plans,
    }
}

/// Each route over HTTP, then its statements with pgbench, at each concurrency level; then the
/// same again with the database on cores of its own, where they could be split.
async fn route_benchmarks(
    url: &str,
    client: &mut tokio_postgres::Client,
    scale: &Scale,
    load: &Load,
    cores: &Cores,
    only: &str,
) -> Vec<RouteResult> {
    let duration = Duration::from_secs(load.duration);
    let name = client
        .query_one("SELECT current_database()", &[])
        .await
        .expect("database name")
        .get::<_, String>(0);
    let mut keys = Vec::new();
    for tenant in [HUGE, SMALL, RESOLVE] {
        let tenant = TenantId::parse(tenant).unwrap();
        let (key, _) = admin::create_key(client, &tenant, &Scope::ALL, Some("bench"))
            .await
            .expect("key");
        keys.push(key);
    }
    let (huge_key, small_key, resolve_key) = (keys[0].clone(), keys[1].clone(), keys[2].clone());
    let key_hash = |key: &str| hex(ApiKey::parse(key).unwrap().hash());

    let server = serve(url, load.concurrency.iter().copied().max().unwrap_or(1));
    let address = server.address.clone();
    let resolve_alerts = scale.huge_open_alerts;
    // The huge tenant's own alerts, and those the evaluator raised for its leads.
    let huge_open: i64 = client
        .query_one(
            "SELECT count(*) FROM max_alerts WHERE tenant_id = $1 AND resolved_at IS NULL",
            &[&HUGE],
        )
        .await
        .expect("count the huge tenant's alerts")
        .get(0);
    let routes = [
        RouteBench::active(
            "GET /api/alerts/active (small tenant)".into(),
            SMALL,
            &small_key,
        ),
        RouteBench::active(
            format!("GET /api/alerts/active (huge tenant, {huge_open} open alerts)"),
            HUGE,
            &huge_key,
        ),
        RouteBench::log(SMALL, &small_key, false),
        RouteBench::log(SMALL, &small_key, true),
        RouteBench::resolve(RESOLVE, &resolve_key, resolve_alerts),
    ];
    let mut results = Vec::new();
    for RouteBench {
        route,
        script_name,
        make,
        script,
        tenant,
        key,
        scope,
    } in routes.into_iter().filter(|r| r.route.contains(only))
    {
        let variables = [
            ("tenant", tenant.to_owned()),
            ("keyhash", key_hash(&key)),
            ("scope", scope.to_owned()),
        ];
        println!("{route}");
        let mut http = Vec::new();
        let mut http_cpu = Vec::new();
        let mut database = Vec::new();
        let mut split = Vec::new();
        for &level in &load.concurrency {
            let before = cpu::Snapshot::take(Some(server.child.id()));
            let stats = load::run(&address, level, duration, make.clone()).await;
            let cpu = cpu::Snapshot::take(Some(server.child.id()))
                .per_request_since(&before, stats.requests);
            println!(
                "  http     c={level:<3} {:>8.0} req/s  p50 {:.2} ms  p99 {:.2} ms  errors {}  \
                 requests {}  CPU/request: server {:.0} us, load generator {:.0} us, PostgreSQL {:.0} us",
                stats.rps,
                stats.p50_ms,
                stats.p99_ms,
                stats.errors,
                stats.requests,
                cpu.server_us,
                cpu.load_generator_us,
                cpu.postgres_us
            );
            http.push(stats);
            http_cpu.push(cpu);
            let before = cpu::Snapshot::take(None);
            let mut db = pgbench::run(&name, &script, &variables, level, duration);
            let transactions = (db.tps * duration.as_secs_f64()) as usize;
            cpu::settle(&before);
            db.postgres_us = cpu::Snapshot::take(None)
                .per_request_since(&before, transactions)
                .postgres_us;
            println!(
                "  pgbench  c={level:<3} {:>8.0} tx/s   avg {:.2} ms  CPU/transaction: PostgreSQL {:.0} us",
                db.tps, db.latency_ms, db.postgres_us
            );
            database.push(db);
            if let Some(cores) = &cores.split {
                let applied = cores
                    .apply(Some(server.child.id()))
                    .expect("split the cores as at the start");
                let http = load::run(&address, level, duration, make.clone()).await;
                let db = pgbench::run(&name, &script, &variables, level, duration);
                drop(applied);
                println!(
                    "  split    c={level:<3} {:>8.0} req/s  p99 {:.2} ms  errors {}  requests {}  pgbench {:.0} tx/s  ratio {:.2}",
                    http.rps,
                    http.p99_ms,
                    http.errors,
                    http.requests,
                    db.tps,
                    http.rps / db.tps.max(f64::EPSILON)
                );
                split.push(SplitRun { http, database: db });
            }
        }
        results.push(RouteResult {
            route,
            pgbench_script: script_name,
            http,
            http_cpu,
            database,
            split,
        });
    }
    drop(server);
    results
}

/// `EXPLAIN (ANALYZE, BUFFERS)` of the evaluator's statement (no tenant) or of a page of active
/// alerts (for a tenant), run as the functions' role in a transaction that is rolled back.
async fn explain(client: &tokio_postgres::Client, title: &str, tenant: Option<&str>) -> String {
    let (role, sql) = match tenant {
        None => {
            let evaluator = Evaluator::default();
            let names: Vec<String> = evaluator
                .rule_names()
                .iter()
                .map(|name| format!("'{name}'"))
                .collect();
            (
                "max_evaluator".to_owned(),
                evaluator
                    .statement()
                    .replace("$1", &shared::evaluator::BATCH_SIZE.to_string())
                    .replace("$2", &format!("ARRAY[{}]", names.join(", "))),
            )
        }
        Some(tenant) => (
            "max_app".to_owned(),
            shared::alerts::ACTIVE_ALERTS
                .replace("$1", &format!("'{tenant}'"))
                .replace("$2", "0::int2")
                .replace("$3", "2::int2")
                .replace("$4", "(-1)::int2")
                .replace("$5", "false")
                .replace("$6", "'1900-01-01'::timestamptz")
                .replace("$7", "'00000000-0000-0000-0000-000000000000'::uuid")
                .replace("$8", "51"),
        ),
    };
    let tenant_setting = tenant.map_or(String::new(), |t| {
        format!("SET LOCAL app.tenant_id = '{t}';")
    });
    client
        .batch_execute(&format!(
            "BEGIN; SET LOCAL ROLE {role}; SET LOCAL jit = off; {tenant_setting}"
        ))
        .await
        .expect("begin");
    let rows = client
        .simple_query(&format!("EXPLAIN (ANALYZE, BUFFERS) {sql}"))
        .await
        .expect("explain");
    client.batch_execute("ROLLBACK").await.expect("rollback");
    let mut text = format!("## {title}\n\n");
    for message in rows {
        if let tokio_postgres::SimpleQueryMessage::Row(row) = message {
            text.push_str(row.get(0).unwrap_or(""));
            text.push('\n');
        }
    }
    text.push('\n');
    text
}

/// One route to load over HTTP and replay with pgbench.
struct RouteBench {
    route: String,
    script_name: &'static str,
    make: load::MakeCall,
    script: String,
    tenant: &'static str,
    key: String,
    scope: &'static str,
}

impl RouteBench {
    fn bearer(key: &str) -> (&'static str, String) {
        ("authorization", format!("Bearer {key}"))
    }

    /// `GET /api/alerts/active`, first page.
    fn active(route: String, tenant: &'static str, key: &str) -> Self {
        let header = Self::bearer(key);
        Self {
            route,
            script_name: "active_alerts",
            make: Arc::new(move |_, _| Call {
                method: "GET",
                path: "/api/alerts/active".into(),
                body: None,
                headers: vec![header.clone()],
            }),
            script: pgbench::active_alerts_script(),
            tenant,
            key: key.to_owned(),
            scope: "alerts:read",
        }
    }

    /// `POST /api/activities/log` of a new lead each time, with or without an Idempotency-Key
    /// (new too: a replayed key would measure the replay).
    fn log(tenant: &'static str, key: &str, idempotent: bool) -> Self {
        let header = Self::bearer(key);
        // Worker numbers are new in each run of this process; this tells processes apart.
        let run = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap_or_default()
            .as_millis();
        Self {
            route: if idempotent {
                "POST /api/activities/log (Idempotency-Key)".into()
            } else {
                "POST /api/activities/log".into()
            },
            script_name: if idempotent {
                "log_activity_idempotent"
            } else {
                "log_activity"
            },
            make: Arc::new(move |worker, n| {
                let mut headers = vec![header.clone()];
                if idempotent {
                    headers.push(("idempotency-key", format!("bench-{run}-{worker}-{n}")));
                }
                Call {
                    method: "POST",
                    path: "/api/activities/log".into(),
                    body: Some(format!(
                        r#"{{"leadId":"bench-{run}-{worker}-{n}","channel":"sms","direction":"out","status":"sent","messageSnippet":"Message"}}"#
                    )),
                    headers,
                }
            }),
            script: pgbench::log_activity_script(idempotent),
            tenant,
            key: key.to_owned(),
            scope: "activities:write",
        }
    }

    /// `POST /api/alerts/{id}/resolve` over the tenant's numbered alerts (again and again: a
    /// second resolution is harmless and costs the same statement).
    fn resolve(tenant: &'static str, key: &str, alerts: usize) -> Self {
        let header = Self::bearer(key);
        Self {
            route: "POST /api/alerts/{id}/resolve".into(),
            script_name: "resolve_alert",
            make: Arc::new(move |worker, n| Call {
                method: "POST",
                path: format!(
                    "/api/alerts/{}/resolve",
                    generate::resolve_id((worker * 7919 + n) % alerts)
                ),
                body: None,
                headers: vec![header.clone()],
            }),
            script: pgbench::resolve_script(alerts),
            tenant,
            key: key.to_owned(),
            scope: "alerts:resolve",
        }
    }
}

/// The evaluator's three passes, then the full pass's writes by PostgreSQL alone.
async fn evaluator_passes(
    url: &str,
    client: &tokio_postgres::Client,
) -> (Vec<EvaluatorPass>, floor::Floor) {
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
    let mut passes = Vec::new();
    let pass = async |name: &'static str| {
        let started = Instant::now();
        let summary = shared::evaluator::evaluate(&db, &settings)
            .await
            .expect("pass");
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
    };
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

fn plot(results: &Results) -> String {
    let series: Vec<(&str, &RouteResult)> = results
        .routes
        .iter()
        .filter(|r| r.route.starts_with("GET /api/alerts/active"))
        .map(|r| (r.route.as_str(), r))
        .collect();
    let max_ms = series
        .iter()
        .flat_map(|(_, r)| r.http.iter().map(|s| s.p99_ms))
        .fold(0.1f64, f64::max)
        * 1.1;
    let levels: Vec<usize> = series
        .first()
        .map(|(_, r)| r.http.iter().map(|s| s.concurrency).collect())
        .unwrap_or_default();
    let (width, height, left, bottom) = (640.0, 360.0, 60.0, 40.0);
    let x = |i: usize| left + (width - left - 20.0) * i as f64 / (levels.len().max(2) - 1) as f64;
    let y = |ms: f64| height - bottom - (height - bottom - 20.0) * ms / max_ms;
    let mut svg = format!(
        r##"<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" font-family="sans-serif" font-size="12"><rect width="100%" height="100%" fill="#fff"/><text x="{left}" y="14">GET /api/alerts/active: latency (ms) against concurrency ({} data set)</text>"##,
        results.scale.name
    );
    for (i, level) in levels.iter().enumerate() {
        let _ = write!(
            svg,
            r##"<text x="{:.0}" y="{:.0}" text-anchor="middle">{level}</text>"##,
            x(i),
            height - 20.0
        );
    }
    for tick in 0..=4 {
        let ms = max_ms * f64::from(tick) / 4.0;
        let _ = write!(
            svg,
            r##"<text x="{:.0}" y="{:.0}" text-anchor="end">{ms:.2}</text><line x1="{left}" x2="{}" y1="{:.0}" y2="{:.0}" stroke="#eee"/>"##,
            left - 6.0,
            y(ms) + 4.0,
            width - 20.0,
            y(ms),
            y(ms)
        );
    }
    let colours = ["#1f77b4", "#d62728"];
    for (index, (name, route)) in series.iter().enumerate() {
        for (metric, dash) in [("p50", ""), ("p99", "4 3")] {
            let points: Vec<String> = route
                .http
                .iter()
                .enumerate()
                .map(|(i, s)| {
                    format!(
                        "{:.1},{:.1}",
                        x(i),
                        y(if metric == "p50" { s.p50_ms } else { s.p99_ms })
                    )
                })
                .collect();
            let _ = write!(
                svg,
                r##"<polyline fill="none" stroke="{}" stroke-width="2" stroke-dasharray="{dash}" points="{}"/>"##,
                colours[index % 2],
                points.join(" ")
            );
        }
        let label = name.trim_start_matches("GET /api/alerts/active ");
        let _ = write!(
            svg,
            r##"<text x="{}" y="{}" fill="{}">{label}: p50 solid, p99 dashed</text>"##,
            left + 10.0,
            34 + 16 * index,
            colours[index % 2]
        );
    }
    svg.push_str("</svg>\n");
    svg
}

/// The routes again, with the database on cores of its own.
fn split_report(md: &mut String, results: &Results) {
    let _ = writeln!(md, "### The database on cores of its own\n");
    let Some(split) = &results.cores.split else {
        let _ = writeln!(
            md,
            "Not measured in this run: {}.\n",
            results
                .cores
                .not_split
                .as_deref()
                .unwrap_or("not asked for")
        );
        return;
    };
    let _ = writeln!(
        md,
        "Above, the load generator, the server and pgbench take their processor time from the \
         cores PostgreSQL runs on, so a ratio measures how much CPU the HTTP side uses as much as \
         how well it uses the database. Here each measurement is made again right after, with \
         PostgreSQL's processes on core(s) {} and the server, the load generator and pgbench on \
         core(s) {} (`taskset`): PostgreSQL has the same processor time under the functions as \
         under pgbench, as where the functions run on machines of their own (AWS Lambda). \
         *Ratio* is again the route's throughput over pgbench's.\n",
        split.database, split.clients
    );
    let _ = writeln!(
        md,
        "| route | concurrency | req/s | p50 ms | p99 ms | errors | pgbench tx/s | ratio |"
    );
    let _ = writeln!(md, "|---|---|---|---|---|---|---|---|");
    for route in &results.routes {
        for run in &route.split {
            let _ = writeln!(
                md,
                "| {} | {} | {:.0} | {:.2} | {:.2} | {} | {:.0} | {:.2} |",
                route.route,
                run.http.concurrency,
                run.http.rps,
                run.http.p50_ms,
                run.http.p99_ms,
                run.http.errors,
                run.database.tps,
                run.http.rps / run.database.tps.max(f64::EPSILON)
            );
        }
    }
    let _ = writeln!(md);
}

fn report(results: &Results, svg: &Path, output: &Path) -> String {
    let base = output.parent().unwrap_or(Path::new("."));
    let svg = svg.strip_prefix(base).unwrap_or(svg).display().to_string();
    let mut md = String::new();
    let _ = writeln!(md, "# Benchmarks\n");
    let _ = writeln!(
        md,
        "Rewritten by `cargo run --release -p max-bench -- all --scale {}` (or `-- all --quick`); \
         the raw numbers are in `bench/results/{}.json`. Everything runs on this one machine, over \
         loopback: the load generator, `max-local serve` (the functions' own handlers behind the \
         local gateway), PostgreSQL and pgbench share its cores (and are measured again with \
         the database on cores of its own).\n",
        results.scale.name, results.scale.name
    );
    let _ = writeln!(
        md,
        "- Machine: {}; PostgreSQL {}.",
        results.machine, results.postgres
    );
    let s = &results.scale;
    let _ = writeln!(
        md,
        "- Data set `{}`: {} tenants, {} leads, {} activities; one huge tenant with {} open \
         alerts of its own and a tenth of the leads, small tenants with {} open alerts each; \
         loaded with binary COPY at {:.0} rows/s ({:.1} s, the activity trigger folding them into \
         lead summaries as it goes).\n",
        s.name,
        s.tenants,
        s.leads,
        results.loaded.activities,
        s.huge_open_alerts,
        s.small_open_alerts,
        results.loaded.rows_per_second,
        results.loaded.seconds
    );
    let _ = writeln!(md, "## Routes, and the database's own limit\n");
    let _ = writeln!(
        md,
        "Each route through HTTP (closed loop, keep-alive connections, every latency kept), then \
         the same statements it sends (BEGIN, role + tenant + API key check, the work, COMMIT, \
         pipelined as the functions pipeline them) replayed by `pgbench -M prepared` at the same \
         concurrency. *Ratio* is the route's throughput over pgbench's: the share of what \
         PostgreSQL alone can do that the whole stack (HTTP, gateway emulation, JSON, handlers) \
         keeps. *Seed bar* compares p99 with the seed's 500 ms.\n"
    );
    for route in &results.routes {
        let _ = writeln!(md, "### {}\n", route.route);
        let _ = writeln!(
            md,
            "| concurrency | req/s | p50 ms | p99 ms | p99.9 ms | errors | pgbench tx/s | ratio | seed bar (500 ms / p99) |"
        );
        let _ = writeln!(md, "|---|---|---|---|---|---|---|---|---|");
        for (http, db) in route.http.iter().zip(&route.database) {
            let ratio = if db.tps > 0.0 { http.rps / db.tps } else { 0.0 };
            let _ = writeln!(
                md,
                "| {} | {:.0} | {:.2} | {:.2} | {:.2} | {} | {:.0} | {:.2} | {:.0}x |",
                http.concurrency,
                http.rps,
                http.p50_ms,
                http.p99_ms,
                http.p999_ms,
                http.errors,
                db.tps,
                ratio,
                500.0 / http.p99_ms.max(0.001)
            );
        }
        let _ = writeln!(md);
    }
    let _ = writeln!(md, "![Latency against concurrency]({svg})\n");
    split_report(&mut md, results);
    let _ = writeln!(md, "### Where the processor time goes\n");
    let _ = writeln!(
        md,
        "CPU time (user + system, from `/proc`) per request during each HTTP measurement: the \
         server (`max-local serve`: HTTP, gateway emulation, handler, JSON, the database client), \
         the load generator, and PostgreSQL; then PostgreSQL's CPU time per transaction while \
         pgbench replayed the same statements. On two shared cores the throughput is bounded by \
         the sum of the first three: what the server and the load generator use is taken from \
         PostgreSQL. *Database-bound ratio* is PostgreSQL's time per pgbench transaction over its \
         time per request: the throughput ratio the route would reach where the database is the \
         bottleneck and the functions run on other machines, as on AWS Lambda. The profiles behind \
         these figures, and what was changed because of them, are in \
         [bench/PROFILE.md](bench/PROFILE.md).\n"
    );
    let _ = writeln!(
        md,
        "| route | concurrency | server us | load generator us | PostgreSQL us | PostgreSQL us under pgbench | database-bound ratio |"
    );
    let _ = writeln!(md, "|---|---|---|---|---|---|---|");
    for route in &results.routes {
        for ((http, cpu), db) in route.http.iter().zip(&route.http_cpu).zip(&route.database) {
            let ratio = if cpu.postgres_us > 0.0 {
                db.postgres_us / cpu.postgres_us
            } else {
                0.0
            };
            let _ = writeln!(
                md,
                "| {} | {} | {:.0} | {:.0} | {:.0} | {:.0} | {:.2} |",
                route.route,
                http.concurrency,
                cpu.server_us,
                cpu.load_generator_us,
                cpu.postgres_us,
                db.postgres_us,
                ratio
            );
        }
    }
    let _ = writeln!(md);
    let _ = writeln!(md, "## Evaluator\n");
    let _ = writeln!(md, "| pass | seconds | leads evaluated | alerts changed |");
    let _ = writeln!(md, "|---|---|---|---|");
    for pass in &results.evaluator {
        let _ = writeln!(
            md,
            "| {} | {:.3} | {} | {} |",
            pass.pass, pass.seconds, pass.leads_evaluated, pass.alerts_changed
        );
    }
    let floor = &results.evaluator_floor;
    let full_pass = results.evaluator.first().map_or(0.0, |pass| pass.seconds);
    let _ = writeln!(
        md,
        "| PostgreSQL alone: the full pass's writes | {:.3} | {} rescheduled | {} inserted |",
        floor.seconds, floor.leads_rescheduled, floor.alerts_inserted
    );
    let _ = writeln!(
        md,
        "\nThe last row is the database's own limit for the full pass, as pgbench is for the \
         routes: the alerts the pass raised, inserted again in the same {} batches on {} \
         connections into a copy of `max_alerts` with its five indexes, and as many lead summaries \
         rescheduled in a copy of `max_lead_states` taken before the pass, the evaluator's way (due \
         rows in order, `FOR UPDATE SKIP LOCKED`, updated by row id), with nothing evaluated. The \
         full pass takes {:.2} times as long as its writes alone.",
        floor.batches,
        floor.connections,
        full_pass / floor.seconds.max(f64::EPSILON)
    );
    let _ = writeln!(
        md,
        "\nGoals: a full pass over 1,000,000 leads under 5 s, a pass with nothing to change under 1 s \
         (run `--scale full` for the million-lead figures). The plans of a full-pass batch, of a \
         pass with nothing due and of a page of the huge tenant, with `EXPLAIN (ANALYZE, \
         BUFFERS)`, are in `bench/results/{}-plans.txt`.\n",
        results.scale.name
    );
    let _ = writeln!(md, "## Cold start and footprint\n");
    let _ = writeln!(
        md,
        "Each function's binary (this build's profile, on this machine) started {} times against \
         the emulated Lambda Runtime API with its database on loopback: time from process start to \
         the first answered invocation (init included: configuration, pool, first connection), and \
         peak resident memory. The evaluator's first invocation is a whole pass over the data set, \
         where by then some leads are due again (their alerts' wording changes with the hour). \
         Goals: under 20 ms to ready, under 20 MB. The arm64 zip sizes (goal under 5 MB) are in \
         docs/deploy.md.\n",
        results.cold_start.first().map_or(0, |c| c.starts)
    );
    let _ = writeln!(
        md,
        "| function | median ms | p90 ms | peak RSS MB | binary MB |"
    );
    let _ = writeln!(md, "|---|---|---|---|---|");
    for c in &results.cold_start {
        let _ = writeln!(
            md,
            "| {} | {:.1} | {:.1} | {:.1} | {:.1} |",
            c.function, c.median_ms, c.p90_ms, c.peak_rss_mb, c.binary_mb
        );
    }
    md
}
