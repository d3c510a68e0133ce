//! BENCHMARKS.md: the results written out as Markdown, one function per section (the header,
//! the routes against pgbench, the routes with the database on cores of its own, where the
//! processor time goes, PostgreSQL's time against the bare work, the WhatsApp webhook's message
//! against its status, the lead directory, the evaluator, the cold start).

use std::fmt::Write as _;
use std::path::Path;

use crate::directory::Directory;
use crate::generate::Statistics;
use crate::greenapi::Mix;
use crate::metrics::MetricsResults;
use crate::pgbench::PgbenchStats;
use crate::results::Results;
use crate::routes::AgainstBare;

/// The whole report; `svg` (the latency chart) is linked relative to `output`'s folder.
pub(crate) fn report(results: &Results, svg: &Path, output: &Path) -> String {
    let base = output.parent().unwrap_or(Path::new("."));
    let svg = svg.strip_prefix(base).unwrap_or(svg).display().to_string();
    let mut md = String::new();
    header(&mut md, results);
    routes(&mut md, results);
    let _ = writeln!(md, "![Latency against concurrency]({svg})\n");
    split_report(&mut md, results);
    processor_time(&mut md, results);
    against_bare(&mut md, results);
    whatsapp(&mut md, results);
    directory(&mut md, results.directory.as_ref(), results.scale.name);
    evaluator(&mut md, results);
    // Measured by `max-bench metrics` on a data set of its own: kept as it last wrote it.
    if let Some(saved) = crate::metrics::saved(output) {
        md.push_str(&metrics(&saved));
    }
    cold_start(&mut md, results);
    md
}

/// The metrics' section (`max-bench metrics`).
pub(crate) fn metrics(m: &MetricsResults) -> String {
    let mut md = String::new();
    let _ = writeln!(
        md,
        "## Metrics
"
    );
    let _ = writeln!(
        md,
        "`GET /api/alerts/metrics` and `max-local report` read a tenant's figures off the daily \
         roll-ups the database keeps as alerts change (migrations/V13, docs/alerts.md \"Metrics\"). \
         Measured alone by `max-bench metrics --write`, in a database of its own (created, \
         migrated, dropped afterwards): one tenant given {} alerts over the last {} days, written \
         through the real triggers in statements of 50,000 ({:.1} s, history and roll-ups \
         included), nineteen in twenty resolved (three in five of those by a person), two in five \
         acknowledged, and twelve users opening the \
         widget on most days. The roll-ups then held {} rows (a day's, for a rule and a severity, with \
         histograms of up to {} buckets: {:.1} MB, against {:.1} MB for the alerts). Each read is `shared::metrics::read` as the function \
         runs it: the functions' role and the tenant's scope, three statements pipelined in one \
         read-only transaction over loopback, the answer built (every day of the period, each \
         rule and severity); the first read, which prepares the statements, is not counted.\n",
        m.alerts,
        m.history_days,
        m.load_seconds,
        m.day_rows,
        m.histogram_buckets,
        m.rollup_mb,
        m.alerts_mb
    );
    let _ = writeln!(md, "| period | reads | median ms | p95 ms | max ms |");
    let _ = writeln!(md, "|---|---|---|---|---|");
    for r in [&m.month, &m.year] {
        let _ = writeln!(
            md,
            "| last {} days | {} | {:.2} | {:.2} | {:.2} |",
            r.days, r.reads, r.median_ms, r.p95_ms, r.max_ms
        );
    }
    let _ = writeln!(
        md,
        "| last 30 days counted from the alerts (raised, resolutions, median time to resolve per \
         day; one query as the owner, fastest of 5) | 5 | {:.2} | - | - |\n",
        m.counted_ms
    );
    let _ = writeln!(
        md,
        "Before timing, each day's raised alerts and resolutions from the roll-ups were checked \
         equal to those counted from the alerts, and each day's median time to resolve within \
         10 % of the exact one (the run fails otherwise). Conditions: PostgreSQL {}, autovacuum \
         {} on the server, `VACUUM ANALYZE` after the load; {}.\n",
        m.postgres, m.autovacuum, m.machine
    );
    md
}

/// The title, how the report was made, the machine and the data set.
fn header(md: &mut String, results: &Results) {
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
    if results.routes_alone {
        let _ = writeln!(
            md,
            "The route sections (from \"Routes, and the database's own limit\" to the WhatsApp \
             webhook's) are from a later run of the routes alone, `max-bench routes --scale {} \
             --write`, on the same data set loaded again by `max-bench generate --scale {}` (same \
             seed, statistics refreshed the same way) and evaluated once (`max-local evaluate`), \
             as `all` leaves it for its routes; the load, the evaluator and the cold start are \
             from the `all` run.\n",
            results.scale.name, results.scale.name
        );
    }
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
         lead summaries as it goes).",
        s.name,
        s.tenants,
        s.leads,
        results.loaded.activities,
        s.huge_open_alerts,
        s.small_open_alerts,
        results.loaded.rows_per_second,
        results.loaded.seconds
    );
    let _ = writeln!(md, "{}\n", conditions(results));
}

/// Under which autovacuum and statistics conditions the run measured.
fn conditions(results: &Results) -> String {
    let statistics = match results.statistics {
        Statistics::Fresh => {
            "the generator compacted the lead summaries (`VACUUM FULL`: the load's updates of \
             them left dead rows that no autovacuum reclaimed) and ran `VACUUM \
             ANALYZE` after loading, so the planner's statistics describe the data set"
        }
        Statistics::Stale => {
            "nothing analyzed the tables after loading, so the planner's statistics are those of \
             the empty tables"
        }
    };
    format!(
        "- Conditions: autovacuum {} on the server; {statistics}. The evaluator's full pass with \
         stale statistics against fresh ones on the same data: `max-bench statistics` \
         (bench/PROFILE.md, \"Stale statistics\").",
        results.autovacuum
    )
}

/// Each route over HTTP against its statements with pgbench, at each concurrency level.
fn routes(md: &mut String, results: &Results) {
    let _ = writeln!(md, "## Routes, and the database's own limit\n");
    let _ = writeln!(
        md,
        "Each route through HTTP (closed loop, keep-alive connections, every latency kept), then \
         the same statements it sends (BEGIN, role + tenant + API key check, the work, COMMIT, \
         pipelined as the functions pipeline them; for the log, the one call that takes the \
         role, checks the key and logs, a transaction of its own) replayed by `pgbench -M prepared` at the same \
         concurrency. *Ratio* is the route's throughput over pgbench's: the share of what \
         PostgreSQL alone can do that the whole stack (HTTP, gateway emulation, JSON, handlers) \
         keeps. *Seed bar* compares p99 with the seed's 500 ms. The WhatsApp webhook's requests \
         are Green-API's notifications in their realistic mix: for each message, \
         `outgoingAPIMessageReceived` then its `outgoingMessageStatus` `sent` (a replay: stored \
         with the message), `delivered` and `read` (see its own section below).\n"
    );
    // The webhook's notifications of one kind alone are measured against the bare work only.
    for route in results.routes.iter().filter(|r| !r.http.is_empty()) {
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

/// The processor time each process spent per request, and PostgreSQL's under pgbench.
fn processor_time(md: &mut String, results: &Results) {
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
}

/// PostgreSQL's CPU time per request through HTTP, per transaction of the route's statements
/// replayed and per transaction of its bare statements, commits flushed and unflushed.
fn against_bare(md: &mut String, results: &Results) {
    let _ = writeln!(
        md,
        "### PostgreSQL's CPU per request against the bare work\n"
    );
    let Some(level) = results
        .routes
        .iter()
        .find_map(|route| route.against_bare.first())
        .map(|run| run.http.concurrency)
    else {
        let _ = writeln!(md, "Not measured in this run.\n");
        return;
    };
    let _ = writeln!(
        md,
        "PostgreSQL's CPU time (all its processes, from `/proc`) at concurrency {level}: per \
         request through HTTP, per transaction of the route's statements replayed by pgbench (as \
         above), and per transaction of its *bare* statements, the work alone: no BEGIN, role, \
         tenant and key check or COMMIT statement, run by `pgbench -M prepared` as the superuser \
         the benchmark connects as (so no row-level security) with `session_replication_role = \
         replica` (so no triggers). Bare is, for the log, the one-row `INSERT INTO \
         lead_activities` of the columns and values the route writes, a new lead (and key) each \
         time, with the table's indexes; for the active alerts, the route's counters and \
         first-page statements (same tenant and parameters) in one pipeline without BEGIN, one \
         implicit transaction; for resolve, `UPDATE max_alerts SET resolved_at = now(), \
         resolved_by = ..., resolution = 'manual' WHERE tenant_id = ... AND id = ...` over the \
         same alerts, which writes a row version each time where the route only locks an alert \
         already resolved; for the WhatsApp webhook, the log's insert (see its own section); \
         each write a transaction of its own. *Flushed*: \
         `synchronous_commit = on`, the server's default; *unflushed*: `off` on both sides (the \
         server's connections through the `options` of their URL, pgbench's through \
         `PGOPTIONS`). *HTTP / bare* is how many times the bare work PostgreSQL does per \
         request.\n"
    );
    let _ = writeln!(
        md,
        "| route | commits | PostgreSQL us per request (HTTP) | per replayed transaction | per bare transaction | HTTP / bare |"
    );
    let _ = writeln!(md, "|---|---|---|---|---|---|");
    for route in &results.routes {
        for run in &route.against_bare {
            let _ = writeln!(
                md,
                "| {} | {} | {:.0} | {} | {} | {} |",
                route.route,
                run.commits.name(),
                run.http_cpu.postgres_us,
                cpu_us(&run.replay),
                cpu_us(&run.bare),
                if run.bare.failed {
                    "-".to_owned()
                } else {
                    format!(
                        "{:.2}",
                        run.http_cpu.postgres_us / run.bare.postgres_us.max(f64::EPSILON)
                    )
                }
            );
        }
    }
    let _ = writeln!(md);
}

/// The WhatsApp webhook: PostgreSQL's CPU time per notification of the realistic mix, of a message
/// alone and of a status alone, against the bare insert, commits flushed and unflushed.
fn whatsapp(md: &mut String, results: &Results) {
    let _ = writeln!(
        md,
        "### POST /webhooks/greenapi: a status against a message\n"
    );
    let measured: Vec<(Mix, &[AgainstBare])> = Mix::ALL
        .into_iter()
        .filter_map(|mix| {
            results
                .routes
                .iter()
                .find(|r| r.route == mix.route())
                .map(|r| (mix, r.against_bare.as_slice()))
        })
        .collect();
    let (Some(numbers), Some(level)) = (
        &results.whatsapp,
        measured
            .iter()
            .find_map(|(_, runs)| runs.first())
            .map(|run| run.http.concurrency),
    ) else {
        let _ = writeln!(md, "Not measured in this run.\n");
        return;
    };
    let _ = writeln!(
        md,
        "Green-API's notifications, built from its documented samples (`events/greenapi-*.json`), \
         to {} numbers mapped to as many generated leads spread over the data set ({} tenants, \
         each with a webhook token bound to its instance; every notification carries its \
         tenant's token and instance, which the database checks in the statement that stores it). \
         Each message is new (a new `idMessage`) and goes to the next number of its connection. \
         PostgreSQL's CPU time (all its processes, from `/proc`) per notification at concurrency \
         {level}, measured as in the section above: through HTTP, replayed by pgbench (the \
         function's one statement, `max_record_whatsapp`, with the same values), and the bare \
         work, the log's one-row `INSERT INTO lead_activities` (no triggers, no row-level \
         security), each a transaction of its own. *Mix*: a message (`outgoingAPIMessageReceived`, \
         a new activity that updates the lead's summary), then its statuses `sent` (a replay: \
         found stored), `delivered` and `read` (each a new activity and a narrow update of the \
         lead's last outcome), a second apart. *Message*: messages alone. *Status*: statuses \
         alone, `sent` of a message of the number stored before (a replay), `delivered` and \
         `read` of new ones, in turn. Same server and conditions as above (autovacuum {}, one \
         measurement right after the other).\n",
        numbers.phones, numbers.tenants, results.autovacuum
    );
    let _ = writeln!(
        md,
        "| notifications | commits | PostgreSQL us per request (HTTP) | per replayed transaction | per bare insert | HTTP / bare |"
    );
    let _ = writeln!(md, "|---|---|---|---|---|---|");
    for (mix, runs) in &measured {
        let name = match mix {
            Mix::Conversation => "mix (message, sent, delivered, read)",
            Mix::Messages => "message",
            Mix::Statuses => "status (sent, delivered, read)",
        };
        for run in *runs {
            let _ = writeln!(
                md,
                "| {name} | {} | {:.0} | {} | {} | {:.2} |",
                run.commits.name(),
                run.http_cpu.postgres_us,
                cpu_us(&run.replay),
                cpu_us(&run.bare),
                run.http_cpu.postgres_us / run.bare.postgres_us.max(f64::EPSILON)
            );
        }
    }
    let per = |mix: Mix, commits: &str| {
        measured
            .iter()
            .find(|(m, _)| *m == mix)
            .and_then(|(_, runs)| runs.iter().find(|run| run.commits.name() == commits))
            .map(|run| run.http_cpu.postgres_us)
    };
    let mut verdicts = Vec::new();
    for commits in ["flushed", "unflushed"] {
        if let (Some(message), Some(status)) =
            (per(Mix::Messages, commits), per(Mix::Statuses, commits))
        {
            verdicts.push(format!(
                "commits {commits}, {status:.0} us against {message:.0} us ({:.2} times)",
                status / message.max(f64::EPSILON)
            ));
        }
    }
    if !verdicts.is_empty() {
        let _ = writeln!(
            md,
            "\nA status notification over a message notification, PostgreSQL's CPU time per \
             request through HTTP: {}.\n",
            verdicts.join("; ")
        );
    } else {
        let _ = writeln!(md);
    }
}

/// The lead directory: the EspoCRM sync against the same rows written by PostgreSQL alone, and
/// the listing of alerts with its directory rows.
pub(crate) fn directory(md: &mut String, directory: Option<&Directory>, scale: &str) {
    let _ = writeln!(md, "## Lead directory\n");
    let Some(d) = directory else {
        let _ = writeln!(md, "Not measured in this run.\n");
        return;
    };
    let measured_by = if d.alone {
        format!(
            "Measured alone by `max-bench directory --scale {scale} --write` (the other sections \
             are from the runs they name)"
        )
    } else {
        "Measured by the same run, after the routes".to_owned()
    };
    let _ = writeln!(
        md,
        "The EspoCRM sync of one tenant into the lead directory (migrations/V9, \
         `crm::sync::sync_tenant`), and the listing of alerts that now reads the directory. \
         {measured_by}, in a database of its own, created and migrated for it and dropped \
         afterwards, with one fresh tenant. A fake EspoCRM (`shared::testing::espocrm`, on a \
         thread of the benchmark's process, over loopback HTTP) holds {} leads: French names, one \
         or two mobile numbers each written the ways people write them (`06 12 34 56 78`, \
         `+33 6 12 34 56 78`, `0612345678`, `06.12.34.56.78`; national ones completed with the \
         connection's `countryCode` 33; one in 200 is `n/a`, skipped), an e-mail for nine in \
         ten, `modifiedAt` spread over the past hours, about four leads a second. The sync reads \
         pages of {} by `modifiedAt` and writes each page in one `max_upsert_leads` statement \
         (its own transaction), then saves its cursor. Runs, in order: a full sync of every lead \
         (all new); an incremental sync after 1 % of the leads changed in the CRM (a new number \
         for half of them, a new address for the others); a full pass again with nothing \
         changed, which must write nothing; then, after the listing's plans below and `ANALYZE \
         max_leads, max_lead_phones, max_alerts`, the last two again (another 1 % changed). The \
         first three ran as an import into a new directory runs with autovacuum off: the \
         statements inside `max_upsert_leads` were planned with the statistics of an empty \
         `max_leads` (never analyzed).\n",
        d.leads, d.page_size
    );
    let _ = writeln!(
        md,
        "*Wall*: the run's elapsed time, which includes the fake EspoCRM's answers and HTTP: the \
         fake keeps no index and filters and sorts its whole list for every page, so its own CPU \
         time (*fake EspoCRM*, its thread's) is not the sync's. *PostgreSQL CPU*: user + system \
         time of all PostgreSQL's processes (from `/proc`, as for the routes above), the \
         database's work only. *Sync CPU*: this process without the fake's thread (the EspoCRM \
         client, JSON, the pages' batches, the database client). *Upserts*: calls of \
         `max_upsert_leads` and the time spent in them, as PostgreSQL counts them \
         (`pg_stat_user_functions`, `track_functions = pl` on the sync's connections). The last \
         row is the floor: the rows the first sync wrote, written again for another tenant by \
         PostgreSQL alone, the leads in one `INSERT INTO max_leads ... SELECT` and their numbers \
         in one `INSERT INTO max_lead_phones ... SELECT`, one transaction, from a table holding \
         them (same tables, indexes and checks; no JSON, no conflict to check, no row-level \
         security, nothing read back).\n"
    );
    let _ = writeln!(
        md,
        "| run | wall s | PostgreSQL CPU s | PostgreSQL us per lead | sync CPU s | fake EspoCRM CPU s | CRM requests | upserts | in upserts s | read | written | removed | numbers skipped |"
    );
    let _ = writeln!(md, "|---|---|---|---|---|---|---|---|---|---|---|---|---|");
    for sync in &d.syncs {
        let _ = writeln!(
            md,
            "| {} | {:.2} | {:.2} | {:.0} | {:.2} | {:.2} | {} | {} | {:.2} | {} | {} | {} | {} |",
            sync.run,
            sync.wall_seconds,
            sync.postgres_cpu_seconds,
            sync.postgres_us_per_lead,
            sync.sync_cpu_seconds,
            sync.fake_crm_cpu_seconds,
            sync.crm_requests,
            sync.upsert_statements,
            sync.upsert_ms / 1000.0,
            sync.leads_read,
            sync.leads_written,
            sync.leads_removed,
            sync.phones_skipped
        );
    }
    let floor = &d.floor;
    let _ = writeln!(
        md,
        "| PostgreSQL alone: the same leads and numbers, two `INSERT ... SELECT` | {:.2} | {:.2} | {:.0} | - | - | - | - | - | - | {} leads, {} numbers | - | - |",
        floor.wall_seconds,
        floor.postgres_cpu_seconds,
        floor.postgres_us_per_lead,
        floor.leads,
        floor.phones
    );
    let per_lead = |run: &str| {
        d.syncs
            .iter()
            .find(|sync| sync.run == run)
            .map(|sync| sync.postgres_us_per_lead)
    };
    if let (Some(before), Some(after), Some(unchanged_before), Some(unchanged_after)) = (
        per_lead("incremental, 1 % of the leads changed"),
        per_lead("after ANALYZE: incremental, another 1 % changed"),
        per_lead("full again, nothing changed"),
        per_lead("after ANALYZE: full again, nothing changed"),
    ) {
        let _ = writeln!(
            md,
            "\nWith statistics, PostgreSQL's CPU per lead of an incremental sync went from {before:.0} \
             us to {after:.0} us, and of a full pass with nothing changed from \
             {unchanged_before:.0} us to {unchanged_after:.0} us (the plans of the statements \
             inside `max_upsert_leads` are in bench/PROFILE.md, \"The lead directory's upserts\")."
        );
    }
    if let Some(full) = d.syncs.first() {
        let _ = writeln!(
            md,
            "\nThe full sync of new leads costs PostgreSQL {:.1} times the CPU of the same rows \
             written alone ({:.0} us per lead against {:.0}).",
            full.postgres_cpu_seconds / floor.postgres_cpu_seconds.max(f64::EPSILON),
            full.postgres_us_per_lead,
            floor.postgres_us_per_lead
        );
    }
    let _ = writeln!(
        md,
        "\nConditions: autovacuum {} on the server (nothing vacuumed or analyzed the directory \
         but the `ANALYZE` said); `synchronous_commit = {}`; a `CHECKPOINT` before each run; the \
         directory then held {} leads of the two tenants ({:.1} MB with its indexes) and {} \
         numbers ({:.1} MB). PostgreSQL's CPU time is that of the whole server: whatever else it \
         ran meanwhile would count in it.\n",
        d.autovacuum,
        d.synchronous_commit,
        d.leads + floor.leads as usize,
        d.sizes.leads_bytes as f64 / 1_048_576.0,
        d.sizes.phones,
        d.sizes.lead_phones_bytes as f64 / 1_048_576.0
    );
    let _ = writeln!(
        md,
        "### The listing reads one directory row per shown alert\n"
    );
    let _ = writeln!(
        md,
        "After the syncs, the tenant was given {} open alerts, one per lead of the directory \
         (binary COPY, as the data set's){}. `EXPLAIN (ANALYZE, BUFFERS)` of the listing's first \
         page (`alerts::ACTIVE_ALERTS` with the parameters `list_active` binds: every severity, \
         no cursor, {} rows fetched for a page of {} and the next page's cursor), as the \
         functions' role with the tenant set, against the same page without the directory (the \
         statement's inner query, the listing before V9). The plan is checked, and the run fails \
         when it changes: a `Limit` over an Index Scan of `max_alerts_active_by_urgency`, joined \
         by a left Nested Loop to an Index Scan of `max_leads_pkey` run once per fetched row at \
         most, and no sequential or bitmap scan, hash or merge join (while `max_leads` was never \
         analyzed, the probe may be a Bitmap Heap Scan over a Bitmap Index Scan of \
         `max_leads_pkey`, still one per row). Times are the fastest of {} \
         runs each (the first reads the pages into the cache), with `EXPLAIN ANALYZE`'s own \
         timing overhead; *buffers* are the shared buffers the top node hit (none was read from \
         disk unless said). First with the statistics as the syncs left them (autovacuum off: \
         `max_leads` never analyzed), then after `ANALYZE max_leads, max_lead_phones, max_alerts`. The plans: \
         `bench/results/{scale}-directory-plans.txt`.\n",
        d.open_alerts,
        if d.other_leads > 0 {
            format!(
                ", and {} leads of another tenant (ids and names) were added to the directory, a \
                 table every tenant shares: one of a few thousand rows in all is read whole \
                 (hash join) more cheaply than probed",
                d.other_leads
            )
        } else {
            String::new()
        },
        d.listing.first().map_or(0, |l| l.rows_fetched),
        shared::alerts::DEFAULT_LIMIT,
        crate::directory::EXPLAIN_RUNS
    );
    let _ = writeln!(
        md,
        "| statistics | with the directory: ms | buffers hit | `max_leads_pkey` probed by | probes | without: ms | buffers hit |"
    );
    let _ = writeln!(md, "|---|---|---|---|---|---|---|");
    for listing in &d.listing {
        let read = |plan: &crate::directory::Plan| {
            if plan.shared_read > 0 {
                format!("{} (read {})", plan.shared_hit, plan.shared_read)
            } else {
                plan.shared_hit.to_string()
            }
        };
        let _ = writeln!(
            md,
            "| {} | {:.3} | {} | {} | {} | {:.3} | {} |",
            listing.statistics,
            listing.with_directory.execution_ms,
            read(&listing.with_directory),
            listing.probe,
            listing.directory_probes,
            listing.without_directory.execution_ms,
            read(&listing.without_directory)
        );
    }
    let _ = writeln!(md);
}

/// PostgreSQL's CPU time per transaction under pgbench, or that pgbench failed.
fn cpu_us(db: &PgbenchStats) -> String {
    if db.failed {
        "pgbench failed".to_owned()
    } else {
        format!("{:.0}", db.postgres_us)
    }
}

/// The evaluator's passes, and the full pass's writes by PostgreSQL alone.
fn evaluator(md: &mut String, results: &Results) {
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
         connections into a copy of `max_alerts` with its indexes, and as many lead summaries \
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
}

/// Each function's cold start and footprint.
fn cold_start(md: &mut String, results: &Results) {
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
}
