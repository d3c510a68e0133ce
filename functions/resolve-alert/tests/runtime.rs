//! The built binary, run as Lambda runs it: polled by an emulated Runtime API, fed `events/`.

use shared::testing::TestDb;
use shared::testing::gateway_response;
use shared::testing::lambda::{FunctionProcess, RuntimeApi};

#[tokio::test]
async fn the_binary_answers_the_sample_events_as_lambda_runs_it() {
    let test = TestDb::new().await;
    test.register_events_key().await;
    test.owner()
        .await
        .batch_execute(
            "INSERT INTO max_alerts (id, tenant_id, lead_id, type, severity, message)
             VALUES ('3f1e2d4c-5b6a-4978-8a9b-0c1d2e3f4a5b', 'macrea', 'lead_1', 'NoContact7d', 'high', 'x')",
        )
        .await
        .unwrap();
    let api = RuntimeApi::start().await;
    let _function = FunctionProcess::start(
        env!("CARGO_BIN_EXE_resolve-alert"),
        &api,
        &[("DATABASE_URL", &test.url)],
    );
    let resolve = include_str!("../../../events/resolve-alert.json");
    let (status, body) = gateway_response(&api.invoke(resolve).await.response());
    assert_eq!(status, 200, "{body}");
    assert!(body["alert"]["resolvedAt"].is_string());
    let malformed = include_str!("../../../events/resolve-alert-malformed-id.json");
    let (status, _) = gateway_response(&api.invoke(malformed).await.response());
    assert_eq!(status, 404);
}
