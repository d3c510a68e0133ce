//! The database's own limit: the very statements each route sends (BEGIN, the role, tenant and key
//! check, the work, COMMIT, pipelined as the functions pipeline them; for the log, the one call
//! that does all of it), replayed by `pgbench` in prepared mode at the same concurrency; and each
//! route's bare statements, the work alone without that framing.

use std::process::Command;
use std::time::Duration;

use shared::activities::LOG_ACTIVITY;
use shared::alerts::{ACTIVE_ALERTS, RESOLVE, STATS};
use shared::whatsapp::RECORD_WHATSAPP;

use crate::generate::HUGE;
use crate::greenapi::{self, Mix, Step};

/// The opening statement the functions send for an API key (see `shared::tenancy`). pgbench reads any
/// `:word` as a variable, even inside quotes: texts with a colon are passed as variables.
const SCOPE: &str = "SELECT set_config('role', 'max_app', true), set_config('statement_timeout', '5000ms', true), \
                     max_authorize_key(:tenant, decode(:keyhash, 'hex'), :scope);";

/// The session setting under which the bare statements run: ordinary triggers (and so the
/// activity and alert-counter triggers) do not fire. It needs a superuser, which the benchmark
/// connects as, and which bypasses row-level security too.
pub const NO_TRIGGERS: &str = "-c session_replication_role=replica";

/// Replaces `$1`..`$n` by pgbench expressions.
fn bind(sql: &str, values: &[&str]) -> String {
    let mut out = sql.to_owned();
    for (index, value) in values.iter().enumerate().rev() {
        out = out.replace(&format!("${}", index + 1), value);
    }
    format!("{};", out.split_whitespace().collect::<Vec<_>>().join(" "))
}

/// Statements sent one after the other without waiting for their answers, with one Sync at the
/// end. Without a BEGIN among them they run in one implicit transaction, which the Sync ends.
fn pipeline(statements: &[String]) -> String {
    let mut script = String::from("\\startpipeline\n");
    for statement in statements {
        script.push_str(statement);
        script.push('\n');
    }
    script.push_str("\\endpipeline\n");
    script
}

/// The route's statements framed as the functions frame them: `begin`, the role, tenant and key
/// check, the work, COMMIT, in one pipeline.
fn framed(begin: &str, work: Vec<String>) -> String {
    let mut statements = vec![begin.to_owned(), SCOPE.to_owned()];
    statements.extend(work);
    statements.push("COMMIT;".to_owned());
    pipeline(&statements)
}

/// `GET /api/alerts/active` (first page of 50). Every value is a parameter, as the function sends
/// it, so that PostgreSQL plans the statement the same way (a generic plan, once).
pub fn active_alerts_script() -> String {
    framed(
        "BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY;",
        first_page(),
    )
}

/// The bare work of `GET /api/alerts/active`: the tenant's counters and its first page, the same
/// two statements with the same parameters, as the tables' owner and nothing around them. They go
/// in one pipeline without BEGIN, so in one round trip and one implicit transaction as in the
/// replay: what the replay adds is exactly the framing (BEGIN, the role, tenant and key check,
/// COMMIT), with none of the cost of a second round trip and transaction.
pub fn bare_active_alerts_script() -> String {
    pipeline(&first_page())
}

/// The counters and the first page (see [`FIRST_PAGE`]).
fn first_page() -> Vec<String> {
    vec![
        bind(STATS, &[":tenant"]),
        bind(
            ACTIVE_ALERTS,
            &[
                ":tenant",
                ":rank_min::int2",
                ":rank_max::int2",
                ":after_rank::int2",
                ":after_not_escalated::bool",
                ":after_created::timestamptz",
                ":after_id::uuid",
                ":page::int8",
            ],
        ),
    ]
}

/// The values of the first page's parameters (see [`active_alerts_script`]).
const FIRST_PAGE: [(&str, &str); 7] = [
    ("rank_min", "0"),
    ("rank_max", "2"),
    ("after_rank", "-1"),
    ("after_not_escalated", "false"),
    ("after_created", "1900-01-01"),
    ("after_id", "00000000-0000-0000-0000-000000000000"),
    ("page", "51"),
];

/// The client's next transaction: `n` counts them (from the `n=0` that [`run`] sets), so that a
/// lead and an Idempotency-Key named after the run of pgbench (`run`), the client and `n` are new
/// in every transaction, as in the HTTP benchmark: none was written by an earlier one.
const NEXT: &str = "\\set n :n + 1\n";

/// The activity the route logs, after its tenant: a new lead each time, with or without a new
/// key (lead, name, channel, direction, status, snippet, external id, key, time).
fn activity(idempotent: bool) -> [&'static str; 9] {
    [
        "'pgbench-lead-' || :run || '-' || :client_id || '-' || :n",
        "NULL::text",
        "'sms'",
        "'out'",
        "'sent'",
        "'Message'",
        "NULL::text",
        if idempotent {
            "'pgbench-' || :run || '-' || :client_id || '-' || :n"
        } else {
            "NULL::text"
        },
        "NULL::timestamptz",
    ]
}

/// `POST /api/activities/log`, with or without an idempotency key: the one statement the function
/// sends, a transaction of its own, whose call takes the role, checks the key and logs.
pub fn log_activity_script(idempotent: bool) -> String {
    let mut values = vec![":tenant", "decode(:keyhash, 'hex')", ":scope", "'5000ms'"];
    values.extend(activity(idempotent));
    format!("{NEXT}{}\n", bind(LOG_ACTIVITY, &values))
}

/// The bare insert of `POST /api/activities/log`: the row the route writes, the same columns and
/// values, and nothing else (no `ON CONFLICT`, no lookup of an earlier attempt). A plain `INSERT`
/// fails on a key stored before: the keys are new in each run and transaction.
const INSERT_ACTIVITY: &str = "\
INSERT INTO lead_activities
       (tenant_id, lead_id, lead_name, channel, direction, status, message_snippet,
        external_id, idempotency_key, occurred_at)
VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, coalesce($10, now()))";

/// The bare work of `POST /api/activities/log`: [`INSERT_ACTIVITY`] of a new lead, a transaction
/// of its own.
pub fn bare_log_activity_script(idempotent: bool) -> String {
    let mut values = vec![":tenant"];
    values.extend(activity(idempotent));
    format!("{NEXT}{}\n", bind(INSERT_ACTIVITY, &values))
}

/// `POST /webhooks/greenapi`: the one statement the function sends for a notification of `mix`, a
/// transaction of its own whose call takes the role, checks the token and the instance, and
/// stores the event, with the same values as the HTTP benchmark's notifications
/// (`greenapi::Templates`): the `n`th transaction of a client is step `k` of its message `m` to
/// number `p`, mapped to a generated lead of tenant number `t`, whose token and instance are
/// computed as `greenapi` makes them (the token's hash by `sha256()`, a microsecond at most). Reads
/// the variables `phones`, `leads`, `tenants`, `secret` and `snippet`.
pub fn whatsapp_script(mix: Mix) -> String {
    let steps = mix.steps();
    let of_step =
        |values: Vec<String>, cast: &str| format!("(ARRAY[{}]{cast})[:k + 1]", values.join(", "));
    let statuses = of_step(
        steps.iter().map(|s| format!("'{}'", s.status())).collect(),
        "",
    );
    let snippets = of_step(
        steps
            .iter()
            .map(|s| match s {
                Step::Message => ":snippet".to_owned(),
                Step::Status(_) => "NULL".to_owned(),
            })
            .collect(),
        "::text[]",
    );
    let ids = of_step(
        (0..steps.len())
            .map(|k| {
                if mix.names_stored_message(k) {
                    format!("'{}' || :p", greenapi::STORED_MESSAGE)
                } else {
                    "'pgbench-' || :run || '-' || :client_id || '-' || :m".to_owned()
                }
            })
            .collect(),
        "",
    );
    let tenant = format!("CASE WHEN :t = 0 THEN '{HUGE}' ELSE 't' || lpad(:t::text, 4, '0') END");
    let token_hash = format!("sha256(convert_to('mxw_' || {tenant} || '_' || :secret, 'UTF8'))");
    let record = bind(
        RECORD_WHATSAPP,
        &[
            &tenant,
            &token_hash,
            ":instance",
            "'5000ms'",
            "'+' || :phone::text",
            "NULL::text",
            "'out'",
            &statuses,
            &snippets,
            &ids,
            "now() - make_interval(secs => :ago)",
        ],
    );
    let (len, stride) = (steps.len(), greenapi::STRIDE);
    format!(
        "{NEXT}\\set k (:n - 1) % {len}\n\\set m (:n - 1) / {len}\n\
         \\set p (:client_id * {stride} + :m) % :phones\n\
         \\set lead (:p * {stride}) % :leads\n\
         \\set t case when :lead % 10 = 0 then 0 else 1 + :lead % (:tenants - 1) end\n\
         \\set phone {} + :p\n\\set instance {} + :t\n\\set ago {len} - :k\n{record}\n",
        greenapi::PHONE,
        greenapi::INSTANCE,
    )
}

/// One of the resolve tenant's numbered alerts, at random: the HTTP benchmark goes round the same
/// ones (`generate::resolve_id`).
fn any_alert(alerts: usize) -> String {
    format!("\\set i random(0, {})\n", alerts - 1)
}

/// The values of a resolution: the tenant, the alert and who resolves it.
const RESOLUTION: [&str; 3] = [":tenant", "lpad(to_hex(:i::int8), 32, '0')::uuid", ":actor"];

/// `POST /api/alerts/{id}/resolve`, over the resolve tenant's numbered alerts.
pub fn resolve_script(alerts: usize) -> String {
    format!(
        "{}{}",
        any_alert(alerts),
        framed("BEGIN;", vec![bind(RESOLVE, &RESOLUTION)])
    )
}

/// The bare update of `POST /api/alerts/{id}/resolve`: the alert marked resolved, by tenant and
/// id, whether it was already or not (the route only locks an alert resolved before).
const RESOLVE_ALERT: &str = "\
UPDATE max_alerts SET resolved_at = now(), resolved_by = $3, resolution = 'manual'
 WHERE tenant_id = $1 AND id = $2";

/// The bare work of `POST /api/alerts/{id}/resolve`: [`RESOLVE_ALERT`] of one of the same alerts,
/// a transaction of its own.
pub fn bare_resolve_script(alerts: usize) -> String {
    format!(
        "{}{}\n",
        any_alert(alerts),
        bind(RESOLVE_ALERT, &RESOLUTION)
    )
}

/// A name for one run of pgbench, new at each: the time, and this process's id for runs started
/// at the same time by others.
fn run_name() -> String {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap_or_default()
        .as_millis();
    format!("{now}-{}", std::process::id())
}

/// What pgbench measured.
#[derive(Debug, Clone, serde::Serialize)]
pub struct PgbenchStats {
    pub concurrency: usize,
    pub tps: f64,
    pub latency_ms: f64,
    pub failed: bool,
    /// PostgreSQL's CPU time per transaction (filled in by the caller).
    pub postgres_us: f64,
}

/// Runs a script against `database` with the given variables, every session started with
/// `options` (`-c name=value ...`, passed in `PGOPTIONS`; empty for the server's settings).
pub fn run(
    database: &str,
    script: &str,
    variables: &[(&str, String)],
    concurrency: usize,
    duration: Duration,
    options: &str,
) -> PgbenchStats {
    let path = std::env::temp_dir().join(format!("max-bench-{}.sql", std::process::id()));
    std::fs::write(&path, script).expect("write the pgbench script");
    let mut command = Command::new("pgbench");
    command
        .args([
            "-h",
            "127.0.0.1",
            "-p",
            "5432",
            "-U",
            "postgres",
            "-n",
            "-M",
            "prepared",
        ])
        .args([
            "-c",
            &concurrency.to_string(),
            "-j",
            &concurrency.min(2).to_string(),
        ])
        .args(["-T", &duration.as_secs().max(1).to_string()])
        .arg("-f")
        .arg(&path);
    command.env("PGOPTIONS", options);
    command.args(["-D", "actor=api-key:pgbench", "-D", "n=0"]);
    command.args(["-D", &format!("run={}", run_name())]);
    for (name, value) in FIRST_PAGE {
        command.args(["-D", &format!("{name}={value}")]);
    }
    for (name, value) in variables {
        command.args(["-D", &format!("{name}={value}")]);
    }
    let output = command.arg(database).output().expect("pgbench on PATH");
    let text = String::from_utf8_lossy(&output.stdout).into_owned();
    let number = |prefix: &str| {
        text.lines()
            .find_map(|line| line.trim().strip_prefix(prefix))
            .and_then(|rest| rest.split_whitespace().next())
            .and_then(|n| n.parse::<f64>().ok())
            .unwrap_or(0.0)
    };
    if !output.status.success() {
        eprintln!(
            "pgbench failed: {}{}",
            text,
            String::from_utf8_lossy(&output.stderr)
        );
    }
    PgbenchStats {
        concurrency,
        tps: number("tps = "),
        latency_ms: number("latency average = "),
        failed: !output.status.success(),
        postgres_us: 0.0,
    }
}
