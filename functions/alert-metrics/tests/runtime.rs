//! The built binary, run as Lambda runs it: polled by an emulated Runtime API, fed `events/`.

use shared::testing::lambda::EventsFunction;

#[tokio::test]
async fn the_binary_answers_the_sample_event_as_lambda_runs_it() {
    let function = EventsFunction::start(env!("CARGO_BIN_EXE_alert-metrics")).await;
    let (status, body) = function
        .answer(include_str!("../../../events/alert-metrics.json"))
        .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["from"], "2026-11-01");
    assert_eq!(body["days"].as_array().unwrap().len(), 30);
}
