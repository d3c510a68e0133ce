//! The built binary, run as Lambda runs it: polled by an emulated Runtime API, fed `events/`.

use shared::testing::lambda::EventsFunction;

#[tokio::test]
async fn the_binary_answers_the_sample_event_as_lambda_runs_it() {
    let function = EventsFunction::start(env!("CARGO_BIN_EXE_resolved-alerts")).await;
    function
        .test
        .owner()
        .await
        .batch_execute("UPDATE max_alerts SET resolved_at = now(), resolution = 'auto'")
        .await
        .unwrap();
    let (status, body) = function
        .answer(include_str!("../../../events/resolved-alerts.json"))
        .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["alerts"][0]["resolution"], "auto");
}
