//! Test support: a fresh database per test, built from the migrations and dropped afterwards;
//! sample events; running a function's binary as Lambda does (`lambda`).

pub mod espocrm;
pub mod issuer;
pub mod lambda;
pub mod loopback;
pub mod proxy;

use std::time::{SystemTime, UNIX_EPOCH};

use tokio_postgres::Client;

use crate::activities::{Channel, Direction, NewActivity, Status};
use crate::admin;
use crate::config::PoolSettings;
use crate::db::Db;
use crate::http::App;
use crate::leads::LeadId;
use crate::parse::Parse;
use crate::tenancy::{
    ApiKey, EVENTS_FIXTURE_INSTANCE, EVENTS_FIXTURE_KEY, EVENTS_FIXTURE_WEBHOOK_TOKEN, JwtVerifier,
    Scope, TenantId, UserClaims, WebhookToken,
};
use crate::whatsapp::InstanceId;

/// The seed checklist's manual test alert (phase 4.2), word for word.
pub const SEED_INSERT: &str = r#"INSERT INTO max_alerts (tenant_id, lead_id, type, severity, message, suggested_action) VALUES ('macrea','test_prod_alert','NoContact7d','high','Test alerte production','{"label": "Test Action", "action": "test"}'::jsonb);"#;

/// The server where test databases are created: `TEST_DATABASE_URL`, or the local default.
pub fn server_url() -> String {
    std::env::var("TEST_DATABASE_URL")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/postgres".to_owned())
}

/// A database of its own for one test, dropped (with its connections) when this is dropped.
pub struct TestDb {
    name: String,
    pub url: String,
}

impl TestDb {
    /// Creates `test_<unique>` and migrates it.
    pub async fn new() -> Self {
        let mut random = [0u8; 6];
        getrandom::fill(&mut random).expect("randomness");
        let nanos = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| d.subsec_nanos())
            .unwrap_or(0);
        let name = format!(
            "test_{}_{:08x}_{}",
            std::process::id(),
            nanos,
            random
                .iter()
                .map(|b| format!("{b:02x}"))
                .collect::<String>()
        );
        let server = server_url();
        let admin_client = admin::connect(&server)
            .await
            .unwrap_or_else(|error| panic!("cannot reach the test PostgreSQL server: {error}"));
        admin_client
            .batch_execute(&format!("CREATE DATABASE {name}"))
            .await
            .expect("create test database");
        let url = admin::with_database(&server, &name).expect("test server URL");
        admin::migrate(&url).await.expect("migrate test database");
        Self { name, url }
    }

    /// Where the test server listens.
    pub async fn address(&self) -> std::net::SocketAddr {
        let url = url::Url::parse(&self.url).expect("test database URL");
        let host = url.host_str().unwrap_or("127.0.0.1").to_owned();
        let port = url.port().unwrap_or(5432);
        tokio::net::lookup_host((host, port))
            .await
            .expect("the test server's address")
            .next()
            .expect("an address")
    }

    /// This database's URL through a proxy on loopback at `port`.
    pub fn url_via(&self, port: u16) -> String {
        let mut url = url::Url::parse(&self.url).expect("test database URL");
        url.set_host(Some("127.0.0.1")).expect("host");
        url.set_port(Some(port)).expect("port");
        url.into()
    }

    /// A pool on this database, as a function builds it.
    pub fn db(&self) -> Db {
        self.db_with(|_| {})
    }

    /// A pool on this database, with settings changed by `configure`.
    pub fn db_with(&self, configure: impl FnOnce(&mut PoolSettings)) -> Db {
        let mut settings = PoolSettings {
            size: Some(4),
            ..PoolSettings::default()
        };
        configure(&mut settings);
        let config = admin::parse_url(&self.url).expect("test database URL");
        Db::connect_lazily(config, &settings, "max-test").expect("pool")
    }

    /// A connection as the tables' owner (a superuser here), for setting up and checking.
    pub async fn owner(&self) -> Client {
        admin::connect(&self.url).await.expect("owner connection")
    }

    /// Creates a key for a tenant with the given scopes, and returns it.
    pub async fn key(&self, tenant: &str, scopes: &[Scope]) -> String {
        let tenant = TenantId::parse(tenant).expect("tenant id");
        let mut client = self.owner().await;
        admin::create_key(&mut client, &tenant, scopes, Some("test"))
            .await
            .expect("create key")
            .0
    }

    /// Moves every stored time back by `interval` (a PostgreSQL interval such as `'3 days'`): to
    /// the evaluator, exactly as if that much time had passed (triggers do not see the move).
    pub async fn travel(&self, interval: &str) {
        let shift = |columns: &[&str]| {
            columns
                .iter()
                .map(|c| format!("{c} = {c} - $1::text::interval"))
                .collect::<Vec<_>>()
                .join(", ")
        };
        let owner = self.owner().await;
        // Moving times is not a change of any alert: no trigger (history, counters) sees it.
        owner
            .batch_execute("SET session_replication_role = replica")
            .await
            .expect("triggers off");
        for (table, columns) in [
            ("lead_activities", &["occurred_at", "created_at"][..]),
            (
                "max_lead_states",
                &[
                    "first_seen_at",
                    "last_in_at",
                    "last_contact_at",
                    "last_touch_at",
                    "last_outcome_at",
                    "next_check_at",
                ][..],
            ),
            (
                "max_alerts",
                &[
                    "created_at",
                    "resolved_at",
                    "escalated_at",
                    "acknowledged_at",
                    "snoozed_until",
                ][..],
            ),
            ("max_alert_events", &["at", "until"][..]),
        ] {
            owner
                .execute(
                    &format!("UPDATE {table} SET {}", shift(columns)),
                    &[&interval],
                )
                .await
                .expect("time travel");
        }
    }

    /// Registers the webhook token the Green-API sample events carry (tenant `macrea`, instance
    /// [`crate::tenancy::EVENTS_FIXTURE_INSTANCE`]).
    pub async fn register_events_webhook_token(&self) {
        let token =
            WebhookToken::parse(EVENTS_FIXTURE_WEBHOOK_TOKEN).expect("events webhook token");
        let mut client = self.owner().await;
        admin::ensure_tenant(&mut client, token.tenant(), "Macrea")
            .await
            .expect("tenant");
        admin::register_webhook_token(
            &mut client,
            &token,
            InstanceId(EVENTS_FIXTURE_INSTANCE),
            admin::Existing::Revoke,
        )
        .await
        .expect("register events webhook token");
    }

    /// Maps a phone number to a lead of a tenant; returns how many unmatched messages joined it.
    pub async fn map_phone(&self, tenant: &str, phone: &str, lead: &str) -> i32 {
        let mut client = self.owner().await;
        let tenant = TenantId::parse(tenant).expect("tenant id");
        admin::ensure_tenant(&mut client, &tenant, tenant.as_str())
            .await
            .expect("tenant");
        admin::map_phone(
            &mut client,
            &tenant,
            &crate::leads::Phone::parse(phone).expect("phone"),
            &LeadId::parse(lead).expect("lead id"),
            None,
        )
        .await
        .expect("map phone")
    }

    /// Registers the key the sample events carry, with every scope.
    pub async fn register_events_key(&self) {
        let key = ApiKey::parse(EVENTS_FIXTURE_KEY).expect("events key");
        let mut client = self.owner().await;
        admin::ensure_tenant(&mut client, key.tenant(), "Macrea")
            .await
            .expect("tenant");
        admin::register_key(&mut client, &key, &Scope::ALL, Some("events fixture"))
            .await
            .expect("register events key");
    }

    /// Writes, for `tenant`, the alert the sample events of the alert routes name
    /// ([`EVENTS_ALERT_ID`]): high, `NoContact7d`, of lead `lead_1`.
    pub async fn insert_events_alert(&self, tenant: &str) {
        self.owner()
            .await
            .execute(
                "INSERT INTO max_alerts (id, tenant_id, lead_id, type, severity, message)
                 VALUES ($1::text::uuid, $2, 'lead_1', 'NoContact7d', 'high', 'Aucun contact depuis 9 jours')",
                &[&EVENTS_ALERT_ID, &tenant],
            )
            .await
            .expect("the events' alert");
    }
}

/// The alert id in `events/resolve-alert.json`, `acknowledge-alert.json` and `alert-history.json`.
pub const EVENTS_ALERT_ID: &str = "3f1e2d4c-5b6a-4978-8a9b-0c1d2e3f4a5b";

/// A database holding the sample events' key, and an [`App`] on it that also verifies test users'
/// tokens ([`jwt_verifier`]), for handler tests.
pub async fn events_app() -> (TestDb, App) {
    let test = TestDb::new().await;
    test.register_events_key().await;
    let app = App::new(test.db(), Some(jwt_verifier()));
    (test, app)
}

impl Drop for TestDb {
    fn drop(&mut self) {
        let name = self.name.clone();
        // Drop may run inside a runtime (async tests): use a thread with a runtime of its own.
        let dropped = std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .ok()?;
            runtime.block_on(async {
                let client = admin::connect(&server_url()).await.ok()?;
                client
                    .batch_execute(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
                    .await
                    .ok()
            })
        })
        .join();
        if !matches!(dropped, Ok(Some(()))) {
            eprintln!("warning: test database {} was not dropped", self.name);
        }
    }
}

/// A request built from a sample event, as `cargo lambda invoke --data-file` would send it.
pub fn event(json: &str) -> lambda_http::Request {
    lambda_http::request::from_str(json).expect("a valid API Gateway HTTP API event")
}

/// A sample event with some of its fields replaced (`headers`, `body`, ...).
pub fn event_with(json: &str, edit: impl FnOnce(&mut serde_json::Value)) -> lambda_http::Request {
    let mut value: serde_json::Value = serde_json::from_str(json).expect("event JSON");
    edit(&mut value);
    event(&value.to_string())
}

/// A sample event with this query string instead of its own (values as given, unencoded).
pub fn event_with_query(json: &str, pairs: &[(&str, &str)]) -> lambda_http::Request {
    event_with(json, |event| {
        let map: serde_json::Map<String, serde_json::Value> = pairs
            .iter()
            .map(|(k, v)| (k.to_string(), (*v).into()))
            .collect();
        event["queryStringParameters"] = map.into();
        event["rawQueryString"] = pairs
            .iter()
            .map(|(k, v)| format!("{k}={v}"))
            .collect::<Vec<_>>()
            .join("&")
            .into();
    })
}

/// A well-formed API key of the events' tenant that no database knows.
pub const UNKNOWN_KEY: &str = "mxk_macrea_UnknownKeyUnknownKeyUnknownKey12";

/// A sample event sent with another `Authorization: Bearer` credential.
pub fn event_as(json: &str, credential: &str) -> lambda_http::Request {
    event_with(json, |event| {
        event["headers"]["authorization"] = serde_json::json!(format!("Bearer {credential}"));
    })
}

/// The status and JSON body of a handler's response.
pub fn status_and_json(
    response: lambda_http::Response<lambda_http::Body>,
) -> (u16, serde_json::Value) {
    let status = response.status().as_u16();
    let body = serde_json::from_slice(response.body().as_ref()).expect("a JSON body");
    (status, body)
}

/// An app whose database cannot be reached (nothing listens on port 9 here).
pub fn unreachable_app() -> App {
    let settings = PoolSettings {
        connect_timeout: std::time::Duration::from_millis(500),
        ..PoolSettings::default()
    };
    let config = admin::parse_url("postgres://max@127.0.0.1:9/none").expect("URL");
    App::new(
        Db::connect_lazily(config, &settings, "max-test").expect("pool"),
        Some(jwt_verifier()),
    )
}

/// The secret of the test token verifier.
pub const TEST_JWT_SECRET: &[u8] = b"test-secret-for-dashboard-tokens-only";

/// The token verifier of test apps (no audience or issuer).
pub fn jwt_verifier() -> JwtVerifier {
    JwtVerifier::hs256(TEST_JWT_SECRET, None, None).expect("test secret")
}

/// A token shaped exactly as the M.A.X. platform's login signs it (HS256; `userId`, `email`,
/// `role`, `tenantId`, `iat`, `exp`; no `sub`), with the test secret, valid for an hour.
pub fn max_login_token(tenant_id: &str, user_id: &str, role: &str) -> String {
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .expect("clock")
        .as_secs();
    let claims = serde_json::json!({
        "userId": user_id, "email": format!("{user_id}@example.com"), "role": role,
        "tenantId": tenant_id, "iat": now, "exp": now + 3600,
    });
    jsonwebtoken::encode(
        &jsonwebtoken::Header::new(jsonwebtoken::Algorithm::HS256),
        &claims,
        &jsonwebtoken::EncodingKey::from_secret(TEST_JWT_SECRET),
    )
    .expect("a signed token")
}

/// A token for a dashboard user of a tenant, valid for an hour, with the default scopes.
pub fn user_token(tenant: &str, user: &str) -> String {
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .expect("clock")
        .as_secs();
    UserClaims {
        sub: user.to_owned(),
        tenant: tenant.to_owned(),
        exp: now + 3600,
        iat: Some(now),
        scope: None,
        aud: None,
        iss: None,
    }
    .sign(TEST_JWT_SECRET)
    .expect("sign")
}

/// The status and JSON body of an API Gateway response as a Lambda function returns it.
pub fn gateway_response(response: &serde_json::Value) -> (u64, serde_json::Value) {
    use base64::Engine;
    let status = response["statusCode"].as_u64().expect("statusCode");
    let text = response["body"].as_str().unwrap_or("");
    let bytes = if response["isBase64Encoded"] == true {
        base64::engine::general_purpose::STANDARD
            .decode(text)
            .expect("base64 body")
    } else {
        text.as_bytes().to_vec()
    };
    (status, serde_json::from_slice(&bytes).expect("a JSON body"))
}

/// An activity of `lead`, happening now, from its channel, direction and status as the API reads
/// them (`("whatsapp", "out", "sent")`).
pub fn activity(lead: &str, (channel, direction, status): (&str, &str, &str)) -> NewActivity {
    NewActivity::new(
        LeadId::parse(lead).expect("lead id"),
        Channel::parse(channel).expect("channel"),
        Direction::parse(direction).expect("direction"),
        Status::parse(status).expect("status"),
    )
}
