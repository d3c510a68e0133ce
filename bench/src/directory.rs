//! The lead directory (migrations/V9), in a database of its own, fresh and migrated:
//!
//! - the EspoCRM sync of one tenant's leads from a fake EspoCRM (`shared::testing::espocrm`, on a
//!   thread of this process): a full sync of every lead, an incremental one after 1 % of them
//!   changed, and a full pass again with nothing changed; each timed, with PostgreSQL's CPU time
//!   (all its processes, from `/proc`, as `cpu.rs` measures the routes) apart from the fake's and
//!   this process's;
//! - the same rows written by PostgreSQL alone (two `INSERT ... SELECT`), the floor the sync is
//!   compared with;
//! - the listing of alerts, which reads one directory row per shown alert: its plan, checked (the
//!   run fails when the plan is not a page off the urgency index, then one primary-key probe of
//!   `max_leads` per row), against the same page without the directory.

use std::time::Instant;

use serde::{Deserialize, Serialize};
use serde_json::Value;
use shared::admin;
use shared::config::{PoolSettings, Secret};
use shared::crm::sync::{Connection, Report, Settings, sync_tenant};
use shared::db::Db;
use shared::tenancy::TenantId;
use shared::testing::espocrm::{FakeEspoCrm, FakeLead};
use shared::time::{Duration, OffsetDateTime};
use tokio_postgres::Client;
use tokio_postgres::binary_copy::BinaryCopyInWriter;
use tokio_postgres::types::{ToSql, Type};

use crate::cpu::{self, Snapshot};
use crate::database;
use crate::explain::{FIRST_PAGE_ROWS, first_page, run_explain};
use crate::generate::{Rng, Scale};

/// The tenant whose CRM is synced, and the one the floor writes the same rows for.
pub(crate) const TENANT: &str = "crm";
const FLOOR_TENANT: &str = "crm-floor";
/// The sync's connections, by their `application_name`.
const APPLICATION: &str = "max-bench-directory";
/// The tenant whose leads fill the directory up before the listing's plans (at small scales).
const OTHERS: &str = "others";
const API_KEY: &str = "bench-espocrm-key";
/// The country calling code the tenant's connection gives national numbers.
const COUNTRY_CODE: &str = "33";
/// Runs of each plan, the fastest kept (the first reads the pages into the cache).
pub(crate) const EXPLAIN_RUNS: usize = 5;

/// What the section measured.
#[derive(Debug, Serialize, Deserialize)]
pub(crate) struct Directory {
    /// Whether this section was measured alone (`max-bench directory --write`), after the rest.
    pub(crate) alone: bool,
    pub(crate) leads: usize,
    pub(crate) open_alerts: usize,
    /// Leads of another tenant added before the listing's plans, so that the directory is a
    /// table many tenants share.
    pub(crate) other_leads: i64,
    pub(crate) page_size: u32,
    pub(crate) autovacuum: String,
    pub(crate) synchronous_commit: String,
    pub(crate) syncs: Vec<SyncRun>,
    pub(crate) floor: FloorRun,
    /// After the syncs: the listing's plan as the statistics stood, then after `ANALYZE`.
    pub(crate) listing: Vec<Listing>,
    pub(crate) sizes: Sizes,
}

/// One run of the sync.
#[derive(Debug, Serialize, Deserialize)]
pub(crate) struct SyncRun {
    pub(crate) run: String,
    pub(crate) outcome: String,
    pub(crate) wall_seconds: f64,
    /// CPU time of every PostgreSQL process during the run.
    pub(crate) postgres_cpu_seconds: f64,
    /// The same per lead read from the CRM.
    pub(crate) postgres_us_per_lead: f64,
    /// This process but the fake: the sync (EspoCRM client, JSON, the directory's batches, the
    /// database client).
    pub(crate) sync_cpu_seconds: f64,
    /// The fake EspoCRM's thread: filtering, sorting and serialising the pages.
    pub(crate) fake_crm_cpu_seconds: f64,
    /// Requests to the CRM (pages, the last one empty or short).
    pub(crate) crm_requests: usize,
    /// Calls of `max_upsert_leads`: one statement per page of leads written.
    pub(crate) upsert_statements: i64,
    /// Time spent inside those calls, as PostgreSQL counts it (`pg_stat_user_functions`).
    pub(crate) upsert_ms: f64,
    pub(crate) leads_read: u32,
    pub(crate) leads_written: u32,
    pub(crate) leads_removed: u32,
    pub(crate) phones_skipped: u32,
}

/// The same rows written by PostgreSQL alone.
#[derive(Debug, Serialize, Deserialize)]
pub(crate) struct FloorRun {
    pub(crate) leads: u64,
    pub(crate) phones: u64,
    pub(crate) wall_seconds: f64,
    pub(crate) postgres_cpu_seconds: f64,
    pub(crate) postgres_us_per_lead: f64,
}

/// A first page of the tenant's active alerts, with its directory rows and without.
#[derive(Debug, Serialize, Deserialize)]
pub(crate) struct Listing {
    pub(crate) statistics: String,
    pub(crate) rows_fetched: i64,
    pub(crate) with_directory: Plan,
    pub(crate) without_directory: Plan,
    /// Primary-key probes of `max_leads` (the index scan's loops).
    pub(crate) directory_probes: u64,
    /// The node that probes them: `Index Scan`, or `Bitmap Heap Scan` without statistics.
    pub(crate) probe: String,
}

/// What `EXPLAIN (ANALYZE, BUFFERS)` reported.
#[derive(Debug, Serialize, Deserialize)]
pub(crate) struct Plan {
    /// The fastest of the runs.
    pub(crate) execution_ms: f64,
    pub(crate) planning_ms: f64,
    pub(crate) shared_hit: u64,
    pub(crate) shared_read: u64,
}

/// The directory's size on disk once the syncs and the floor wrote it (two tenants' rows).
#[derive(Debug, Serialize, Deserialize)]
pub(crate) struct Sizes {
    pub(crate) leads_bytes: i64,
    pub(crate) lead_phones_bytes: i64,
    pub(crate) phones: i64,
}

/// The section: a fresh database `<benchmark database>_directory`, dropped afterwards. Returns the
/// figures and the plans (text).
pub(crate) async fn measure(scale: &Scale, alone: bool) -> (Directory, String) {
    let name = format!("{}_directory", database::database_name(scale));
    let server = admin::connect(&database::server_url())
        .await
        .expect("reach PostgreSQL");
    database::recreate(&server, &name, None).await;
    server
        .batch_execute(&format!("CREATE DATABASE {name}"))
        .await
        .expect("create the directory's database");
    let url = database::url_of(&name);
    admin::migrate(&url).await.expect("migrate");
    let mut client = admin::connect(&url).await.expect("connect");
    let result = run(scale, alone, &url, &mut client).await;
    drop(client);
    database::recreate(&server, &name, None).await;
    result
}

async fn run(scale: &Scale, alone: bool, url: &str, client: &mut Client) -> (Directory, String) {
    let autovacuum = database::show(client, "autovacuum").await;
    let synchronous_commit = database::show(client, "synchronous_commit").await;
    let tenant = TenantId::parse(TENANT).expect("tenant id");
    for id in [TENANT, FLOOR_TENANT] {
        admin::ensure_tenant(client, &TenantId::parse(id).expect("tenant id"), id)
            .await
            .expect("create the tenant");
    }

    let settings = Settings::default();

    let tasks_before = threads();
    let fake = FakeEspoCrm::start(API_KEY);
    let fake_threads: Vec<String> = threads()
        .into_iter()
        .filter(|tid| !tasks_before.contains(tid))
        .collect();
    let connection = Connection {
        url: fake.url(),
        api_key: Secret::new(API_KEY.to_owned()),
        country_code: Some(COUNTRY_CODE.to_owned()),
    };
    let now = OffsetDateTime::now_utc();
    let leads = crm_leads(scale.crm_leads, now);
    for lead in &leads {
        fake.put_lead(lead.clone());
    }
    let mut measured = Measured {
        client,
        url,
        tenant: &tenant,
        connection: &connection,
        settings: &settings,
        fake: &fake,
        fake_threads: &fake_threads,
    };
    println!("Lead directory: syncing {} leads...", leads.len());
    let mut syncs = vec![measured.sync("full, every lead new", true).await];
    change_one_in_a_hundred(&fake, &leads, 0, now - Duration::seconds(60));
    syncs.push(
        measured
            .sync("incremental, 1 % of the leads changed", false)
            .await,
    );
    syncs.push(measured.sync("full again, nothing changed", true).await);
    let floor = measured.floor().await;

    // The directory as the syncs and the floor left it.
    let row = client
        .query_one(
            "SELECT pg_total_relation_size('max_leads'), pg_total_relation_size('max_lead_phones'),
                    (SELECT count(*) FROM max_lead_phones)",
            &[],
        )
        .await
        .expect("sizes");
    let open_alerts = scale.huge_open_alerts.min(leads.len());
    add_open_alerts(client, &leads[..open_alerts]).await;
    let other_leads = add_other_tenants_leads(client).await;
    let mut plans = String::new();
    let mut listing = Vec::new();
    for (statistics, analyze, probe) in [
        (
            "as the syncs left them (max_leads never analyzed)",
            None,
            Probe::IndexOrBitmapScan,
        ),
        (
            "after ANALYZE max_leads, max_lead_phones, max_alerts",
            Some("ANALYZE max_leads, max_lead_phones, max_alerts"),
            Probe::IndexScan,
        ),
    ] {
        if let Some(analyze) = analyze {
            client.batch_execute(analyze).await.expect("analyze");
        }
        let (measured, text) = listing_plans(client, statistics, probe).await;
        plans.push_str(&text);
        listing.push(measured);
    }

    // The sync again, now that the planner has statistics of the directory.
    let mut measured = Measured {
        client,
        url,
        tenant: &tenant,
        connection: &connection,
        settings: &settings,
        fake: &fake,
        fake_threads: &fake_threads,
    };
    let later = (OffsetDateTime::now_utc() - Duration::seconds(60)).max(now + Duration::seconds(1));
    change_one_in_a_hundred(&fake, &leads, 50, later);
    syncs.push(
        measured
            .sync("after ANALYZE: incremental, another 1 % changed", false)
            .await,
    );
    syncs.push(
        measured
            .sync("after ANALYZE: full again, nothing changed", true)
            .await,
    );
    for sync in &syncs {
        assert_eq!(sync.outcome, "ok", "the sync failed: {sync:?}");
    }
    drop(fake);

    let directory = Directory {
        alone,
        leads: leads.len(),
        open_alerts,
        other_leads,
        page_size: settings.page_size,
        autovacuum,
        synchronous_commit,
        syncs,
        floor,
        listing,
        sizes: Sizes {
            leads_bytes: row.get(0),
            lead_phones_bytes: row.get(1),
            phones: row.get(2),
        },
    };
    print(&directory);
    (directory, plans)
}

/// 1 % of the leads change in the CRM (one in a hundred, from `first`), modified over the minute
/// from `from`: a new number for half of them, a new address for the others.
fn change_one_in_a_hundred(
    fake: &FakeEspoCrm,
    leads: &[FakeLead],
    first: usize,
    from: OffsetDateTime,
) {
    for (j, lead) in leads.iter().skip(first).step_by(100).enumerate() {
        let mut changed = lead.clone();
        changed.modified_at = from + Duration::seconds((j % 60) as i64);
        if j % 2 == 0 {
            changed.phones = vec![format!("+33 7 {:08}", 50_000_000 + first * 1_000 + j)];
        } else {
            changed.email = Some(format!("nouvelle.adresse{first}-{j}@exemple.fr"));
        }
        fake.put_lead(changed);
    }
}

/// What the runs measure with.
struct Measured<'a> {
    client: &'a Client,
    url: &'a str,
    tenant: &'a TenantId,
    connection: &'a Connection,
    settings: &'a Settings,
    fake: &'a FakeEspoCrm,
    fake_threads: &'a [String],
}

/// CPU seconds so far: every PostgreSQL process, this process, the fake's thread.
struct Clock {
    at: Instant,
    snapshot: Snapshot,
    fake: f64,
}

/// What a measured run took.
struct Took {
    wall_seconds: f64,
    postgres: f64,
    this_process: f64,
    fake: f64,
}

impl Measured<'_> {
    fn clock(&self) -> Clock {
        Clock {
            snapshot: Snapshot::take(None),
            fake: self
                .fake_threads
                .iter()
                .filter_map(|tid| cpu::process_seconds(&format!("self/task/{tid}"), false))
                .sum(),
            at: Instant::now(),
        }
    }

    fn since(&self, start: &Clock) -> Took {
        let wall_seconds = start.at.elapsed().as_secs_f64();
        let end = self.clock();
        let used = end.snapshot.per_request_since(&start.snapshot, 1);
        Took {
            wall_seconds,
            postgres: used.postgres_us / 1e6,
            this_process: used.load_generator_us / 1e6,
            fake: (end.fake - start.fake).max(0.0),
        }
    }

    /// A pool for one run, as the functions build it, its connection open; `track_functions`
    /// counts the upserts.
    async fn pool(&self) -> Db {
        let mut config = admin::parse_url(self.url).expect("url");
        config.options("-c track_functions=pl");
        let db = Db::connect_lazily(config, &PoolSettings::default(), APPLICATION).expect("pool");
        db.warm_up().await;
        db
    }

    /// Closes a run's pool and waits until its backends are gone: a backend reports its
    /// function counts when it ends (idle, it may keep them for seconds).
    async fn close(&self, db: Db) {
        drop(db);
        for _ in 0..500 {
            let open: i64 = self
                .client
                .query_one(
                    "SELECT count(*) FROM pg_stat_activity WHERE application_name = $1",
                    &[&APPLICATION],
                )
                .await
                .expect("the pool's backends")
                .get(0);
            if open == 0 {
                return;
            }
            tokio::time::sleep(std::time::Duration::from_millis(20)).await;
        }
        panic!("the sync's connections did not close");
    }

    /// Calls of `max_upsert_leads` so far, and the milliseconds spent in them.
    async fn upserts(&self) -> (i64, f64) {
        let row = self
            .client
            .query_one(
                "SELECT coalesce(sum(calls), 0)::int8, coalesce(sum(total_time), 0)::float8
                   FROM pg_stat_user_functions WHERE funcname = 'max_upsert_leads'",
                &[],
            )
            .await
            .expect("function statistics");
        (row.get(0), row.get(1))
    }

    async fn sync(&mut self, run: &str, force_full: bool) -> SyncRun {
        let (calls_before, ms_before) = self.upserts().await;
        let requests_before = self.fake.requests().len();
        let db = self.pool().await;
        self.client
            .batch_execute("CHECKPOINT")
            .await
            .expect("checkpoint");
        let start = self.clock();
        let report: Report = sync_tenant(
            &db,
            self.tenant,
            self.connection,
            self.settings,
            force_full,
            true,
        )
        .await
        .expect("the sync reaches the database");
        let took = self.since(&start);
        self.close(db).await;
        let (calls, ms) = self.upserts().await;
        SyncRun {
            run: run.to_owned(),
            outcome: report.outcome.to_owned(),
            wall_seconds: took.wall_seconds,
            postgres_cpu_seconds: took.postgres,
            postgres_us_per_lead: took.postgres * 1e6 / f64::from(report.leads_read.max(1)),
            sync_cpu_seconds: (took.this_process - took.fake).max(0.0),
            fake_crm_cpu_seconds: took.fake,
            crm_requests: self.fake.requests().len() - requests_before,
            upsert_statements: calls - calls_before,
            upsert_ms: ms - ms_before,
            leads_read: report.leads_read,
            leads_written: report.leads_written,
            leads_removed: report.leads_removed,
            phones_skipped: report.phones_skipped,
        }
    }

    /// The rows the sync wrote, written again for another tenant by PostgreSQL alone: the leads in
    /// one `INSERT ... SELECT` into `max_leads`, their numbers in one into `max_lead_phones`, one
    /// transaction, as the superuser (no row-level security), from a table holding them (no
    /// JSON, no conflict to check, nothing read back).
    async fn floor(&self) -> FloorRun {
        self.client
            .batch_execute(&format!(
                "DROP TABLE IF EXISTS bench_directory_source;
                 CREATE TABLE bench_directory_source AS
                     SELECT lead_id, name, phones, email, crm_url, modified_at
                       FROM max_leads WHERE tenant_id = '{TENANT}';
                 CHECKPOINT;"
            ))
            .await
            .expect("the floor's source");
        let start = self.clock();
        self.client
            .batch_execute(&format!(
                "BEGIN;
                 INSERT INTO max_leads
                        (tenant_id, lead_id, name, phones, email, crm_url, source, modified_at)
                 SELECT '{FLOOR_TENANT}', lead_id, name, phones, email, crm_url, 'espocrm',
                        modified_at
                   FROM bench_directory_source;
                 INSERT INTO max_lead_phones (tenant_id, phone, lead_id, lead_name, from_directory)
                 SELECT '{FLOOR_TENANT}', p.phone, s.lead_id, s.name, true
                   FROM bench_directory_source AS s CROSS JOIN LATERAL unnest(s.phones) AS p(phone);
                 COMMIT;"
            ))
            .await
            .expect("the floor's writes");
        let took = self.since(&start);
        let row = self
            .client
            .query_one(
                &format!(
                    "SELECT (SELECT count(*) FROM max_leads WHERE tenant_id = '{FLOOR_TENANT}'),
                            (SELECT count(*) FROM max_lead_phones WHERE tenant_id = '{FLOOR_TENANT}')"
                ),
                &[],
            )
            .await
            .expect("count the floor's rows");
        self.client
            .batch_execute("DROP TABLE bench_directory_source")
            .await
            .expect("drop the floor's source");
        let (leads, phones): (i64, i64) = (row.get(0), row.get(1));
        FloorRun {
            leads: leads as u64,
            phones: phones as u64,
            wall_seconds: took.wall_seconds,
            postgres_cpu_seconds: took.postgres,
            postgres_us_per_lead: took.postgres * 1e6 / leads.max(1) as f64,
        }
    }
}

/// The threads of this process.
fn threads() -> Vec<String> {
    std::fs::read_dir("/proc/self/task")
        .map(|entries| {
            entries
                .filter_map(Result::ok)
                .filter_map(|entry| entry.file_name().into_string().ok())
                .collect()
        })
        .unwrap_or_default()
}

const FIRST_NAMES: [&str; 16] = [
    "Camille", "Léa", "Manon", "Chloé", "Inès", "Lucas", "Hugo", "Louis", "Nathan", "Jules",
    "Sarah", "Emma", "Thomas", "Nicolas", "Julie", "Amélie",
];
const LAST_NAMES: [&str; 16] = [
    "Martin", "Bernard", "Dubois", "Thomas", "Robert", "Richard", "Petit", "Durand", "Leroy",
    "Moreau", "Simon", "Laurent", "Lefèvre", "Michel", "Garcia", "Fournier",
];
const DOMAINS: [&str; 4] = ["gmail.com", "orange.fr", "free.fr", "exemple.fr"];

/// `count` leads as a French agency's EspoCRM keeps them (seeded): EspoCRM-like ids, names, one
/// or two mobile numbers written the ways people write them (national ones completed with the
/// connection's country code), mostly an address, modified over the past hours, about four a
/// second; one number in 200 is no number.
fn crm_leads(count: usize, now: OffsetDateTime) -> Vec<FakeLead> {
    let mut rng = Rng::new(0x4553_5030);
    let seconds = (count / 4).max(1) as u64;
    let first_at = now - Duration::seconds(seconds as i64 + 3_600);
    (0..count)
        .map(|i| {
            let first = FIRST_NAMES[rng.below(16) as usize];
            let last = LAST_NAMES[rng.below(16) as usize];
            let id = format!("6{i:07x}{:09x}", rng.next() >> 28);
            let modified_at = first_at + Duration::seconds(rng.below(seconds) as i64);
            let mut lead = FakeLead::new(&id, &format!("{first} {last}"), modified_at);
            let numbers = if rng.below(100) < 35 { 2 } else { 1 };
            for k in 0..numbers {
                lead = lead.with_phone(&number(i * 2 + k, rng.below(200)));
            }
            if rng.below(10) != 0 {
                let slug = |name: &str| name.to_lowercase().replace(['é', 'è'], "e");
                lead = lead.with_email(&format!(
                    "{}.{}{i}@{}",
                    slug(first),
                    slug(last),
                    DOMAINS[rng.below(4) as usize]
                ));
            }
            lead
        })
        .collect()
}

/// The mobile number `n` (distinct for each `n`), written one of five ways by `style`.
fn number(n: usize, style: u64) -> String {
    let digits = format!("{:08}", (n as u64 * 4_973) % 100_000_000);
    let mobile = if n.is_multiple_of(3) { '7' } else { '6' };
    let pairs: Vec<&str> = (0..4).map(|p| &digits[p * 2..p * 2 + 2]).collect();
    match style {
        0 => "n/a".to_owned(),
        s if s % 5 == 0 => format!("0{mobile} {}", pairs.join(" ")),
        s if s % 5 == 1 => format!("+33 {mobile} {}", pairs.join(" ")),
        s if s % 5 == 2 => format!("0{mobile}{digits}"),
        s if s % 5 == 3 => format!("+33{mobile}{digits}"),
        _ => format!("0{mobile}.{}", pairs.join(".")),
    }
}

/// Open alerts of the CRM tenant, one per lead of `leads` (all in the directory), written as the
/// data set's are (binary COPY, the counters' triggers firing).
async fn add_open_alerts(client: &mut Client, leads: &[FakeLead]) {
    let mut rng = Rng::new(0x414c_5254);
    let now = OffsetDateTime::now_utc();
    let types = [
        Type::TEXT,
        Type::TEXT,
        Type::TEXT,
        Type::TEXT,
        Type::TEXT,
        Type::TIMESTAMPTZ,
    ];
    let tx = client.transaction().await.expect("begin");
    let sink = tx
        .copy_in(
            "COPY max_alerts (tenant_id, lead_id, type, severity, message, created_at) \
             FROM STDIN (FORMAT binary)",
        )
        .await
        .expect("copy");
    let writer = BinaryCopyInWriter::new(sink, &types);
    futures_util::pin_mut!(writer);
    for (i, lead) in leads.iter().enumerate() {
        let kind = shared::rules::ALL[i % shared::rules::ALL.len()].name;
        let severity = ["high", "medium", "low"][rng.below(3) as usize];
        let message = format!("Aucun contact depuis {} jours", 7 + i % 20);
        let at = now - Duration::seconds(rng.below(20 * 3600) as i64);
        let values: [&(dyn ToSql + Sync); 6] = [&TENANT, &lead.id, &kind, &severity, &message, &at];
        writer
            .as_mut()
            .write(&values)
            .await
            .expect("write an alert");
    }
    writer.finish().await.expect("finish the copy");
    tx.commit().await.expect("commit the alerts");
}

/// The fewest leads the directory holds when the listing is explained: it is a table every tenant
/// shares, and one holding a few hundred leads in all would be read whole more cheaply than
/// probed (a hash join), which no shared directory is.
const DIRECTORY_AT_LEAST: i64 = 100_000;

/// Leads of another tenant (ids and names only), up to [`DIRECTORY_AT_LEAST`] leads in all;
/// returns how many were added.
async fn add_other_tenants_leads(client: &mut Client) -> i64 {
    let held: i64 = client
        .query_one("SELECT count(*) FROM max_leads", &[])
        .await
        .expect("count the directory")
        .get(0);
    let missing = (DIRECTORY_AT_LEAST - held).max(0);
    if missing > 0 {
        admin::ensure_tenant(client, &TenantId::parse(OTHERS).expect("tenant id"), OTHERS)
            .await
            .expect("create the tenant");
        client
            .execute(
                "INSERT INTO max_leads (tenant_id, lead_id, name, source)
                 SELECT $1, 'lead-' || n, 'Lead ' || n, 'api' FROM generate_series(1, $2::int8) AS n",
                &[&OTHERS, &missing],
            )
            .await
            .expect("other tenants' leads");
    }
    missing
}

/// The listing's page without the directory: the statement's inner query, as it was before V9.
fn page_without_directory() -> &'static str {
    shared::alerts::ACTIVE_ALERTS
        .split_once("FROM (")
        .and_then(|(_, rest)| rest.rsplit_once(") AS a LEFT JOIN max_leads"))
        .map(|(inner, _)| inner)
        .expect("ACTIVE_ALERTS is a page of alerts joined to max_leads")
}

/// The first page of the CRM tenant, with its directory rows and without, `EXPLAIN (ANALYZE,
/// BUFFERS)` as the functions' role; panics when the page is not read the way it must be.
async fn listing_plans(client: &Client, statistics: &str, probe: Probe) -> (Listing, String) {
    let setup = format!(
        "SET LOCAL ROLE max_app; SET LOCAL jit = off; SET LOCAL app.tenant_id = '{TENANT}';"
    );
    let with = first_page(shared::alerts::ACTIVE_ALERTS, TENANT);
    let without = first_page(page_without_directory(), TENANT);
    let mut runs = Vec::new();
    for sql in [&with, &without] {
        let mut best: Option<(Plan, Value)> = None;
        for _ in 0..EXPLAIN_RUNS {
            let text = run_explain(
                client,
                &setup,
                &format!("EXPLAIN (ANALYZE, BUFFERS, FORMAT JSON) {sql}"),
            )
            .await;
            let json: Value = serde_json::from_str(&text).expect("a plan in JSON");
            let plan = plan_figures(&json);
            if best
                .as_ref()
                .is_none_or(|(b, _)| plan.execution_ms < b.execution_ms)
            {
                best = Some((plan, json));
            }
        }
        runs.push(best.expect("explained"));
    }
    let (without_directory, _) = runs.pop().expect("without");
    let (with_directory, json) = runs.pop().expect("with");
    let (probe_node, directory_probes) =
        check_shape(&json[0]["Plan"], probe).unwrap_or_else(|problem| {
            panic!(
                "the listing's plan ({statistics}) is no longer a page off \
                 max_alerts_active_by_urgency with one max_leads_pkey probe per row: {problem}\n{}",
                serde_json::to_string_pretty(&json).unwrap_or_default()
            )
        });
    let mut text = String::new();
    for (title, sql) in [
        ("with the directory", &with),
        ("without the directory (the statement before V9)", &without),
    ] {
        text.push_str(&format!(
            "## Lead directory: first page of active alerts of the CRM tenant, {title}; \
             statistics {statistics}\n\n"
        ));
        text.push_str(
            &run_explain(client, &setup, &format!("EXPLAIN (ANALYZE, BUFFERS) {sql}")).await,
        );
        text.push('\n');
    }
    (
        Listing {
            statistics: statistics.to_owned(),
            rows_fetched: FIRST_PAGE_ROWS,
            with_directory,
            without_directory,
            directory_probes,
            probe: probe_node,
        },
        text,
    )
}

/// Execution and planning time, and the buffers of the plan's top node.
fn plan_figures(json: &Value) -> Plan {
    let top = &json[0];
    let number = |value: &Value| value.as_f64().unwrap_or(0.0);
    Plan {
        execution_ms: number(&top["Execution Time"]),
        planning_ms: number(&top["Planning Time"]),
        shared_hit: top["Plan"]["Shared Hit Blocks"].as_u64().unwrap_or(0),
        shared_read: top["Plan"]["Shared Read Blocks"].as_u64().unwrap_or(0),
    }
}

/// A plan node and the types of the nodes above it.
fn nodes<'a>(node: &'a Value, above: &mut Vec<String>, out: &mut Vec<(&'a Value, Vec<String>)>) {
    out.push((node, above.clone()));
    above.push(
        node["Node Type"].as_str().unwrap_or_default().to_owned()
            + node["Join Type"]
                .as_str()
                .map_or(String::new(), |join| format!(" {join}"))
                .as_str(),
    );
    for child in node["Plans"].as_array().into_iter().flatten() {
        nodes(child, above, out);
    }
    above.pop();
}

/// How the listing's plan may probe the directory.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Probe {
    /// An Index Scan of `max_leads_pkey` per row: with statistics.
    IndexScan,
    /// That, or a Bitmap Heap Scan over a Bitmap Index Scan of `max_leads_pkey` per row: what
    /// the planner takes while `max_leads` was never analyzed (autovacuum off), still one
    /// primary-key probe per row.
    IndexOrBitmapScan,
}

/// Checks the listing's plan: a `Limit` over an index scan of `max_alerts_active_by_urgency`,
/// joined by a left nested loop to a probe of `max_leads_pkey` run at most once per fetched row
/// (as `probe` allows), and no sequential scan, other bitmap scan, hash or merge join anywhere.
/// Returns the node that probes the directory and how many times it ran.
fn check_shape(plan: &Value, probe: Probe) -> Result<(String, u64), String> {
    let mut all = Vec::new();
    nodes(plan, &mut Vec::new(), &mut all);
    let bitmap_probe = |node: &Value| {
        probe == Probe::IndexOrBitmapScan
            && match node["Node Type"].as_str() {
                Some("Bitmap Heap Scan") => node["Relation Name"] == "max_leads",
                Some("Bitmap Index Scan") => node["Index Name"] == "max_leads_pkey",
                _ => false,
            }
    };
    for (node, _) in &all {
        let kind = node["Node Type"].as_str().unwrap_or_default();
        if matches!(
            kind,
            "Seq Scan" | "Bitmap Heap Scan" | "Bitmap Index Scan" | "Hash Join" | "Merge Join"
        ) && !bitmap_probe(node)
        {
            return Err(format!("a {kind} node"));
        }
    }
    let scan_of = |kind: &str, index: &str| {
        all.iter()
            .find(|(node, _)| node["Node Type"] == kind && node["Index Name"] == index)
    };
    let (_, above) = scan_of("Index Scan", "max_alerts_active_by_urgency")
        .ok_or("no index scan of max_alerts_active_by_urgency")?;
    if !above.iter().any(|kind| kind == "Limit") {
        return Err("the urgency index is not read under a Limit".to_owned());
    }
    let (kind, node, above) = match scan_of("Index Scan", "max_leads_pkey") {
        Some((node, above)) => ("Index Scan", *node, above),
        None => {
            let (_, index_above) = scan_of("Bitmap Index Scan", "max_leads_pkey")
                .filter(|_| probe == Probe::IndexOrBitmapScan)
                .ok_or("no index scan of max_leads_pkey")?;
            // The heap scan it feeds: the node right above it.
            let (heap, heap_above) = all
                .iter()
                .find(|(node, heap_above)| {
                    node["Node Type"] == "Bitmap Heap Scan"
                        && heap_above.len() + 1 == index_above.len()
                })
                .ok_or("a bitmap index scan of max_leads_pkey without its heap scan")?;
            ("Bitmap Heap Scan", *heap, heap_above)
        }
    };
    // Between them, at most the projections (`Result`) of the casts.
    if above
        .iter()
        .rev()
        .find(|kind| *kind != "Result")
        .map(String::as_str)
        != Some("Nested Loop Left")
    {
        return Err("max_leads_pkey is not probed by a left nested loop".to_owned());
    }
    let loops = node["Actual Loops"].as_u64().unwrap_or(u64::MAX);
    if loops > FIRST_PAGE_ROWS as u64 {
        return Err(format!(
            "max_leads_pkey probed {loops} times for a page of {FIRST_PAGE_ROWS} rows"
        ));
    }
    Ok((kind.to_owned(), loops))
}

/// The figures on the terminal.
fn print(directory: &Directory) {
    for sync in &directory.syncs {
        println!(
            "  sync {}: {:.2} s, PostgreSQL CPU {:.2} s ({:.0} us per lead), sync {:.2} s, fake \
             EspoCRM {:.2} s; {} requests, {} upserts; read {} written {} removed {} phones \
             skipped {}",
            sync.run,
            sync.wall_seconds,
            sync.postgres_cpu_seconds,
            sync.postgres_us_per_lead,
            sync.sync_cpu_seconds,
            sync.fake_crm_cpu_seconds,
            sync.crm_requests,
            sync.upsert_statements,
            sync.leads_read,
            sync.leads_written,
            sync.leads_removed,
            sync.phones_skipped
        );
    }
    let floor = &directory.floor;
    println!(
        "  floor: {} leads and {} numbers in {:.2} s, PostgreSQL CPU {:.2} s ({:.0} us per lead)",
        floor.leads,
        floor.phones,
        floor.wall_seconds,
        floor.postgres_cpu_seconds,
        floor.postgres_us_per_lead
    );
    for listing in &directory.listing {
        println!(
            "  listing ({}): {:.3} ms, {} buffers hit, {} probes; without the directory {:.3} ms, \
             {} buffers hit",
            listing.statistics,
            listing.with_directory.execution_ms,
            listing.with_directory.shared_hit,
            listing.directory_probes,
            listing.without_directory.execution_ms,
            listing.without_directory.shared_hit
        );
    }
}
