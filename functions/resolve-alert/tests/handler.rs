//! The handler, fed the sample events of `events/`, against a real database.

use shared::http::App;
use shared::testing::{TestDb, UNKNOWN_KEY, event, event_as, events_app, status_and_json};

use shared::testing::EVENTS_ALERT_ID as ALERT_ID;

const RESOLVE: &str = include_str!("../../../events/resolve-alert.json");

#[tokio::test]
async fn resolving_sets_resolved_at_and_is_harmless_twice() {
    let (test, app) = events_app().await;
    test.insert_events_alert("macrea").await;
    let (status, first) = status_and_json(resolve_alert::handle(&app, event(RESOLVE)).await);
    assert_eq!(status, 200, "{first}");
    assert_eq!(first["success"], true);
    assert_eq!(first["alert"]["id"], ALERT_ID);
    assert!(first["alert"]["resolvedAt"].is_string());
    assert_eq!(first["alert"]["resolution"], "manual");
    assert!(
        first["alert"]["resolvedBy"]
            .as_str()
            .unwrap()
            .starts_with("api-key:mxk_macrea_")
    );
    let (status, again) = status_and_json(resolve_alert::handle(&app, event(RESOLVE)).await);
    assert_eq!(status, 200);
    assert_eq!(again["alert"], first["alert"]);
    let resolved: bool = test
        .owner()
        .await
        .query_one(
            "SELECT resolved_at IS NOT NULL FROM max_alerts WHERE lead_id = 'lead_1'",
            &[],
        )
        .await
        .unwrap()
        .get(0);
    assert!(resolved);
}

#[tokio::test]
async fn unknown_malformed_and_foreign_ids_are_all_not_found() {
    let (test, app) = events_app().await;
    let (status, body) = status_and_json(resolve_alert::handle(&app, event(RESOLVE)).await);
    assert_eq!(
        (status, body["error"]["code"].as_str()),
        (404, Some("not_found"))
    );
    let malformed = include_str!("../../../events/resolve-alert-malformed-id.json");
    let (status, _) = status_and_json(resolve_alert::handle(&app, event(malformed)).await);
    assert_eq!(status, 404);
    // Another tenant's alert with that very id: 404 as well, and left unresolved.
    test.insert_events_alert("another-tenant").await;
    let (status, _) = status_and_json(resolve_alert::handle(&app, event(RESOLVE)).await);
    assert_eq!(status, 404);
    let open: bool = test
        .owner()
        .await
        .query_one("SELECT resolved_at IS NULL FROM max_alerts", &[])
        .await
        .unwrap()
        .get(0);
    assert!(open);
}

#[tokio::test]
async fn a_dashboard_user_resolves_with_a_token_and_is_recorded() {
    let (test, app) = events_app().await;
    test.insert_events_alert("macrea").await;
    let token = shared::testing::user_token("macrea", "alice");
    let request = shared::testing::event_with(RESOLVE, |event| {
        event["headers"]["authorization"] = serde_json::json!(format!("Bearer {token}"));
    });
    let (status, body) = status_and_json(resolve_alert::handle(&app, request).await);
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["alert"]["resolvedBy"], "user:alice");
}

#[tokio::test]
async fn a_user_signed_in_by_the_max_login_resolves_and_is_recorded_by_its_user_id() {
    let (test, app) = events_app().await;
    test.insert_events_alert("macrea").await;
    let as_user = |token: String| {
        shared::testing::event_with(RESOLVE, |event| {
            event["headers"]["authorization"] = serde_json::json!(format!("Bearer {token}"));
        })
    };
    // Another tenant's login finds no such alert; a role the platform does not have may not.
    let other = shared::testing::max_login_token("other", "42", "admin");
    let (status, _) = status_and_json(resolve_alert::handle(&app, as_user(other)).await);
    assert_eq!(status, 404);
    let guest = shared::testing::max_login_token("macrea", "43", "guest");
    let (status, _) = status_and_json(resolve_alert::handle(&app, as_user(guest)).await);
    assert_eq!(status, 403);
    let token = shared::testing::max_login_token("macrea", "42", "user");
    let (status, body) = status_and_json(resolve_alert::handle(&app, as_user(token)).await);
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["alert"]["resolvedBy"], "user:42");
}

#[tokio::test]
async fn a_user_of_an_identity_provider_resolves_beside_the_max_login_and_is_recorded() {
    use shared::config::{ClaimSettings, IssuerSettings};
    use shared::testing::issuer::{FakeIssuer, TestKey};
    let test = TestDb::new().await;
    test.insert_events_alert("macrea").await;
    // A Cognito user pool during a migration from the M.A.X. login: both are accepted, each read
    // with its own claims.
    let key = TestKey::rsa("pool-key");
    let pool = FakeIssuer::start(&[&key]);
    let settings = IssuerSettings {
        issuer: pool.issuer(),
        audiences: vec!["dashboard-client".into()],
        jwks_url: None,
        claims: ClaimSettings {
            tenant: Some("custom:tenant".into()),
            user: Some("email".into()),
            role: Some("cognito:groups".into()),
            role_scopes: Some("sales=alerts:read alerts:resolve".into()),
        },
    };
    let verifier = shared::testing::jwt_verifier()
        .with_issuer(&settings, Default::default())
        .await
        .unwrap();
    let app = App::new(test.db(), Some(verifier));
    let as_user = |token: String| {
        shared::testing::event_with(RESOLVE, |event| {
            event["headers"]["authorization"] = serde_json::json!(format!("Bearer {token}"));
        })
    };
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs();
    let claims = serde_json::json!({
        "sub": "0f9c", "email": "sophie@macrea.fr", "custom:tenant": "macrea",
        "cognito:groups": ["sales"], "token_use": "id", "iss": pool.issuer(),
        "aud": "dashboard-client", "iat": now, "exp": now + 600,
    });
    // The classic forgery (HS256 keyed with the published key) is a 401 with a JSON error.
    let (status, body) =
        status_and_json(resolve_alert::handle(&app, as_user(key.forge_hs256(&claims))).await);
    assert_eq!(status, 401, "{body}");
    assert_eq!(body["error"]["message"], "Invalid or expired token.");
    let (status, body) =
        status_and_json(resolve_alert::handle(&app, as_user(key.sign(&claims))).await);
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["alert"]["resolvedBy"], "user:sophie@macrea.fr");
    let login = shared::testing::max_login_token("macrea", "42", "user");
    let (status, _) = status_and_json(resolve_alert::handle(&app, as_user(login)).await);
    assert_eq!(status, 200);
}

#[tokio::test]
async fn an_unknown_key_is_a_401_even_for_an_id_that_cannot_exist() {
    let (test, app) = events_app().await;
    test.insert_events_alert("macrea").await;
    for file in [
        RESOLVE,
        include_str!("../../../events/resolve-alert-malformed-id.json"),
    ] {
        let (status, body) =
            status_and_json(resolve_alert::handle(&app, event_as(file, UNKNOWN_KEY)).await);
        assert_eq!(
            (status, body["error"]["code"].as_str()),
            (401, Some("unauthorized")),
            "{body}"
        );
    }
    let (status, _) = status_and_json(
        resolve_alert::handle(
            &app,
            event(include_str!(
                "../../../events/resolve-alert-malformed-id.json"
            )),
        )
        .await,
    );
    assert_eq!(status, 404);
}
