//! The function, fed the sample scheduled event of `events/`, against a real database.

use std::time::Duration;

use lambda_runtime::{Context, LambdaEvent};
use shared::config::EvaluatorSettings;
use shared::evaluator::Evaluator;
use shared::testing::TestDb;

const SCHEDULED: &str = include_str!("../../../events/scheduled-evaluation.json");

fn settings(timeout_secs: u64) -> EvaluatorSettings {
    EvaluatorSettings {
        timeout: Duration::from_secs(timeout_secs),
        ..EvaluatorSettings::default()
    }
}

fn scheduled_event() -> LambdaEvent<serde_json::Value> {
    LambdaEvent::new(serde_json::from_str(SCHEDULED).unwrap(), Context::default())
}

#[tokio::test]
async fn a_scheduled_event_runs_a_pass_and_returns_its_summary() {
    let test = TestDb::new().await;
    test.owner()
        .await
        .batch_execute(
            "INSERT INTO lead_activities (tenant_id, lead_id, channel, direction, status, occurred_at)
             VALUES ('macrea', 'lead-1', 'whatsapp', 'in', 'received', now() - interval '5 hours'),
                    ('macrea', 'lead-2', 'email', 'out', 'sent', now() - interval '8 days')",
        )
        .await
        .unwrap();
    let db = test.db();
    let summary =
        alert_evaluator::handle(&db, &Evaluator::default(), &settings(30), scheduled_event())
            .await
            .unwrap();
    let json = serde_json::to_value(&summary).unwrap();
    assert_eq!(json["leadsEvaluated"], 2);
    assert_eq!(json["raised"]["UnansweredInbound"], 1);
    assert_eq!(json["raised"]["NoContact7d"], 1);
    assert_eq!(json["skipped"], false);
    assert!(json["elapsedMs"].as_f64().unwrap() > 0.0);

    let again =
        alert_evaluator::handle(&db, &Evaluator::default(), &settings(30), scheduled_event())
            .await
            .unwrap();
    assert!(!again.changed_anything());
}

#[tokio::test]
async fn an_unreachable_database_fails_the_invocation_so_it_is_retried() {
    let app = shared::testing::unreachable_app();
    let result = alert_evaluator::handle(
        &app.db,
        &Evaluator::default(),
        &settings(5),
        scheduled_event(),
    )
    .await;
    let error = result.unwrap_err().to_string();
    assert!(
        !error.contains("127.0.0.1") && !error.contains("postgres://"),
        "{error}"
    );
}
