//! The evaluator's plan does not depend on fresh statistics. Autovacuum may be off or behind (it is
//! off on the machines these tests run on), so a pass may meet tables loaded since their last
//! `ANALYZE`: never analyzed, analyzed while empty, or analyzed when no lead was due. Whatever the
//! planner then believes, the batch statement must keep its shape: the open alerts of each lead
//! found by an index probe on (tenant, lead), and no nested loop that rescans an intermediate
//! result for each lead. Timings are the benchmark's (`max-bench statistics`); these tests check the
//! plans, and that the pass does its work.

use std::time::Duration;

use serde_json::Value;
use shared::config::EvaluatorSettings;
use shared::evaluator::{BATCH_SETTINGS, BATCH_SIZE, Evaluator};
use shared::testing::TestDb;
use tokio_postgres::types::Type;

/// Leads loaded in bulk (a tenth per tenant), each with an unanswered inbound message.
const LEADS: i64 = 3_000;

/// Loads `LEADS` leads, due, and a few hundred open alerts on other leads, without `ANALYZE`.
async fn bulk_load(test: &TestDb) {
    test.owner()
        .await
        .batch_execute(&format!(
            "INSERT INTO lead_activities (tenant_id, lead_id, channel, direction, status, occurred_at)
             SELECT 't' || (i % 10), 'lead-' || i, 'whatsapp', 'in', 'received',
                    now() - interval '5 hours'
               FROM generate_series(1, {LEADS}) AS i;
             INSERT INTO max_alerts (tenant_id, lead_id, type, severity, message)
             SELECT 't' || (i % 10), 'alert-lead-' || i, 'NoContact7d', 'high', 'Aucun contact'
               FROM generate_series(1, 500) AS i;"
        ))
        .await
        .unwrap();
}

/// The plan the batch statement gets as the statistics stand, as the evaluator plans it: its
/// role, its batch settings, its parameters.
async fn batch_plan(test: &TestDb) -> Value {
    let mut owner = test.owner().await;
    let tx = owner.transaction().await.unwrap();
    tx.batch_execute("SET LOCAL ROLE max_evaluator")
        .await
        .unwrap();
    for (name, value) in BATCH_SETTINGS {
        tx.execute("SELECT set_config($1, $2, true)", &[&name, &value])
            .await
            .unwrap();
    }
    let evaluator = Evaluator::default();
    let names = evaluator.rule_names().to_vec();
    let row = tx
        .query_typed(
            &format!("EXPLAIN (FORMAT JSON) {}", evaluator.statement()),
            &[(&BATCH_SIZE, Type::INT8), (&names, Type::TEXT_ARRAY)],
        )
        .await
        .unwrap();
    let plan: Value = row[0].get(0);
    tx.rollback().await.unwrap();
    plan[0]["Plan"].clone()
}

/// Every node of a plan, depth first.
fn nodes(plan: &Value) -> Vec<&Value> {
    let mut all = vec![plan];
    if let Some(children) = plan["Plans"].as_array() {
        for child in children {
            all.extend(nodes(child));
        }
    }
    all
}

/// The indexes of `max_alerts` led by (tenant, lead): the lead's open alerts, and the alerts a
/// person resolved.
const LEAD_PROBES: [&str; 2] = ["idx_max_alerts_unique_active", "idx_max_alerts_tenant_lead"];

/// Checks the shape that keeps a batch linear in its leads, whatever the statistics say.
fn assert_robust(plan: &Value, state: &str) {
    let alerts =
        |node: &Value| node["Relation Name"] == "max_alerts" && node["Node Type"] != "ModifyTable";
    for node in nodes(plan) {
        // Never the indexes led by the tenant alone (or by time): stale statistics take them for
        // tiny, and they read all of a tenant's open alerts for each lead.
        if alerts(node)
            && let Some(index) = node["Index Name"].as_str()
        {
            assert!(
                LEAD_PROBES.contains(&index) || index == "max_alerts_pkey",
                "{state}: max_alerts read by {index}:\n{plan:#}"
            );
        }
        // A nested loop repeats its inner side for each outer row: that side must be an index
        // probe of a lead's alerts, never an intermediate result (a CTE) scanned again.
        if node["Node Type"] == "Nested Loop" {
            let inner = nodes(&node["Plans"][1]);
            assert!(
                !inner.iter().any(|n| n["Node Type"] == "CTE Scan"),
                "{state}: a nested loop rescans an intermediate result:\n{node:#}"
            );
            for scan in inner.iter().filter(|n| alerts(n)) {
                assert!(
                    LEAD_PROBES.contains(&scan["Index Name"].as_str().unwrap_or("")),
                    "{state}: a lead's alerts not probed by (tenant, lead):\n{node:#}"
                );
            }
        }
    }
}

fn settings() -> EvaluatorSettings {
    EvaluatorSettings {
        timeout: Duration::from_secs(60),
        workers: 2,
    }
}

/// The tables as they stand: whether the planner has statistics of their columns.
async fn analyzed(test: &TestDb, table: &str) -> bool {
    test.owner()
        .await
        .query_one(
            "SELECT EXISTS (SELECT FROM pg_statistic WHERE starelid = $1::text::regclass)",
            &[&table],
        )
        .await
        .unwrap()
        .get(0)
}

/// A full pass, which evaluates every lead loaded.
async fn full_pass(test: &TestDb) -> shared::evaluator::Summary {
    let summary = Evaluator::default()
        .pass(&test.db(), &settings())
        .await
        .unwrap();
    assert_eq!(summary.leads_evaluated, LEADS as u64);
    summary
}

#[tokio::test]
async fn a_pass_over_leads_loaded_since_the_tables_were_created_keeps_its_plan() {
    let test = TestDb::new().await;
    bulk_load(&test).await;
    assert!(!analyzed(&test, "max_lead_states").await);
    assert!(!analyzed(&test, "max_alerts").await);
    assert_robust(&batch_plan(&test).await, "never analyzed");

    let summary = full_pass(&test).await;
    assert_eq!(
        summary.raised.get("UnansweredInbound"),
        Some(&(LEADS as u64))
    );

    // The same shape once the statistics describe the data.
    test.owner().await.batch_execute("ANALYZE").await.unwrap();
    test.owner()
        .await
        .batch_execute("UPDATE max_lead_states SET next_check_at = now()")
        .await
        .unwrap();
    assert_robust(&batch_plan(&test).await, "analyzed");
}

#[tokio::test]
async fn a_pass_over_leads_loaded_after_the_tables_were_analyzed_empty_keeps_its_plan() {
    let test = TestDb::new().await;
    test.owner().await.batch_execute("ANALYZE").await.unwrap();
    bulk_load(&test).await;
    assert_robust(&batch_plan(&test).await, "analyzed while empty");
    full_pass(&test).await;
}

#[tokio::test]
async fn a_pass_after_statistics_taken_when_no_lead_was_due_keeps_its_plan() {
    let test = TestDb::new().await;
    bulk_load(&test).await;
    // Analyzed when every lead was scheduled ahead (as after a pass), then every lead due again
    // (as after an import of activities): the planner expects one due lead.
    test.owner()
        .await
        .batch_execute(
            "UPDATE max_lead_states SET next_check_at = now() + interval '1 day';
             ANALYZE;
             UPDATE max_lead_states SET next_check_at = now();",
        )
        .await
        .unwrap();
    let plan = batch_plan(&test).await;
    let due = nodes(&plan)
        .into_iter()
        .find(|n| n["Subplan Name"] == "CTE due")
        .unwrap();
    assert_eq!(
        due["Plan Rows"], 1,
        "the planner expects one due lead: {due:#}"
    );
    assert_robust(&plan, "analyzed when no lead was due");
    let summary = full_pass(&test).await;
    assert_eq!(
        summary.raised.get("UnansweredInbound"),
        Some(&(LEADS as u64))
    );
}
