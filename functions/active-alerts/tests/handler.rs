//! The handler, fed the sample events of `events/`, against a real database.

use shared::http::App;
use shared::testing::{
    SEED_INSERT, TestDb, UNKNOWN_KEY, event, event_as, event_with, status_and_json,
};

const ACTIVE: &str = include_str!("../../../events/active-alerts.json");
const HIGH: &str = include_str!("../../../events/active-alerts-high.json");
const HEALTH: &str = include_str!("../../../events/health.json");

async fn setup() -> (TestDb, App) {
    let test = TestDb::new().await;
    test.register_events_key().await;
    let app = App::new(test.db(), Some(shared::testing::jwt_verifier()));
    (test, app)
}

#[tokio::test]
async fn with_no_alert_the_answer_is_the_seeds_empty_shape() {
    let (_test, app) = setup().await;
    let (status, body) = status_and_json(active_alerts::handle(&app, event(ACTIVE)).await);
    assert_eq!(status, 200);
    assert_eq!(
        body,
        serde_json::json!({
            "success": true,
            "stats": {"total": 0, "high": 0, "medium": 0, "low": 0, "escalated": 0, "snoozed": 0},
            "alerts": []
        })
    );
}

#[tokio::test]
async fn the_seeds_manual_alert_shows_with_every_field() {
    let (test, app) = setup().await;
    test.owner().await.batch_execute(SEED_INSERT).await.unwrap();
    let (status, body) = status_and_json(active_alerts::handle(&app, event(ACTIVE)).await);
    assert_eq!(status, 200);
    assert_eq!(body["stats"]["high"], 1);
    assert_eq!(body["stats"]["total"], 1);
    let alert = &body["alerts"][0];
    assert_eq!(alert["leadId"], "test_prod_alert");
    assert_eq!(alert["type"], "NoContact7d");
    assert_eq!(alert["severity"], "high");
    assert_eq!(alert["message"], "Test alerte production");
    assert_eq!(alert["suggestedAction"]["label"], "Test Action");
    assert!(alert["id"].as_str().unwrap().len() == 36);
    assert!(alert["createdAt"].as_str().unwrap().ends_with('Z'));
    assert!(alert["resolvedAt"].is_null());
    assert_eq!(alert["escalated"], false);
}

#[tokio::test]
async fn severity_and_limit_filter_and_page() {
    let (test, app) = setup().await;
    test.owner()
        .await
        .batch_execute(
            "INSERT INTO max_alerts (tenant_id, lead_id, type, severity, message)
             SELECT 'macrea', 'lead-' || i, 'NoContact7d', CASE WHEN i <= 12 THEN 'high' ELSE 'low' END, 'm'
               FROM generate_series(1, 20) AS i",
        )
        .await
        .unwrap();
    let (status, body) = status_and_json(active_alerts::handle(&app, event(HIGH)).await);
    assert_eq!(status, 200);
    let alerts = body["alerts"].as_array().unwrap();
    assert_eq!(alerts.len(), 10);
    assert!(alerts.iter().all(|a| a["severity"] == "high"));
    assert!(body["nextCursor"].is_string());
    assert_eq!(body["stats"]["total"], 20);
}

#[tokio::test]
async fn bad_queries_and_other_tenants_are_refused() {
    let (_test, app) = setup().await;
    let (status, body) = status_and_json(
        active_alerts::handle(
            &app,
            event(include_str!(
                "../../../events/active-alerts-invalid-limit.json"
            )),
        )
        .await,
    );
    assert_eq!(
        (status, body["error"]["code"].as_str()),
        (400, Some("invalid_query"))
    );
    let (status, body) = status_and_json(
        active_alerts::handle(
            &app,
            event(include_str!(
                "../../../events/active-alerts-other-tenant.json"
            )),
        )
        .await,
    );
    assert_eq!(
        (status, body["error"]["code"].as_str()),
        (403, Some("forbidden"))
    );
}

#[tokio::test]
async fn health_is_200_when_the_database_answers_and_503_when_not() {
    let (_test, app) = setup().await;
    let (status, body) = status_and_json(active_alerts::handle(&app, event(HEALTH)).await);
    assert_eq!((status, body["success"].as_bool()), (200, Some(true)));
    let down = shared::testing::unreachable_app();
    let response = active_alerts::handle(&down, event(HEALTH)).await;
    assert!(response.headers().contains_key("retry-after"));
    let (status, _) = status_and_json(response);
    assert_eq!(status, 503);
}

#[tokio::test]
async fn an_unknown_key_is_a_401_whatever_the_query() {
    let (_test, app) = setup().await;
    let empty_cursor = event_with(ACTIVE, |event| {
        event["headers"]["authorization"] = serde_json::json!(format!("Bearer {UNKNOWN_KEY}"));
        event["rawQueryString"] = serde_json::json!("cursor=");
        event["queryStringParameters"] = serde_json::json!({"cursor": ""});
    });
    for request in [
        event_as(ACTIVE, UNKNOWN_KEY),
        event_as(
            include_str!("../../../events/active-alerts-invalid-limit.json"),
            UNKNOWN_KEY,
        ),
        empty_cursor,
    ] {
        let (status, body) = status_and_json(active_alerts::handle(&app, request).await);
        assert_eq!(
            (status, body["error"]["code"].as_str()),
            (401, Some("unauthorized")),
            "{body}"
        );
    }
    // The same query with a valid key is the 400 it always was.
    let (status, _) = status_and_json(
        active_alerts::handle(
            &app,
            event(include_str!(
                "../../../events/active-alerts-invalid-limit.json"
            )),
        )
        .await,
    );
    assert_eq!(status, 400);
}

#[tokio::test]
async fn alerts_are_read_in_the_language_the_reader_asks_for() {
    let (test, app) = setup().await;
    // A rule's alert, with its English message and the rule's default action; and the seed's
    // manual alert, written in French only.
    test.owner()
        .await
        .batch_execute(&format!(
            "INSERT INTO max_alerts (tenant_id, lead_id, type, severity, message, message_en,
                                     suggested_action, created_at)
             VALUES ('macrea', 'lead-1', 'NoContact7d', 'high', 'Aucun contact depuis 9 jours',
                     'No contact for 9 days',
                     '{{\"label\": \"Relancer le lead\", \"action\": \"follow_up\"}}'::jsonb,
                     now() - interval '1 hour');
             {SEED_INSERT}"
        ))
        .await
        .unwrap();
    let read = |language: Option<&'static str>, lang: Option<&'static str>| {
        let app = &app;
        async move {
            let request = event_with(ACTIVE, |event| {
                if let Some(language) = language {
                    event["headers"]["accept-language"] = serde_json::json!(language);
                }
                if let Some(lang) = lang {
                    event["rawQueryString"] = serde_json::json!(format!("lang={lang}"));
                    event["queryStringParameters"] = serde_json::json!({"lang": lang});
                }
            });
            status_and_json(active_alerts::handle(app, request).await)
        }
    };
    let texts = |body: &serde_json::Value| -> Vec<(String, String)> {
        body["alerts"]
            .as_array()
            .unwrap()
            .iter()
            .map(|a| {
                (
                    a["message"].as_str().unwrap().to_owned(),
                    a["suggestedAction"]["label"].as_str().unwrap().to_owned(),
                )
            })
            .collect()
    };
    // The older alert first.
    let french = [
        (
            "Aucun contact depuis 9 jours".into(),
            "Relancer le lead".into(),
        ),
        ("Test alerte production".into(), "Test Action".into()),
    ];
    let english = [
        (
            "No contact for 9 days".into(),
            "Follow up with the lead".into(),
        ),
        ("Test alerte production".into(), "Test Action".into()),
    ];
    for (language, lang, expected) in [
        (None, None, &french),
        (Some("en-GB,en;q=0.9,fr;q=0.5"), None, &english),
        (Some("fr-FR, en;q=0.8"), None, &french),
        (Some("de-DE, en;q=0.7, fr;q=0.3"), None, &english),
        (Some("de, es"), None, &french),
        (Some("en"), Some("fr"), &french),
        (None, Some("EN"), &english),
    ] {
        let (status, body) = read(language, lang).await;
        assert_eq!(status, 200, "{body}");
        assert_eq!(&texts(&body), expected, "{language:?} {lang:?}");
        assert_eq!(body["alerts"][0]["suggestedAction"]["action"], "follow_up");
    }
    let (status, body) = read(None, Some("de")).await;
    assert_eq!(status, 400);
    assert_eq!(body["error"]["message"], "lang: lang must be fr or en.");
}
