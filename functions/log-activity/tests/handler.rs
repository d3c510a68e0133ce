//! The handler, fed the sample events of `events/`, against a real database.

use serde_json::json;
use shared::http::App;
use shared::tenancy::Scope;
use shared::testing::{TestDb, UNKNOWN_KEY, event, event_as, event_with, status_and_json};

const VALID: &str = include_str!("../../../events/log-activity.json");
const IDEMPOTENT: &str = include_str!("../../../events/log-activity-idempotent.json");

async fn setup() -> (TestDb, App) {
    let test = TestDb::new().await;
    test.register_events_key().await;
    let app = App::new(test.db(), Some(shared::testing::jwt_verifier()));
    (test, app)
}

async fn stored(test: &TestDb) -> i64 {
    test.owner()
        .await
        .query_one("SELECT count(*) FROM lead_activities", &[])
        .await
        .unwrap()
        .get(0)
}

#[tokio::test]
async fn the_seed_request_logs_an_activity() {
    let (test, app) = setup().await;
    let (status, body) = status_and_json(log_activity::handle(&app, event(VALID)).await);
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["success"], true);
    assert_eq!(body["activity"]["leadId"], "test_deploy");
    assert_eq!(body["activity"]["channel"], "whatsapp");
    assert_eq!(body["activity"]["messageSnippet"], "Test déploiement");
    assert_eq!(body["replayed"], false);
    assert!(body.get("warnings").is_none());
    assert_eq!(stored(&test).await, 1);
}

#[tokio::test]
async fn a_retried_webhook_is_stored_once() {
    let (test, app) = setup().await;
    let (_, first) = status_and_json(log_activity::handle(&app, event(IDEMPOTENT)).await);
    let (status, again) = status_and_json(log_activity::handle(&app, event(IDEMPOTENT)).await);
    assert_eq!(status, 200);
    assert_eq!(again["replayed"], true);
    assert_eq!(again["activity"], first["activity"]);
    assert_eq!(again["activity"]["leadName"], "Sophie");
    assert_eq!(stored(&test).await, 1);
}

#[tokio::test]
async fn bad_requests_get_a_clear_4xx_and_store_nothing() {
    let (test, app) = setup().await;
    for (file, status, code) in [
        (
            include_str!("../../../events/log-activity-invalid-json.json"),
            400,
            "invalid_json",
        ),
        (
            include_str!("../../../events/log-activity-missing-lead.json"),
            400,
            "invalid_field",
        ),
        (
            include_str!("../../../events/log-activity-unknown-channel.json"),
            400,
            "invalid_field",
        ),
        (
            include_str!("../../../events/log-activity-not-json.json"),
            415,
            "unsupported_media_type",
        ),
        (
            include_str!("../../../events/log-activity-no-credential.json"),
            401,
            "unauthorized",
        ),
    ] {
        let (got, body) = status_and_json(log_activity::handle(&app, event(file)).await);
        assert_eq!(
            (got, body["error"]["code"].as_str()),
            (status, Some(code)),
            "{body}"
        );
        assert_eq!(body["success"], false);
    }
    let too_large = event_with(VALID, |e| {
        e["body"] =
            json!(json!({"leadId": "x", "messageSnippet": "y".repeat(70 * 1024)}).to_string());
    });
    let (status, _) = status_and_json(log_activity::handle(&app, too_large).await);
    assert_eq!(status, 413);
    let not_an_object = event_with(VALID, |e| e["body"] = json!("[1, 2, 3]"));
    let (status, body) = status_and_json(log_activity::handle(&app, not_an_object).await);
    assert_eq!(
        (status, body["error"]["code"].as_str()),
        (400, Some("invalid_json"))
    );
    assert_eq!(stored(&test).await, 0);
}

#[tokio::test]
async fn a_long_snippet_is_kept_truncated_and_the_response_says_so() {
    let (test, app) = setup().await;
    let long = event_with(VALID, |e| {
        e["body"] = json!(
            json!({
                "leadId": "lead_1", "channel": "email", "direction": "out", "status": "sent",
                "messageSnippet": "z".repeat(20_000)
            })
            .to_string()
        );
    });
    let (status, body) = status_and_json(log_activity::handle(&app, long).await);
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["warnings"][0]["code"], "message_snippet_truncated");
    assert_eq!(
        body["activity"]["messageSnippet"].as_str().unwrap().len(),
        1000
    );
    assert_eq!(stored(&test).await, 1);
}

#[tokio::test]
async fn keys_are_checked_for_scope_revocation_and_tenant() {
    let (test, app) = setup().await;
    let read_only = test.key("macrea", &[Scope::ReadAlerts]).await;
    let with_key = |key: &str, tenant: Option<&str>| {
        event_with(VALID, |e| {
            e["headers"]["authorization"] = json!(format!("Bearer {key}"));
            match tenant {
                Some(tenant) => e["headers"]["x-tenant"] = json!(tenant),
                None => {
                    e["headers"].as_object_mut().unwrap().remove("x-tenant");
                }
            }
        })
    };
    let (status, _) = status_and_json(log_activity::handle(&app, with_key(&read_only, None)).await);
    assert_eq!(status, 403, "a read-only key may not log");
    let writer = test.key("macrea", &[Scope::LogActivities]).await;
    let (status, _) =
        status_and_json(log_activity::handle(&app, with_key(&writer, Some("other"))).await);
    assert_eq!(status, 403, "X-Tenant must match the key's tenant");
    let unknown = format!("mxk_macrea_{}", "A".repeat(32));
    let (status, _) =
        status_and_json(log_activity::handle(&app, with_key(&unknown, Some("other"))).await);
    assert_eq!(
        status, 401,
        "a bad key is 401 even when X-Tenant is wrong too"
    );
    let (status, _) =
        status_and_json(log_activity::handle(&app, with_key("not-a-key", None)).await);
    assert_eq!(status, 401);
    let mut owner = test.owner().await;
    shared::admin::revoke_key(&mut owner, &writer)
        .await
        .unwrap();
    let (status, _) = status_and_json(log_activity::handle(&app, with_key(&writer, None)).await);
    assert_eq!(status, 401, "a revoked key stops at once");
    assert_eq!(stored(&test).await, 0);
}

#[tokio::test]
async fn an_unreachable_database_is_a_503_with_retry_after() {
    let app = shared::testing::unreachable_app();
    let response = log_activity::handle(&app, event(VALID)).await;
    assert_eq!(response.headers()["retry-after"], "2");
    let (status, body) = status_and_json(response);
    assert_eq!(
        (status, body["error"]["code"].as_str()),
        (503, Some("database_unavailable"))
    );
    let text = body.to_string();
    assert!(
        !text.contains("127.0.0.1") && !text.contains("postgres"),
        "{text}"
    );
}

#[tokio::test]
async fn an_unknown_key_is_a_401_whatever_the_request_holds() {
    let (test, app) = setup().await;
    let big = json!({"leadId": "x", "messageSnippet": "y".repeat(70 * 1024)}).to_string();
    let mut requests: Vec<_> = [
        VALID,
        include_str!("../../../events/log-activity-invalid-json.json"),
        include_str!("../../../events/log-activity-missing-lead.json"),
        include_str!("../../../events/log-activity-unknown-channel.json"),
        include_str!("../../../events/log-activity-not-json.json"),
    ]
    .into_iter()
    .map(|file| event_as(file, UNKNOWN_KEY))
    .collect();
    requests.push(event_with(VALID, |event| {
        event["headers"]["authorization"] = json!(format!("Bearer {UNKNOWN_KEY}"));
        event["body"] = json!(big);
    }));
    for request in requests {
        let (status, body) = status_and_json(log_activity::handle(&app, request).await);
        assert_eq!(
            (status, body["error"]["code"].as_str()),
            (401, Some("unauthorized")),
            "{body}"
        );
    }
    assert_eq!(stored(&test).await, 0);
}

#[tokio::test]
async fn a_database_gone_silent_is_a_503_with_retry_after_within_three_seconds() {
    let test = TestDb::new().await;
    test.register_events_key().await;
    let proxy = shared::testing::proxy::SilentProxy::start(test.address().await).await;
    let db = shared::db::Db::connect_lazily(
        shared::admin::parse_url(&test.url_via(proxy.port())).unwrap(),
        &shared::config::PoolSettings::default(),
        "max-test",
    )
    .unwrap();
    let app = App::new(db, Some(shared::testing::jwt_verifier()));
    let (status, _) = status_and_json(log_activity::handle(&app, event(VALID)).await);
    assert_eq!(status, 200);

    proxy.go_silent();
    let started = std::time::Instant::now();
    let response = log_activity::handle(&app, event(IDEMPOTENT)).await;
    assert!(started.elapsed() < std::time::Duration::from_secs(3));
    assert_eq!(response.headers()["retry-after"], "2");
    let (status, body) = status_and_json(response);
    assert_eq!(
        (status, body["error"]["code"].as_str()),
        (503, Some("database_unavailable"))
    );

    proxy.answer_again();
    let (status, _) = status_and_json(log_activity::handle(&app, event(IDEMPOTENT)).await);
    assert_eq!(status, 200);
}
