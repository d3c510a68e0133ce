//! The handler, fed the sample events of `events/`, against a real database.

use shared::testing::{TestDb, event, event_with, events_app, status_and_json};

const SNOOZE: &str = include_str!("../../../events/snooze-alert.json");
const WAKE: &str = include_str!("../../../events/wake-alert.json");
const ACTIVE: &str = include_str!("../../../events/active-alerts.json");

fn with_body(body: &str) -> lambda_http::Request {
    event_with(SNOOZE, |event| event["body"] = body.into())
}

/// The snooze as stored: (until is in the future, who).
async fn stored(test: &TestDb) -> (Option<bool>, Option<String>) {
    let row = test
        .owner()
        .await
        .query_one(
            "SELECT snoozed_until > now(), snoozed_by FROM max_alerts",
            &[],
        )
        .await
        .unwrap();
    (row.get(0), row.get(1))
}

#[tokio::test]
async fn a_snoozed_alert_leaves_the_list_and_the_counts_until_it_is_woken() {
    let (test, app) = events_app().await;
    test.insert_events_alert("macrea").await;
    let listing = shared::http::App::new(test.db(), None);
    let active =
        || async { status_and_json(active_alerts::handle(&listing, event(ACTIVE)).await).1 };
    assert_eq!(active().await["stats"]["high"], 1);

    let (status, body) = status_and_json(snooze_alert::handle(&app, event(SNOOZE)).await);
    assert_eq!(status, 200, "{body}");
    let until = shared::time::OffsetDateTime::parse(
        body["alert"]["snoozedUntil"].as_str().unwrap(),
        &shared::time::format_description::well_known::Rfc3339,
    )
    .unwrap();
    let two_days = shared::time::OffsetDateTime::now_utc() + shared::time::Duration::days(2);
    assert!((until - two_days).abs() < shared::time::Duration::minutes(1));
    assert!(
        body["alert"]["snoozedBy"]
            .as_str()
            .unwrap()
            .starts_with("api-key:")
    );
    let listed = active().await;
    assert_eq!(listed["alerts"].as_array().unwrap().len(), 0);
    assert_eq!(
        (
            &listed["stats"]["total"],
            &listed["stats"]["high"],
            &listed["stats"]["snoozed"]
        ),
        (&0.into(), &0.into(), &1.into())
    );

    // Snoozing again moves the end; waking brings it back at once; waking again changes nothing.
    let later = (shared::time::OffsetDateTime::now_utc() + shared::time::Duration::hours(3))
        .format(&shared::time::format_description::well_known::Rfc3339)
        .unwrap();
    let body = serde_json::json!({ "until": later }).to_string();
    let (status, _) = status_and_json(snooze_alert::handle(&app, with_body(&body)).await);
    assert_eq!(status, 200);
    let (status, body) = status_and_json(snooze_alert::handle(&app, event(WAKE)).await);
    assert_eq!(status, 200, "{body}");
    assert!(body["alert"]["snoozedUntil"].is_null() && body["alert"]["snoozedBy"].is_null());
    assert_eq!(active().await["stats"]["high"], 1);
    let (status, again) = status_and_json(snooze_alert::handle(&app, event(WAKE)).await);
    assert_eq!((status, &again["alert"]), (200, &body["alert"]));
    let kinds: Vec<String> = test
        .owner()
        .await
        .query("SELECT kind, actor FROM max_alert_events ORDER BY id", &[])
        .await
        .unwrap()
        .iter()
        .map(|row| {
            let actor: Option<String> = row.get(1);
            format!("{} {}", row.get::<_, String>(0), actor.is_some())
        })
        .collect();
    assert_eq!(
        kinds,
        ["raised false", "snoozed true", "snoozed true", "woken true"]
    );
}

#[tokio::test]
async fn a_snooze_must_end_a_minute_to_30_days_ahead_else_a_400_and_nothing_is_written() {
    let (test, app) = events_app().await;
    test.insert_events_alert("macrea").await;
    let past = "2020-01-01T00:00:00Z";
    for (body, field, message) in [
        ("{}", "until", "Send either until"),
        (
            r#"{"until": "2030-01-01T00:00:00Z", "for": "1h"}"#,
            "until",
            "Send either until",
        ),
        (
            &*format!(r#"{{"until": "{past}"}}"#),
            "until",
            "until must end at least a minute from now.",
        ),
        (
            r#"{"for": "31d"}"#,
            "for",
            "for must end at most 30 days from now.",
        ),
        (
            r#"{"for": "10s"}"#,
            "for",
            "for must end at least a minute from now.",
        ),
        (
            r#"{"for": "bientôt"}"#,
            "for",
            "for must be a duration such as 30m, 4h or 2d.",
        ),
        (
            r#"{"until": "lundi"}"#,
            "until",
            "until must be an ISO 8601 date and time",
        ),
        (r#"{"for": 3600}"#, "for", "for must be a duration"),
    ] {
        let (status, reply) = status_and_json(snooze_alert::handle(&app, with_body(body)).await);
        assert_eq!(status, 400, "{body}: {reply}");
        assert_eq!(reply["error"]["field"], field, "{body}");
        assert!(
            reply["error"]["message"]
                .as_str()
                .unwrap()
                .starts_with(message),
            "{body}: {reply}"
        );
    }
    let (status, _) = status_and_json(snooze_alert::handle(&app, with_body("")).await);
    assert_eq!(status, 400);
    assert_eq!(stored(&test).await, (None, None));
}

#[tokio::test]
async fn unknown_foreign_resolved_or_forbidden_alerts_are_not_snoozed() {
    let (test, app) = events_app().await;
    let (status, _) = status_and_json(snooze_alert::handle(&app, event(SNOOZE)).await);
    assert_eq!(status, 404);
    test.insert_events_alert("another-tenant").await;
    for request in [event(SNOOZE), event(WAKE)] {
        let (status, _) = status_and_json(snooze_alert::handle(&app, request).await);
        assert_eq!(status, 404);
    }
    assert_eq!(stored(&test).await, (None, None));
    let reader = shared::testing::max_login_token("another-tenant", "9", "guest");
    let request = event_with(SNOOZE, |event| {
        event["headers"]["authorization"] = format!("Bearer {reader}").into();
    });
    assert_eq!(
        status_and_json(snooze_alert::handle(&app, request).await).0,
        403
    );
    // A resolved alert is answered as it is.
    let (test, app) = events_app().await;
    test.insert_events_alert("macrea").await;
    test.owner()
        .await
        .batch_execute("UPDATE max_alerts SET resolved_at = now(), resolution = 'auto'")
        .await
        .unwrap();
    let (status, body) = status_and_json(snooze_alert::handle(&app, event(SNOOZE)).await);
    assert_eq!(status, 200);
    assert!(body["alert"]["snoozedUntil"].is_null());
    assert_eq!(stored(&test).await, (None, None));
    let request = event_with(SNOOZE, |event| {
        event["requestContext"]["http"]["method"] = "PUT".into();
    });
    assert_eq!(
        status_and_json(snooze_alert::handle(&app, request).await).0,
        405
    );
}
