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
