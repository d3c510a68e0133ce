//! The built binary, run as Lambda runs it: polled by an emulated Runtime API, fed `events/`, with
//! its secrets read from Secrets Manager (moto's emulator on loopback) at cold start.

use shared::tenancy::UserClaims;
use shared::testing::TestDb;
use shared::testing::gateway_response;
use shared::testing::lambda::{FunctionProcess, Moto, RuntimeApi};

const ACTIVE: &str = include_str!("../../../events/active-alerts.json");

#[tokio::test]
async fn the_binary_answers_the_sample_events_as_lambda_runs_it() {
    let test = TestDb::new().await;
    test.register_events_key().await;
    let api = RuntimeApi::start().await;
    let _function = FunctionProcess::start(
        env!("CARGO_BIN_EXE_active-alerts"),
        &api,
        &[("DATABASE_URL", &test.url)],
    );
    for (event, status) in [
        (ACTIVE, 200),
        (include_str!("../../../events/active-alerts-high.json"), 200),
        (include_str!("../../../events/health.json"), 200),
        (
            include_str!("../../../events/active-alerts-invalid-limit.json"),
            400,
        ),
        (
            include_str!("../../../events/active-alerts-other-tenant.json"),
            403,
        ),
    ] {
        let (got, body) = gateway_response(&api.invoke(event).await.response());
        assert_eq!(got, status, "{body}");
    }
}

#[tokio::test]
async fn at_cold_start_the_binary_reads_its_secrets_from_secrets_manager_and_logs_none() {
    let moto = Moto::start();
    let test = TestDb::new().await;
    let dbname = test.url.rsplit('/').next().unwrap().to_owned();
    // An RDS-style secret: the login's fields (this server trusts loopback, the password is unused).
    let password = "s3cret-p@ss";
    let database_secret = serde_json::json!({
        "username": "postgres", "password": password, "host": "127.0.0.1", "port": 5432, "dbname": dbname,
    })
    .to_string();
    let jwt_secret = "jwt-secret-from-secrets-manager-0123456789";
    let create = |name: &str, value: &str| {
        moto.aws(&[
            "secretsmanager",
            "create-secret",
            "--name",
            name,
            "--secret-string",
            value,
            "--query",
            "ARN",
            "--output",
            "text",
        ])
    };
    let database_arn = create("max/database", &database_secret);
    let jwt_arn = create("max/jwt", jwt_secret);

    let api = RuntimeApi::start().await;
    let mut env: Vec<(&str, String)> = moto.env();
    env.push(("DATABASE_SECRET_ARN", database_arn));
    env.push(("JWT_SECRET_ARN", jwt_arn));
    let env: Vec<(&str, &str)> = env.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let function = FunctionProcess::start(env!("CARGO_BIN_EXE_active-alerts"), &api, &env);

    // A user's token signed with the secret from Secrets Manager: both secrets were read.
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs();
    let token = UserClaims {
        sub: "alice".into(),
        tenant: "macrea".into(),
        exp: now + 600,
        iat: Some(now),
        scope: None,
        aud: None,
        iss: None,
    }
    .sign(jwt_secret.as_bytes())
    .unwrap();
    let mut event: serde_json::Value = serde_json::from_str(ACTIVE).unwrap();
    event["headers"]["authorization"] = serde_json::json!(format!("Bearer {token}"));
    let (status, body) = gateway_response(&api.invoke(&event.to_string()).await.response());
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["stats"]["total"], 0);

    let logs = function.stop();
    for secret in [password, jwt_secret, &token] {
        assert!(!logs.contains(secret), "a secret reached the logs: {logs}");
    }
}

#[tokio::test]
async fn at_cold_start_the_binary_fetches_its_issuers_keys_and_verifies_their_users_tokens() {
    use shared::testing::issuer::{FakeIssuer, TestKey};
    let test = TestDb::new().await;
    let key = TestKey::rsa("pool-key");
    let pool = FakeIssuer::start(&[&key]);
    let issuers = serde_json::json!([{
        "issuer": pool.issuer(), "audience": "dashboard-client",
        "tenantClaim": "custom:tenant", "roleClaim": "cognito:groups",
        "roleScopes": "sales=alerts:read alerts:resolve",
    }])
    .to_string();
    let api = RuntimeApi::start().await;
    // No HS256 secret: the issuer alone signs users in.
    let function = FunctionProcess::start(
        env!("CARGO_BIN_EXE_active-alerts"),
        &api,
        &[("DATABASE_URL", &test.url), ("JWT_ISSUERS", &issuers)],
    );
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs();
    let claims = serde_json::json!({
        "sub": "0f9c", "custom:tenant": "macrea", "cognito:groups": ["sales"],
        "iss": pool.issuer(), "aud": "dashboard-client", "iat": now, "exp": now + 600,
    });
    let as_user = |token: &str| {
        let mut event: serde_json::Value = serde_json::from_str(ACTIVE).unwrap();
        event["headers"]["authorization"] = serde_json::json!(format!("Bearer {token}"));
        event.to_string()
    };
    let token = key.sign(&claims);
    let (status, body) = gateway_response(&api.invoke(&as_user(&token)).await.response());
    assert_eq!(status, 200, "{body}");
    let forged = key.forge_hs256(&claims);
    let (status, _) = gateway_response(&api.invoke(&as_user(&forged)).await.response());
    assert_eq!(status, 401);
    // Fetched once, at cold start (discovery, then the key set).
    assert_eq!((pool.discovery_fetches(), pool.jwks_fetches()), (1, 1));
    let logs = function.stop();
    assert!(logs.contains("issuer keys fetched"), "{logs}");
    assert!(!logs.contains(&token) && !logs.contains(&forged), "{logs}");
}
