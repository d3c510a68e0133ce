//! The handler, fed the sample events of `events/`, against a real database.

use shared::testing::{event, event_with, status_and_json};

use shared::testing::EVENTS_ALERT_ID as ALERT_ID;

const HISTORY: &str = include_str!("../../../events/alert-history.json");

#[tokio::test]
async fn an_alert_is_read_with_every_transition_who_made_it_and_when() {
    let (test, app) = shared::testing::events_app().await;
    let (status, body) = status_and_json(alert_history::handle(&app, event(HISTORY)).await);
    assert_eq!(
        (status, body["error"]["code"].as_str()),
        (404, Some("not_found"))
    );

    test.insert_events_alert("macrea").await;
    let owner = test.owner().await;
    owner
        .execute(
            "UPDATE max_alerts SET acknowledged_at = now(), acknowledged_by = 'user:42',
                    acknowledgement = 'Je rappelle'",
            &[],
        )
        .await
        .unwrap();
    owner
        .execute(
            "UPDATE max_alerts SET resolved_at = now(), resolved_by = 'user:42', resolution = 'manual'",
            &[],
        )
        .await
        .unwrap();
    let (status, body) = status_and_json(alert_history::handle(&app, event(HISTORY)).await);
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["alert"]["id"], ALERT_ID);
    assert_eq!(body["alert"]["resolution"], "manual");
    let history = body["history"].as_array().unwrap();
    let kinds: Vec<&str> = history
        .iter()
        .map(|e| e["kind"].as_str().unwrap())
        .collect();
    assert_eq!(kinds, ["raised", "acknowledged", "resolved"]);
    assert_eq!(history[1]["actor"], "user:42");
    assert_eq!(history[1]["comment"], "Je rappelle");
    assert_eq!(history[2]["resolution"], "manual");
    assert!(
        history
            .iter()
            .all(|e| e["at"].is_string() && e["message"].is_string())
    );

    // Another tenant's user does not find it; a malformed id is not found either.
    let other = shared::testing::max_login_token("another-tenant", "7", "user");
    let request = event_with(HISTORY, |event| {
        event["headers"]["authorization"] = format!("Bearer {other}").into();
    });
    let (status, _) = status_and_json(alert_history::handle(&app, request).await);
    assert_eq!(status, 404);
    let request = event_with(HISTORY, |event| {
        event["pathParameters"]["id"] = "not-an-id".into();
    });
    let (status, _) = status_and_json(alert_history::handle(&app, request).await);
    assert_eq!(status, 404);
}
