//! The built binary, run as Lambda runs it: polled by an emulated Runtime API, fed the scheduled
//! event of `events/`.

use shared::testing::TestDb;
use shared::testing::lambda::{FunctionProcess, Outcome, RuntimeApi};

const SCHEDULED: &str = include_str!("../../../events/scheduled-evaluation.json");

#[tokio::test]
async fn the_binary_runs_a_pass_per_scheduled_event() {
    let test = TestDb::new().await;
    test.owner()
        .await
        .batch_execute(
            "INSERT INTO lead_activities (tenant_id, lead_id, channel, direction, status, occurred_at)
             VALUES ('macrea', 'lead-1', 'email', 'out', 'sent', now() - interval '8 days')",
        )
        .await
        .unwrap();
    let api = RuntimeApi::start().await;
    let function = FunctionProcess::start(
        env!("CARGO_BIN_EXE_alert-evaluator"),
        &api,
        &[("DATABASE_URL", &test.url)],
    );
    let summary = api.invoke(SCHEDULED).await.response();
    assert_eq!(summary["raised"]["NoContact7d"], 1, "{summary}");
    let again = api.invoke(SCHEDULED).await.response();
    assert_eq!(again["leadsEvaluated"], 0, "{again}");
    let logs = function.stop();
    assert!(logs.contains("evaluation pass"), "{logs}");
}

#[tokio::test]
async fn a_pass_without_its_database_fails_so_that_the_schedule_retries_it() {
    let api = RuntimeApi::start().await;
    let _function = FunctionProcess::start(
        env!("CARGO_BIN_EXE_alert-evaluator"),
        &api,
        &[
            ("DATABASE_URL", "postgres://max@127.0.0.1:9/none"),
            ("DB_CONNECT_TIMEOUT_MS", "500"),
        ],
    );
    match api.invoke(SCHEDULED).await {
        Outcome::Error(error) => {
            let text = error.to_string();
            assert!(!text.contains("127.0.0.1:9"), "{text}");
        }
        Outcome::Response(summary) => panic!("expected a failure, got {summary}"),
    }
}

#[test]
fn an_invalid_number_of_workers_stops_the_function_at_start_up() {
    let output = std::process::Command::new(env!("CARGO_BIN_EXE_alert-evaluator"))
        .env_clear()
        .env("DATABASE_URL", "postgres://max@127.0.0.1:9/none")
        .env("EVALUATOR_WORKERS", "0")
        .output()
        .expect("the function binary runs");
    assert!(!output.status.success());
    let logs = String::from_utf8_lossy(&output.stderr);
    assert!(logs.contains("EVALUATOR_WORKERS"), "{logs}");
}
