//! The built binary, run as Lambda runs it: polled by an emulated Runtime API, fed Green-API's
//! notifications from `events/`.

use shared::tenancy::EVENTS_FIXTURE_WEBHOOK_TOKEN;
use shared::testing::TestDb;
use shared::testing::gateway_response;
use shared::testing::lambda::{FunctionProcess, RuntimeApi};

#[tokio::test]
async fn the_binary_answers_green_api_as_lambda_runs_it_and_logs_no_secret() {
    let test = TestDb::new().await;
    test.register_events_webhook_token().await;
    test.map_phone("macrea", "+33612345678", "lead_sophie")
        .await;
    let api = RuntimeApi::start().await;
    let function = FunctionProcess::start(
        env!("CARGO_BIN_EXE_whatsapp-webhook"),
        &api,
        &[("DATABASE_URL", &test.url)],
    );
    for (event, status) in [
        (
            include_str!("../../../events/greenapi-incoming-text.json"),
            200,
        ),
        (
            include_str!("../../../events/greenapi-status-read.json"),
            200,
        ),
        (
            include_str!("../../../events/greenapi-group-message.json"),
            200,
        ),
        (
            include_str!("../../../events/greenapi-invalid-json.json"),
            400,
        ),
        (include_str!("../../../events/greenapi-no-token.json"), 401),
        (
            include_str!("../../../events/greenapi-wrong-instance.json"),
            401,
        ),
    ] {
        let (got, body) = gateway_response(&api.invoke(event).await.response());
        assert_eq!(got, status, "{body}");
        assert_eq!(body["success"], status == 200);
    }
    let logs = function.stop();
    assert!(logs.contains("POST /webhooks/greenapi"), "{logs}");
    assert!(
        logs.contains("group_chat"),
        "ignored notifications are counted: {logs}"
    );
    assert!(
        !logs.contains(&EVENTS_FIXTURE_WEBHOOK_TOKEN[11..]),
        "a token reached the logs"
    );
    assert!(
        !logs.contains("postgres://"),
        "a connection string reached the logs"
    );
}
