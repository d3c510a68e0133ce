//! The built binary, run as Lambda runs it: polled by an emulated Runtime API, fed `events/`.

use shared::tenancy::EVENTS_FIXTURE_KEY;
use shared::testing::TestDb;
use shared::testing::gateway_response;
use shared::testing::lambda::{FunctionProcess, RuntimeApi};

#[tokio::test]
async fn the_binary_answers_the_sample_events_as_lambda_runs_it() {
    let test = TestDb::new().await;
    test.register_events_key().await;
    let api = RuntimeApi::start().await;
    let function = FunctionProcess::start(
        env!("CARGO_BIN_EXE_upsert-leads"),
        &api,
        &[("DATABASE_URL", &test.url)],
    );
    for (event, status) in [
        (include_str!("../../../events/upsert-lead.json"), 200),
        (include_str!("../../../events/upsert-leads-batch.json"), 200),
        (
            include_str!("../../../events/upsert-leads-invalid-phone.json"),
            400,
        ),
    ] {
        let (got, body) = gateway_response(&api.invoke(event).await.response());
        assert_eq!(got, status, "{body}");
        assert_eq!(body["success"], status == 200);
    }
    let logs = function.stop();
    assert!(logs.contains("POST /api/leads"), "{logs}");
    assert!(
        !logs.contains(&EVENTS_FIXTURE_KEY[11..]),
        "a key reached the logs"
    );
    assert!(
        !logs.contains("postgres://"),
        "a connection string reached the logs"
    );
}
