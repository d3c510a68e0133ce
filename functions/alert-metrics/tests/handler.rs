//! The handler, fed the sample event of `events/`, against a real database whose alerts change as
//! the evaluator, the API and activities change them: the roll-ups the database keeps answer.

use shared::testing::{event, event_as, event_with_query, events_app, status_and_json, user_token};

const METRICS: &str = include_str!("../../../events/alert-metrics.json");
const ACTIVE: &str = include_str!("../../../events/active-alerts.json");

/// The event with this query string.
fn with_query(pairs: &[(&str, &str)]) -> lambda_http::Request {
    event_with_query(METRICS, pairs)
}

/// The figures of a group, without its waiting times.
fn counts(figures: &serde_json::Value) -> [i64; 7] {
    [
        "raised",
        "escalated",
        "acknowledged",
        "resolvedManually",
        "resolvedAutomatically",
        "openAtEnd",
        "resolvedWithin24h",
    ]
    .map(|name| {
        figures[name]
            .as_i64()
            .unwrap_or_else(|| panic!("{name}: {figures}"))
    })
}

/// Whether `value` seconds is within 10 % of `expected`.
fn near(value: &serde_json::Value, expected: f64) -> bool {
    let value = value.as_f64().unwrap();
    (value - expected).abs() <= expected * 0.1
}

#[tokio::test]
async fn a_period_s_figures_come_day_by_day_by_rule_and_by_severity() {
    let (test, app) = events_app().await;
    let owner = test.owner().await;
    // macrea's days are Paris days (the default). The sample event asks for November 2026.
    owner
        .batch_execute(
            "DELETE FROM max_alerts;
             -- Before the period: one alert, still open (escalated before the period).
             INSERT INTO max_alerts (tenant_id, lead_id, type, severity, message, created_at)
             VALUES ('macrea', 'a4', 'NoContact7d', 'high', 'm', '2026-10-30T10:00:00Z');
             UPDATE max_alerts SET escalated_at = '2026-10-31T10:00:00Z' WHERE lead_id = 'a4';
             -- Raised on November 1st: acknowledged after 30 minutes, resolved by hand after 2 h.
             INSERT INTO max_alerts (tenant_id, lead_id, type, severity, message, created_at)
             VALUES ('macrea', 'a1', 'NoContact7d', 'high', 'm', '2026-11-01T10:00:00Z'),
                    ('macrea', 'a2', 'NoContact7d', 'high', 'm', '2026-11-01T11:00:00Z'),
             -- 23:30 UTC is 00:30 in Paris: raised on November 2nd.
                    ('macrea', 'a3', 'UnansweredInbound', 'medium', 'm', '2026-11-01T23:30:00Z');
             UPDATE max_alerts SET acknowledged_at = '2026-11-01T10:30:00Z',
                                   acknowledged_by = 'user:u1' WHERE lead_id = 'a1';
             UPDATE max_alerts SET resolved_at = '2026-11-01T12:00:00Z', resolved_by = 'user:u1',
                                   resolution = 'manual' WHERE lead_id = 'a1';
             -- Escalated on the 2nd, resolved by an activity after 28 hours (not within 24 h).
             UPDATE max_alerts SET escalated_at = '2026-11-02T11:00:00Z' WHERE lead_id = 'a2';
             UPDATE max_alerts SET resolved_at = '2026-11-02T15:00:00Z', resolution = 'auto'
              WHERE lead_id = 'a2';
             -- Another tenant's alerts, the same days: never counted for macrea.
             INSERT INTO max_alerts (tenant_id, lead_id, type, severity, message, created_at,
                                     resolved_at, resolution)
             SELECT 'other', 'o' || i, 'NoContact7d', 'high', 'm', '2026-11-01T10:00:00Z',
                    '2026-11-01T10:05:00Z', 'auto'
               FROM generate_series(1, 5) AS i;
             -- Who opened the widget.
             INSERT INTO max_widget_visits (tenant_id, day, user_id)
             VALUES ('macrea', '2026-11-01', 'u1'), ('macrea', '2026-11-01', 'u2'),
                    ('macrea', '2026-11-02', 'u1'), ('other', '2026-11-02', 'u9');",
        )
        .await
        .unwrap();

    let (status, body) = status_and_json(
        alert_metrics::handle(
            &app,
            with_query(&[("from", "2026-11-01"), ("to", "2026-11-03")]),
        )
        .await,
    );
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["success"], true);
    assert_eq!(body["from"], "2026-11-01");
    assert_eq!(body["to"], "2026-11-03");
    assert_eq!(body["timeZone"], "Europe/Paris");

    // raised, escalated, acknowledged, manual, auto, open at end, within 24 h.
    let totals = &body["totals"];
    assert_eq!(counts(totals), [3, 1, 1, 1, 1, 2, 1], "{totals}");
    assert!((totals["resolvedWithin24hShare"].as_f64().unwrap() - 1.0 / 3.0).abs() < 1e-9);
    let acknowledge = &totals["timeToAcknowledge"];
    assert_eq!(acknowledge["meanSeconds"], 1800);
    assert!(near(&acknowledge["medianSeconds"], 1800.0), "{acknowledge}");
    let resolve = &totals["timeToResolve"];
    assert_eq!(resolve["meanSeconds"], (7200 + 28 * 3600) / 2);
    assert!(near(&resolve["p90Seconds"], 28.0 * 3600.0), "{resolve}");

    let days = body["days"].as_array().unwrap();
    let day_names: Vec<&str> = days.iter().map(|d| d["day"].as_str().unwrap()).collect();
    assert_eq!(day_names, ["2026-11-01", "2026-11-02", "2026-11-03"]);
    assert_eq!(counts(&days[0]), [2, 0, 1, 1, 0, 2, 1], "{}", days[0]);
    assert_eq!(counts(&days[1]), [1, 1, 0, 0, 1, 2, 0], "{}", days[1]);
    assert_eq!(counts(&days[2]), [0, 0, 0, 0, 0, 2, 0], "{}", days[2]);
    assert!(near(&days[0]["timeToResolve"]["medianSeconds"], 7200.0));
    assert!(days[2]["timeToResolve"].is_null());
    assert!(days[2]["resolvedWithin24hShare"].is_null());
    let users: Vec<i64> = days
        .iter()
        .map(|d| d["widgetUsers"].as_i64().unwrap())
        .collect();
    assert_eq!(users, [2, 1, 0]);
    assert_eq!(body["widgetUsers"], 2);

    let rules: Vec<(&str, [i64; 7])> = body["byRule"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| (r["type"].as_str().unwrap(), counts(r)))
        .collect();
    assert_eq!(
        rules,
        [
            ("UnansweredInbound", [1, 0, 0, 0, 0, 1, 0]),
            ("DeliveryFailed", [0; 7]),
            ("NoContact7d", [2, 1, 1, 1, 1, 1, 1]),
            ("NoReply3d", [0; 7]),
        ]
    );
    let severities: Vec<(&str, [i64; 7])> = body["bySeverity"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| (s["severity"].as_str().unwrap(), counts(s)))
        .collect();
    assert_eq!(
        severities,
        [
            ("high", [2, 1, 1, 1, 1, 1, 1]),
            ("medium", [1, 0, 0, 0, 0, 1, 0]),
            ("low", [0; 7]),
        ]
    );

    // A rule's severity changed by its tenant: the open alert moves with it, the totals stay.
    owner
        .batch_execute("UPDATE max_alerts SET severity = 'low' WHERE lead_id = 'a3'")
        .await
        .unwrap();
    let (_, body) = status_and_json(alert_metrics::handle(&app, with_query(&[])).await);
    let open = |severity: usize| body["bySeverity"][severity]["openAtEnd"].as_i64().unwrap();
    assert_eq!((open(0), open(1), open(2)), (1, 0, 1));
    assert_eq!(body["totals"]["openAtEnd"], 2);
    // By default, the last 30 days up to today.
    assert_eq!(body["days"].as_array().unwrap().len(), 30);
}

#[tokio::test]
async fn a_user_reading_the_widget_counts_once_a_day_an_api_key_never() {
    let (test, app) = events_app().await;
    let token = user_token("macrea", "u7");
    for _ in 0..3 {
        let (status, _) = status_and_json(active_alerts_as(&app, &token).await);
        assert_eq!(status, 200);
    }
    let (status, _) = status_and_json(active_alerts::handle(&app, event(ACTIVE)).await);
    assert_eq!(status, 200);
    let visits: Vec<(String, bool)> = test
        .owner()
        .await
        .query(
            "SELECT user_id, day = (now() AT TIME ZONE 'Europe/Paris')::date
               FROM max_widget_visits",
            &[],
        )
        .await
        .unwrap()
        .iter()
        .map(|row| (row.get(0), row.get(1)))
        .collect();
    assert_eq!(visits, [("u7".to_owned(), true)]);
    let (status, body) = status_and_json(alert_metrics::handle(&app, event(METRICS)).await);
    assert_eq!(status, 200, "{body}");
    let (_, body) = status_and_json(alert_metrics::handle(&app, event_as(METRICS, &token)).await);
    assert_eq!(body["widgetUsers"], 0, "November 2026 had none: {body}");
    let (_, body) = status_and_json(alert_metrics::handle(&app, with_query(&[])).await);
    assert_eq!(body["widgetUsers"], 1);
    assert_eq!(body["days"][29]["widgetUsers"], 1);
}

async fn active_alerts_as(
    app: &shared::http::App,
    token: &str,
) -> lambda_http::Response<lambda_http::Body> {
    active_alerts::handle(app, event_as(ACTIVE, token)).await
}

#[tokio::test]
async fn a_bad_period_is_a_400_naming_it() {
    let (_test, app) = events_app().await;
    for (pairs, message) in [
        (
            vec![("from", "hier")],
            "from: from must be a date such as 2026-11-24.",
        ),
        (
            vec![("to", "2026-02-30")],
            "to: to must be a date such as 2026-11-24.",
        ),
        (
            vec![("from", "2026-12-02"), ("to", "2026-12-01")],
            "from: from must not be after to.",
        ),
        (
            vec![("from", "2024-01-01"), ("to", "2026-12-01")],
            "from: the period must be at most 366 days.",
        ),
    ] {
        let (status, body) = status_and_json(alert_metrics::handle(&app, with_query(&pairs)).await);
        assert_eq!(status, 400, "{pairs:?}: {body}");
        assert_eq!(body["error"]["code"], "invalid_query");
        assert_eq!(body["error"]["message"], message, "{pairs:?}");
    }
}
