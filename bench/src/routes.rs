//! The route benchmarks: each route over HTTP through `max-local serve`, then the statements it
//! sends replayed by pgbench, at each concurrency level; the same again with the database on
//! cores of its own, where the cores can be split; and PostgreSQL's CPU time per request against
//! that of the route's bare statements, commits flushed and unflushed. The WhatsApp webhook is
//! loaded with its realistic mix (a message, then its three statuses) like the others, and each
//! kind of notification alone against the bare work only, to tell what each costs PostgreSQL.

use std::time::{Duration, Instant};

use serde::Serialize;
use shared::admin;
use shared::tenancy::{Scope, TenantId};

use crate::cli::Load;
use crate::commits::Commits;
use crate::generate::{HUGE, RESOLVE, SMALL, Scale};
use crate::greenapi::{self, Mix, Numbers};
use crate::load::Stats;
use crate::pgbench::{NO_TRIGGERS, PgbenchStats};
use crate::route_bench::RouteBench;
use crate::server::{Serve, serve};
use crate::{cores, cpu, load, pgbench};

#[derive(Serialize)]
pub(crate) struct RouteResult {
    pub(crate) route: String,
    pub(crate) pgbench_script: &'static str,
    pub(crate) http: Vec<Stats>,
    /// CPU time per request of each process, during each HTTP measurement.
    pub(crate) http_cpu: Vec<cpu::PerRequest>,
    pub(crate) database: Vec<PgbenchStats>,
    /// The same, with the database on cores of its own (empty when the cores were not split).
    pub(crate) split: Vec<SplitRun>,
    /// PostgreSQL's CPU time per request against the bare work, commits flushed then unflushed.
    pub(crate) against_bare: Vec<AgainstBare>,
}

/// PostgreSQL's CPU time per request (in `http_cpu`, `replay` and `bare`) at the same concurrency
/// and with commits ending the same way: through HTTP, with the route's own statements replayed by
/// pgbench, and with its bare statements alone (`pgbench::bare_*`: no framing, no triggers, as the
/// superuser).
#[derive(Serialize)]
pub(crate) struct AgainstBare {
    pub(crate) commits: Commits,
    pub(crate) http: Stats,
    pub(crate) http_cpu: cpu::PerRequest,
    pub(crate) replay: PgbenchStats,
    pub(crate) bare: PgbenchStats,
}

/// A route over HTTP and its statements with pgbench, PostgreSQL on cores of its own.
#[derive(Serialize)]
pub(crate) struct SplitRun {
    pub(crate) http: Stats,
    pub(crate) database: PgbenchStats,
}

/// How the cores were shared out for the split measurements, or why they were not.
#[derive(Serialize)]
pub(crate) struct Cores {
    pub(crate) split: Option<cores::Split>,
    pub(crate) not_split: Option<String>,
}

/// Whether, and how, the route measurements are repeated with the database on cores of its own:
/// tried once here, so that a machine where it cannot be done says why at the start.
pub(crate) fn split_cores(load: &Load) -> Cores {
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

/// What the route benchmarks measured, and the numbers the webhook's notifications came from
/// (when it was measured).
pub(crate) struct Routes {
    pub(crate) routes: Vec<RouteResult>,
    pub(crate) whatsapp: Option<Numbers>,
}

/// Each route over HTTP, then its statements with pgbench, at each concurrency level; then the
/// same again with the database on cores of its own, where they could be split. The webhook's
/// notifications of one kind alone are measured against the bare work only.
pub(crate) async fn route_benchmarks(
    url: &str,
    client: &mut tokio_postgres::Client,
    scale: &Scale,
    load: &Load,
    cores: &Cores,
    only: &str,
) -> Routes {
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

    // As many connections as the highest concurrency it is loaded at; and a second server whose
    // connections commit without waiting for the flush, for the measurements against the bare work.
    let levels = load.concurrency.iter().copied().max().unwrap_or(1);
    let server = serve(url, levels.max(load.cpu_concurrency));
    let unflushed = serve(&Commits::Unflushed.url(url), load.cpu_concurrency);
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
    // The webhook's numbers are mapped only when it is measured.
    let whatsapp = if Mix::ALL.iter().any(|mix| mix.route().contains(only)) {
        Some(greenapi::prepare(client, scale).await)
    } else {
        None
    };
    let bench = Bench {
        database: &name,
        server: &server,
        unflushed: &unflushed,
        duration,
        cores,
        cpu_concurrency: load.cpu_concurrency,
    };
    let mut results = Vec::new();
    for route in routes.into_iter().filter(|r| r.route.contains(only)) {
        results.push(bench.route(route, &load.concurrency).await);
    }
    if let Some(numbers) = &whatsapp {
        for mix in Mix::ALL
            .into_iter()
            .filter(|mix| mix.route().contains(only))
        {
            let route = RouteBench::whatsapp(mix, numbers, *scale, SMALL);
            // The mix at every level; each kind alone only against the bare work.
            let levels: &[usize] = match mix {
                Mix::Conversation => &load.concurrency,
                Mix::Messages | Mix::Statuses => &[],
            };
            results.push(bench.route(route, levels).await);
        }
    }
    drop(server);
    drop(unflushed);
    Routes {
        routes: results,
        whatsapp,
    }
}

/// What the measurements of every route share.
struct Bench<'a> {
    /// The benchmark database's name, for pgbench.
    database: &'a str,
    /// The server, with the database's settings.
    server: &'a Serve,
    /// The same server, its commits unflushed.
    unflushed: &'a Serve,
    /// How long each measurement lasts.
    duration: Duration,
    cores: &'a Cores,
    /// The concurrency of the measurements against the bare work.
    cpu_concurrency: usize,
}

impl Bench<'_> {
    /// One route at each concurrency level: over HTTP, with pgbench, and both again with the
    /// cores split where they could be; then against its bare work.
    async fn route(&self, route: RouteBench, levels: &[usize]) -> RouteResult {
        let variables = &route.variables;
        println!("{}", route.route);
        let mut http = Vec::new();
        let mut http_cpu = Vec::new();
        let mut database = Vec::new();
        let mut split = Vec::new();
        for &level in levels {
            let (stats, cpu) = self.http(self.server, &route, level).await;
            http.push(stats);
            http_cpu.push(cpu);
            let options = Commits::Flushed.options();
            database.push(self.pgbench("pgbench", &route.script, variables, level, options));
            if let Some(cores) = &self.cores.split {
                split.push(self.split(cores, &route, variables, level).await);
            }
        }
        let mut result = RouteResult {
            route: route.route.clone(),
            pgbench_script: route.script_name,
            http,
            http_cpu,
            database,
            split,
            against_bare: Vec::new(),
        };
        result.against_bare = self.against_bare(&route, variables, &result).await;
        result
    }

    /// The route over HTTP through `server`, and the CPU time each process spent per request
    /// meanwhile.
    async fn http(
        &self,
        server: &Serve,
        route: &RouteBench,
        level: usize,
    ) -> (Stats, cpu::PerRequest) {
        let pid = Some(server.pid());
        let before = cpu::Snapshot::take(pid);
        let stats = load::run(server.address(), level, self.duration, route.make.clone()).await;
        let cpu = cpu::Snapshot::take(pid).per_request_since(&before, stats.requests);
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
        (stats, cpu)
    }

    /// A script of the route with pgbench (`label` on the console), its sessions started with
    /// `options`, and PostgreSQL's CPU time per transaction.
    fn pgbench(
        &self,
        label: &str,
        script: &str,
        variables: &[(&str, String)],
        level: usize,
        options: &str,
    ) -> PgbenchStats {
        let before = cpu::Snapshot::take(None);
        let mut db = pgbench::run(
            self.database,
            script,
            variables,
            level,
            self.duration,
            options,
        );
        let transactions = (db.tps * self.duration.as_secs_f64()) as usize;
        cpu::settle(&before);
        db.postgres_us = cpu::Snapshot::take(None)
            .per_request_since(&before, transactions)
            .postgres_us;
        println!(
            "  {label:<8} c={level:<3} {:>8.0} tx/s   avg {:.2} ms  CPU/transaction: PostgreSQL {:.0} us",
            db.tps, db.latency_ms, db.postgres_us
        );
        db
    }

    /// Both again, with the database on cores of its own.
    async fn split(
        &self,
        cores: &cores::Split,
        route: &RouteBench,
        variables: &[(&str, String)],
        level: usize,
    ) -> SplitRun {
        let applied = cores
            .apply(Some(self.server.pid()))
            .expect("split the cores as at the start");
        let http = load::run(
            self.server.address(),
            level,
            self.duration,
            route.make.clone(),
        )
        .await;
        let db = pgbench::run(
            self.database,
            &route.script,
            variables,
            level,
            self.duration,
            Commits::Flushed.options(),
        );
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
        SplitRun { http, database: db }
    }

    /// PostgreSQL's CPU time per request at the CPU concurrency, with commits flushed then
    /// unflushed: through HTTP, with the route's statements replayed, and with its bare statements,
    /// each right after the other. With commits flushed, the first two are those `measured` at
    /// that concurrency, when it was one of the levels: the same measurement, not made twice.
    async fn against_bare(
        &self,
        route: &RouteBench,
        variables: &[(&str, String)],
        measured: &RouteResult,
    ) -> Vec<AgainstBare> {
        let started = Instant::now();
        let level = self.cpu_concurrency;
        let at_level = measured.http.iter().position(|s| s.concurrency == level);
        let mut runs = Vec::new();
        for commits in Commits::BOTH {
            println!("  against the bare work, commits {}:", commits.name());
            let (http, http_cpu, replay) = match (commits, at_level) {
                (Commits::Flushed, Some(i)) => (
                    measured.http[i].clone(),
                    measured.http_cpu[i],
                    measured.database[i].clone(),
                ),
                _ => self.http_and_replay(commits, route, variables, level).await,
            };
            let options = format!("{} {NO_TRIGGERS}", commits.options());
            let bare = self.pgbench("bare", &route.bare, variables, level, options.trim());
            println!(
                "  PostgreSQL CPU at c={level}: HTTP {:.0} us/request, replay {:.0} us, bare {:.0} us, \
                 HTTP / bare {:.2}",
                http_cpu.postgres_us,
                replay.postgres_us,
                bare.postgres_us,
                http_cpu.postgres_us / bare.postgres_us.max(f64::EPSILON)
            );
            runs.push(AgainstBare {
                commits,
                http,
                http_cpu,
                replay,
                bare,
            });
        }
        println!(
            "  (against the bare work: {:.1} s)",
            started.elapsed().as_secs_f64()
        );
        runs
    }

    /// The route over HTTP, then its statements replayed, with commits ending as `commits` says.
    async fn http_and_replay(
        &self,
        commits: Commits,
        route: &RouteBench,
        variables: &[(&str, String)],
        level: usize,
    ) -> (Stats, cpu::PerRequest, PgbenchStats) {
        let server = match commits {
            Commits::Flushed => self.server,
            Commits::Unflushed => self.unflushed,
        };
        let (http, cpu) = self.http(server, route, level).await;
        let options = commits.options();
        let replay = self.pgbench("pgbench", &route.script, variables, level, options);
        (http, cpu, replay)
    }
}
