//! The database's own limit: the very statements each route sends (BEGIN, the role, tenant and key
//! check, the work, COMMIT, pipelined as the functions pipeline them), replayed by `pgbench` in
//! prepared mode at the same concurrency.

use std::process::Command;
use std::time::Duration;

use shared::activities::LOG_ACTIVITY;
use shared::alerts::{ACTIVE_ALERTS, RESOLVE, STATS};

/// The opening statement the functions send for an API key (see `shared::tenancy`). pgbench reads any
/// `:word` as a variable, even inside quotes: texts with a colon are passed as variables.
const SCOPE: &str = "SELECT set_config('role', 'max_app', true), set_config('statement_timeout', '5000ms', true), \
                     max_authorize_key(:tenant, decode(:keyhash, 'hex'), :scope);";

/// Replaces `$1`..`$n` by pgbench expressions.
fn bind(sql: &str, values: &[&str]) -> String {
    let mut out = sql.to_owned();
    for (index, value) in values.iter().enumerate().rev() {
        out = out.replace(&format!("${}", index + 1), value);
    }
    format!("{};", out.split_whitespace().collect::<Vec<_>>().join(" "))
}

fn pipeline(begin: &str, statements: &[String]) -> String {
    let mut script = String::from("\\startpipeline\n");
    script.push_str(begin);
    script.push('\n');
    script.push_str(SCOPE);
    script.push('\n');
    for statement in statements {
        script.push_str(statement);
        script.push('\n');
    }
    script.push_str("COMMIT;\n\\endpipeline\n");
    script
}

/// `GET /api/alerts/active` (first page of 50). Every value is a parameter, as the function sends
/// it, so that PostgreSQL plans the statement the same way (a generic plan, once).
pub fn active_alerts_script() -> String {
    pipeline(
        "BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY;",
        &[
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
        ],
    )
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

/// `POST /api/activities/log`, with or without an idempotency key.
pub fn log_activity_script(idempotent: bool) -> String {
    let key = if idempotent {
        "'pgbench-' || :client_id || '-' || :n"
    } else {
        "NULL::text"
    };
    format!(
        "\\set n random(1, 2000000000)\n{}",
        pipeline(
            "BEGIN;",
            &[bind(
                LOG_ACTIVITY,
                &[
                    ":tenant",
                    "'pgbench-lead-' || :n",
                    "NULL::text",
                    "'sms'",
                    "'out'",
                    "'sent'",
                    "'Message'",
                    "NULL::text",
                    key,
                    "NULL::timestamptz",
                ],
            )],
        )
    )
}

/// `POST /api/alerts/{id}/resolve`, over the resolve tenant's numbered alerts.
pub fn resolve_script(alerts: usize) -> String {
    format!(
        "\\set i random(0, {})\n{}",
        alerts - 1,
        pipeline(
            "BEGIN;",
            &[bind(
                RESOLVE,
                &[":tenant", "lpad(to_hex(:i::int8), 32, '0')::uuid", ":actor",],
            )],
        )
    )
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

/// Runs a script against `database` with the given variables.
pub fn run(
    database: &str,
    script: &str,
    variables: &[(&str, String)],
    concurrency: usize,
    duration: Duration,
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
    command.args(["-D", "actor=api-key:pgbench"]);
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
