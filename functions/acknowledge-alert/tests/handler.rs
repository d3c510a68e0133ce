//! The handler, fed the sample events of `events/`, against a real database.

use shared::http::App;
use shared::testing::{TestDb, event, event_with, events_app, status_and_json};

use shared::testing::EVENTS_ALERT_ID as ALERT_ID;

const ACKNOWLEDGE: &str = include_str!("../../../events/acknowledge-alert.json");

/// The acknowledgement as stored: (who, comment), or `None` while nobody acknowledged it.
async fn stored(test: &TestDb) -> Option<(String, Option<String>)> {
    let row = test
        .owner()
        .await
        .query_one(
            "SELECT acknowledged_by, acknowledgement FROM max_alerts WHERE id = $1::text::uuid",
            &[&ALERT_ID],
        )
        .await
        .unwrap();
    row.get::<_, Option<String>>(0).map(|by| (by, row.get(1)))
}

fn with_body(body: &str) -> lambda_http::Request {
    event_with(ACKNOWLEDGE, |event| event["body"] = body.into())
}

#[tokio::test]
async fn acknowledging_records_who_and_the_comment_keeps_the_alert_active_and_is_harmless_twice() {
    let (test, app) = events_app().await;
    test.insert_events_alert("macrea").await;
    let (status, first) =
        status_and_json(acknowledge_alert::handle(&app, event(ACKNOWLEDGE)).await);
    assert_eq!(status, 200, "{first}");
    let alert = &first["alert"];
    assert!(alert["acknowledgedAt"].is_string());
    assert!(
        alert["acknowledgedBy"]
            .as_str()
            .unwrap()
            .starts_with("api-key:mxk_macrea_")
    );
    assert_eq!(alert["acknowledgement"], "Je le rappelle demain matin.");
    assert!(alert["resolvedAt"].is_null());
    // Again, with another comment: the first acknowledgement stands.
    let (status, again) = status_and_json(
        acknowledge_alert::handle(&app, with_body(r#"{"comment": "autre"}"#)).await,
    );
    assert_eq!(status, 200);
    assert_eq!(again["alert"], first["alert"]);
    // A user's token acknowledges too; with an empty body, without a comment.
    let test2 = TestDb::new().await;
    test2.insert_events_alert("macrea").await;
    let app2 = App::new(test2.db(), Some(shared::testing::jwt_verifier()));
    let token = shared::testing::max_login_token("macrea", "42", "user");
    let request = event_with(ACKNOWLEDGE, |event| {
        event["headers"]["authorization"] = format!("Bearer {token}").into();
        event["body"] = "".into();
    });
    let (status, body) = status_and_json(acknowledge_alert::handle(&app2, request).await);
    assert_eq!(status, 200, "{body}");
    assert_eq!(stored(&test2).await, Some(("user:42".into(), None)));
}

#[tokio::test]
async fn a_bad_comment_is_a_400_naming_it_and_writes_nothing() {
    let (test, app) = events_app().await;
    test.insert_events_alert("macrea").await;
    let long = serde_json::json!({ "comment": "x".repeat(1001) }).to_string();
    for (body, code, message) in [
        (
            long.as_str(),
            "invalid_field",
            "comment must be at most 1000 characters.",
        ),
        (
            r#"{"comment": 12}"#,
            "invalid_field",
            "comment must be a string.",
        ),
        (
            r#"{"comment": "  "}"#,
            "invalid_field",
            "comment must not be empty.",
        ),
        (
            "[1]",
            "invalid_json",
            "The request body must be a JSON object.",
        ),
        ("{", "invalid_json", ""),
    ] {
        let (status, reply) =
            status_and_json(acknowledge_alert::handle(&app, with_body(body)).await);
        assert_eq!(status, 400, "{body}: {reply}");
        assert_eq!(reply["error"]["code"], code, "{body}");
        assert!(
            reply["error"]["message"]
                .as_str()
                .unwrap()
                .starts_with(message),
            "{body}: {reply}"
        );
    }
    assert_eq!(stored(&test).await, None);
}

#[tokio::test]
async fn unknown_foreign_or_forbidden_is_refused_before_anything_is_written() {
    let (test, app) = events_app().await;
    let (status, _) = status_and_json(acknowledge_alert::handle(&app, event(ACKNOWLEDGE)).await);
    assert_eq!(status, 404);
    test.insert_events_alert("another-tenant").await;
    let (status, _) = status_and_json(acknowledge_alert::handle(&app, event(ACKNOWLEDGE)).await);
    assert_eq!(status, 404);
    assert_eq!(stored(&test).await, None);
    // A bad credential is a 401 whatever the body; a role that may not act on alerts, a 403.
    let request = event_with(ACKNOWLEDGE, |event| {
        event["headers"]["authorization"] = "Bearer mxk_macrea_NotARealKeyNotARealKey1234".into();
        event["body"] = "{".into();
    });
    let (status, _) = status_and_json(acknowledge_alert::handle(&app, request).await);
    assert_eq!(status, 401);
    let guest = shared::testing::max_login_token("another-tenant", "9", "guest");
    let request = event_with(ACKNOWLEDGE, |event| {
        event["headers"]["authorization"] = format!("Bearer {guest}").into();
    });
    let (status, _) = status_and_json(acknowledge_alert::handle(&app, request).await);
    assert_eq!(status, 403);
    assert_eq!(stored(&test).await, None);
}
