//! The query plans kept beside the results: `EXPLAIN (ANALYZE, BUFFERS)` of the evaluator's
//! statement and of a page of active alerts.

use shared::evaluator::Evaluator;

/// `EXPLAIN (ANALYZE, BUFFERS)` of the evaluator's statement (no tenant) or of a page of active
/// alerts (for a tenant), run as the functions' role in a transaction that is rolled back.
pub(crate) async fn explain(
    client: &tokio_postgres::Client,
    title: &str,
    tenant: Option<&str>,
) -> String {
    let (role, sql) = match tenant {
        None => ("max_evaluator".to_owned(), evaluator_statement()),
        Some(tenant) => (
            "max_app".to_owned(),
            first_page(shared::alerts::ACTIVE_ALERTS, tenant),
        ),
    };
    let tenant_setting = tenant.map_or(String::new(), |t| {
        format!("SET LOCAL app.tenant_id = '{t}';")
    });
    let plan = run_explain(
        client,
        &format!("SET LOCAL ROLE {role}; SET LOCAL jit = off; {tenant_setting}"),
        &format!("EXPLAIN (ANALYZE, BUFFERS) {sql}"),
    )
    .await;
    format!("## {title}\n\n{plan}\n")
}

/// Rows a first page of active alerts fetches: a page of 50 (the default), and one more that
/// tells whether another page follows (`alerts::list_active`).
pub(crate) const FIRST_PAGE_ROWS: i64 = shared::alerts::DEFAULT_LIMIT + 1;

/// A listing statement (`ACTIVE_ALERTS`, or a statement with its parameters) with the parameters
/// `list_active` binds for the first page of `tenant`, every severity, written in.
pub(crate) fn first_page(sql: &str, tenant: &str) -> String {
    sql.replace("$1", &format!("'{tenant}'"))
        .replace("$2", "0::int2")
        .replace("$3", "2::int2")
        .replace("$4", "(-1)::int2")
        .replace("$5", "false")
        .replace("$6", "'1900-01-01'::timestamptz")
        .replace("$7", "'00000000-0000-0000-0000-000000000000'::uuid")
        .replace("$8", &FIRST_PAGE_ROWS.to_string())
}

/// The plan the evaluator's statement gets as the statistics stand (`EXPLAIN`, estimates only:
/// nothing runs), as the evaluator's role with the settings of its batches.
pub(crate) async fn plan(client: &tokio_postgres::Client) -> String {
    let settings: String = shared::evaluator::BATCH_SETTINGS
        .iter()
        .map(|(name, value)| format!("SET LOCAL {name} = '{value}'; "))
        .collect();
    run_explain(
        client,
        &format!("SET LOCAL ROLE max_evaluator; {settings}"),
        &format!("EXPLAIN {}", evaluator_statement()),
    )
    .await
}

/// The evaluator's statement with its parameters written in (a batch, every rule).
fn evaluator_statement() -> String {
    let evaluator = Evaluator::default();
    let names: Vec<String> = evaluator
        .rule_names()
        .iter()
        .map(|name| format!("'{name}'"))
        .collect();
    evaluator
        .statement()
        .replace("$1", &shared::evaluator::BATCH_SIZE.to_string())
        .replace("$2", &format!("ARRAY[{}]", names.join(", ")))
}

/// Runs `explain` after `setup` in a transaction that is rolled back; the plan's lines.
pub(crate) async fn run_explain(
    client: &tokio_postgres::Client,
    setup: &str,
    explain: &str,
) -> String {
    client
        .batch_execute(&format!("BEGIN; {setup}"))
        .await
        .expect("begin");
    let rows = client.simple_query(explain).await.expect("explain");
    client.batch_execute("ROLLBACK").await.expect("rollback");
    let mut text = String::new();
    for message in rows {
        if let tokio_postgres::SimpleQueryMessage::Row(row) = message {
            text.push_str(row.get(0).unwrap_or(""));
            text.push('\n');
        }
    }
    text
}
