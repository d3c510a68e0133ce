//! The handler, fed the sample events of `events/`, against a real database.

use shared::testing::{event, event_with_query, events_app, status_and_json};

const RESOLVED: &str = include_str!("../../../events/resolved-alerts.json");

/// The event with this query string.
fn with_query(pairs: &[(&str, &str)]) -> lambda_http::Request {
    event_with_query(RESOLVED, pairs)
}

#[tokio::test]
async fn resolutions_of_a_period_are_paged_newest_first_and_only_the_tenant_s() {
    let (test, app) = events_app().await;
    // 25 alerts of macrea resolved an hour apart (the newest an hour ago), 3 still open, and
    // another tenant's resolutions.
    test.owner()
        .await
        .batch_execute(
            "INSERT INTO max_alerts (tenant_id, lead_id, type, severity, message, created_at,
                                     resolved_at, resolved_by, resolution)
             SELECT 'macrea', 'lead-' || i, 'NoContact7d', 'high', 'm', now() - interval '30 days',
                    now() - make_interval(hours => i), 'user:42', 'manual'
               FROM generate_series(1, 25) AS i;
             INSERT INTO max_alerts (tenant_id, lead_id, type, severity, message)
             SELECT 'macrea', 'open-' || i, 'NoContact7d', 'high', 'm' FROM generate_series(1, 3) AS i;
             INSERT INTO max_alerts (tenant_id, lead_id, type, severity, message, resolved_at, resolution)
             SELECT 'other', 'lead-' || i, 'NoContact7d', 'high', 'm', now(), 'auto'
               FROM generate_series(1, 5) AS i;",
        )
        .await
        .unwrap();
    let mut seen = Vec::new();
    let mut cursor: Option<String> = None;
    loop {
        let mut pairs = vec![("limit", "10")];
        if let Some(cursor) = &cursor {
            pairs.push(("cursor", cursor.as_str()));
        }
        let (status, body) =
            status_and_json(resolved_alerts::handle(&app, with_query(&pairs)).await);
        assert_eq!(status, 200, "{body}");
        for alert in body["alerts"].as_array().unwrap() {
            assert_eq!(alert["resolvedBy"], "user:42");
            seen.push(alert["leadId"].as_str().unwrap().to_owned());
        }
        match body["nextCursor"].as_str() {
            Some(next) => cursor = Some(next.to_owned()),
            None => break,
        }
    }
    let expected: Vec<String> = (1..=25).map(|i| format!("lead-{i}")).collect();
    assert_eq!(
        seen, expected,
        "newest first, each once, none of another tenant"
    );

    // A period: the resolutions from 10 h 30 to 5 h 30 ago (leads 6 to 10).
    let ago = |hours: f64| {
        (shared::time::OffsetDateTime::now_utc()
            - shared::time::Duration::seconds_f64(hours * 3600.0))
        .format(&shared::time::format_description::well_known::Rfc3339)
        .unwrap()
    };
    let (from, to) = (ago(10.5), ago(5.5));
    let (status, body) = status_and_json(
        resolved_alerts::handle(&app, with_query(&[("from", &from), ("to", &to)])).await,
    );
    assert_eq!(status, 200, "{body}");
    let leads: Vec<&str> = body["alerts"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a["leadId"].as_str().unwrap())
        .collect();
    assert_eq!(leads, ["lead-6", "lead-7", "lead-8", "lead-9", "lead-10"]);
    // By default, the last 7 days; the sample event reads them too.
    let (status, body) = status_and_json(resolved_alerts::handle(&app, event(RESOLVED)).await);
    assert_eq!(status, 200);
    assert_eq!(body["alerts"].as_array().unwrap().len(), 20);
}

#[tokio::test]
async fn a_bad_period_limit_or_cursor_is_a_400_naming_it() {
    let (_test, app) = events_app().await;
    for (pairs, name) in [
        (vec![("from", "hier")], "from"),
        (vec![("to", "2026-13-01T00:00:00Z")], "to"),
        (
            vec![
                ("from", "2026-12-02T00:00:00Z"),
                ("to", "2026-12-01T00:00:00Z"),
            ],
            "from",
        ),
        (vec![("limit", "0")], "limit"),
        (vec![("cursor", "nope")], "cursor"),
    ] {
        let (status, body) =
            status_and_json(resolved_alerts::handle(&app, with_query(&pairs)).await);
        assert_eq!(status, 400, "{pairs:?}: {body}");
        assert_eq!(body["error"]["code"], "invalid_query");
        assert!(
            body["error"]["message"]
                .as_str()
                .unwrap()
                .starts_with(&format!("{name}: ")),
            "{body}"
        );
    }
}
