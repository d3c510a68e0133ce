//! The built binary, run as Lambda runs it: polled by an emulated Runtime API, fed `events/`.

use shared::testing::lambda::EventsFunction;

#[tokio::test]
async fn the_binary_answers_the_sample_events_as_lambda_runs_it() {
    let function = EventsFunction::start(env!("CARGO_BIN_EXE_snooze-alert")).await;
    let (status, body) = function
        .answer(include_str!("../../../events/snooze-alert.json"))
        .await;
    assert_eq!(status, 200, "{body}");
    assert!(body["alert"]["snoozedUntil"].is_string());
    let (status, body) = function
        .answer(include_str!("../../../events/wake-alert.json"))
        .await;
    assert_eq!(status, 200, "{body}");
    assert!(body["alert"]["snoozedUntil"].is_null());
}
