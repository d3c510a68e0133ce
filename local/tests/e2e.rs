//! End to end: `max-local serve` on a free port, over HTTP, against a fresh database. Follows the
//! seed's checklist (phases 1.4, 2.4, 4.1 to 4.3), every error status, tenancy, the operator
//! commands, CORS, and checks the OpenAPI document against what is served.

mod support;

use std::cell::RefCell;
use std::collections::{BTreeSet, HashMap};
use std::process::{Child, Command, Output, Stdio};
use std::time::Duration;

use serde_json::{Value, json};
use shared::http::routes::{self, RouteMatch};
use shared::testing::{SEED_INSERT, TestDb};

use support::BIN;
const JWT_SECRET: &str = "e2e-tests-secret-0123456789abcdefghij";
const SEED_ACTIVITY: &str = r#"{
    "leadId": "test_deploy",
    "channel": "whatsapp",
    "direction": "out",
    "status": "sent",
    "messageSnippet": "Test déploiement"
  }"#;

struct Reply {
    status: u16,
    json: Value,
    headers: HashMap<String, String>,
}

/// A running `max-local serve` on its own database; stopped and dropped with this value.
struct Server {
    child: Child,
    base: String,
    /// The signed-in dashboard URL `serve` printed.
    dashboard: String,
    /// The demo key `serve` printed.
    key: String,
    agent: ureq::Agent,
    /// Every (route, status) answered, for the OpenAPI check.
    seen: RefCell<BTreeSet<(String, u16)>>,
    runtime: tokio::runtime::Runtime,
    test: TestDb,
}

impl Server {
    fn start() -> Self {
        Self::start_with(&[])
    }

    fn start_with(extra_args: &[&str]) -> Self {
        Self::start_configured(extra_args, &|_| Vec::new())
    }

    /// With more environment for `serve`, which may depend on its database.
    fn start_configured(
        extra_args: &[&str],
        env: &dyn Fn(&TestDb) -> Vec<(&'static str, String)>,
    ) -> Self {
        let (runtime, test) = support::database();
        let launched = support::launch(|command| {
            command
                .args(extra_args)
                .envs(env(&test))
                .env("DATABASE_URL", &test.url)
                .env("RUST_LOG", "warn")
                .env("JWT_SECRET", JWT_SECRET);
        });
        let agent = ureq::Agent::config_builder()
            .http_status_as_error(false)
            .timeout_global(Some(Duration::from_secs(30)))
            .build()
            .into();
        Self {
            child: launched.child,
            dashboard: launched
                .dashboard
                .expect("max-local serve printed its dashboard"),
            base: launched.base,
            key: launched.key.expect("max-local serve printed a key"),
            agent,
            seen: RefCell::default(),
            runtime,
            test,
        }
    }

    fn request(
        &self,
        method: &str,
        path: &str,
        key: Option<&str>,
        headers: &[(&str, &str)],
        body: Option<(&str, Vec<u8>)>,
    ) -> Reply {
        let mut builder = ureq::http::Request::builder()
            .method(method)
            .uri(format!("{}{path}", self.base));
        if let Some(key) = key {
            builder = builder.header("authorization", format!("Bearer {key}"));
        }
        for (name, value) in headers {
            builder = builder.header(*name, *value);
        }
        let bytes = match body {
            Some((content_type, bytes)) => {
                builder = builder.header("content-type", content_type);
                bytes
            }
            None => Vec::new(),
        };
        let mut response = self
            .agent
            .run(builder.body(bytes).unwrap())
            .expect("an HTTP answer");
        let status = response.status().as_u16();
        let headers = response
            .headers()
            .iter()
            .map(|(name, value)| (name.to_string(), value.to_str().unwrap_or("").to_owned()))
            .collect();
        let text = response.body_mut().read_to_string().unwrap_or_default();
        let json = if text.is_empty() {
            Value::Null
        } else {
            serde_json::from_str(&text).unwrap_or_else(|_| panic!("not JSON: {text}"))
        };
        let route = match routes::find(method, path.split('?').next().unwrap()) {
            RouteMatch::Found(route, _) => route.key(),
            _ => format!("{method} (no route)"),
        };
        self.seen.borrow_mut().insert((route, status));
        Reply {
            status,
            json,
            headers,
        }
    }

    fn get(&self, path: &str, key: Option<&str>) -> Reply {
        self.request("GET", path, key, &[], None)
    }

    /// `POST /api/alerts/{id}/resolve` with this credential.
    fn resolve(&self, id: &str, key: Option<&str>) -> Reply {
        self.request("POST", &format!("/api/alerts/{id}/resolve"), key, &[], None)
    }

    fn post_json(&self, path: &str, key: Option<&str>, body: &str) -> Reply {
        self.request(
            "POST",
            path,
            key,
            &[],
            Some(("application/json", body.as_bytes().to_vec())),
        )
    }

    fn sql(&self, query: &str) -> Vec<tokio_postgres::Row> {
        support::sql(&self.runtime, &self.test, query)
    }

    fn cli(&self, args: &[&str]) -> Output {
        self.cli_with(args, &[])
    }

    fn cli_with(&self, args: &[&str], env: &[(&str, &str)]) -> Output {
        Command::new(BIN)
            .args(args)
            .env("DATABASE_URL", &self.test.url)
            .env("RUST_LOG", "warn")
            .env("JWT_SECRET", JWT_SECRET)
            .envs(env.iter().copied())
            .output()
            .expect("max-local runs")
    }

    /// Creates a key with the CLI and returns the key it printed on its last line.
    fn create_key(&self, tenant: &str, scopes: &str) -> String {
        let output = self.cli(&["create-key", "--tenant", tenant, "--scopes", scopes]);
        assert!(
            output.status.success(),
            "{}",
            String::from_utf8_lossy(&output.stderr)
        );
        let stdout = String::from_utf8(output.stdout).unwrap();
        let key = stdout.lines().last().unwrap().to_owned();
        assert!(key.starts_with(&format!("mxk_{tenant}_")), "{stdout}");
        key
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Whether `check` holds within 10 seconds (polled every 100 ms).
fn eventually(mut check: impl FnMut() -> bool) -> bool {
    (0..100).any(|_| {
        check() || {
            std::thread::sleep(Duration::from_millis(100));
            false
        }
    })
}

fn error_code(reply: &Reply) -> &str {
    assert_eq!(reply.json["success"], false, "{}", reply.json);
    reply.json["error"]["code"].as_str().unwrap_or("")
}

#[test]
fn the_seed_checklist_passes_end_to_end() {
    let server = Server::start();
    let key = Some(server.key.as_str());

    // 1.4: log an activity, with the seed's X-Tenant header.
    let logged = server.request(
        "POST",
        "/api/activities/log",
        key,
        &[("x-tenant", "macrea")],
        Some(("application/json", SEED_ACTIVITY.as_bytes().to_vec())),
    );
    assert_eq!(logged.status, 200, "{}", logged.json);
    assert_eq!(logged.json["success"], true);
    assert_eq!(logged.json["activity"]["leadId"], "test_deploy");

    // 2.4: the endpoints answer 200, alerts are the seed's empty shape.
    let active = server.request(
        "GET",
        "/api/alerts/active",
        key,
        &[("x-tenant", "macrea")],
        None,
    );
    assert_eq!(active.status, 200);
    assert_eq!(active.json["success"], true);
    assert_eq!(active.json["alerts"], json!([]));
    assert_eq!(active.json["stats"]["total"], 0);
    assert_eq!(server.get("/health", None).status, 200);

    // 4.1: the activity is in the database, as the seed's query shows it.
    let rows = server.sql(
        "SELECT lead_id, message_snippet FROM lead_activities WHERE tenant_id = 'macrea' ORDER BY created_at DESC LIMIT 10;",
    );
    assert_eq!(rows.len(), 1);
    assert_eq!(rows[0].get::<_, String>(0), "test_deploy");
    assert_eq!(rows[0].get::<_, String>(1), "Test déploiement");

    // 4.2: the seed's manual alert shows, with "Haute: 1".
    server.sql(SEED_INSERT);
    let active = server.get("/api/alerts/active", key);
    assert_eq!(active.json["stats"]["high"], 1);
    let alert = &active.json["alerts"][0];
    assert_eq!(alert["leadId"], "test_prod_alert");
    assert_eq!(
        alert["suggestedAction"],
        json!({"label": "Test Action", "action": "test"})
    );
    let id = alert["id"].as_str().unwrap().to_owned();

    // 4.3: resolving sets resolved_at; the alert is gone from the list.
    let resolved = server.resolve(&id, key);
    assert_eq!(resolved.status, 200, "{}", resolved.json);
    assert!(resolved.json["alert"]["resolvedAt"].is_string());
    let rows = server
        .sql("SELECT resolved_at IS NOT NULL FROM max_alerts WHERE lead_id = 'test_prod_alert';");
    assert!(rows[0].get::<_, bool>(0));
    let again = server.resolve(&id, key);
    assert_eq!(again.status, 200);
    assert_eq!(
        again.json["alert"]["resolvedAt"],
        resolved.json["alert"]["resolvedAt"]
    );
    let active = server.get("/api/alerts/active", key);
    assert_eq!(active.json["alerts"], json!([]));
    assert_eq!(active.json["stats"]["high"], 0);
}

#[test]
fn another_tenants_alerts_are_invisible_and_not_found() {
    let server = Server::start();
    server.sql(SEED_INSERT);
    let macrea_alert = server.get("/api/alerts/active", Some(&server.key)).json["alerts"][0]["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let other = server.create_key("other", "alerts:read,alerts:resolve");

    let theirs = server.get("/api/alerts/active", Some(&other));
    assert_eq!(theirs.status, 200);
    assert_eq!(theirs.json["stats"]["total"], 0);
    assert_eq!(theirs.json["alerts"], json!([]));

    let path = format!("/api/alerts/{macrea_alert}/resolve");
    let reply = server.request("POST", &path, Some(&other), &[], None);
    assert_eq!((reply.status, error_code(&reply)), (404, "not_found"));
    // Asking for macrea's data by header is forbidden, not a way in.
    let reply = server.request("POST", &path, Some(&other), &[("x-tenant", "macrea")], None);
    assert_eq!(reply.status, 403);
    let rows = server.sql("SELECT resolved_at IS NULL FROM max_alerts");
    assert!(rows[0].get::<_, bool>(0), "the alert must stay open");
}

#[test]
fn bad_input_gets_a_clear_error_and_writes_nothing() {
    let server = Server::start();
    let key = Some(server.key.as_str());
    let log = "/api/activities/log";
    let cases: Vec<(Reply, u16, &str)> = vec![
        (server.post_json(log, key, "{\"leadId\": "), 400, "invalid_json"),
        (server.post_json(log, key, "\"just a string\""), 400, "invalid_json"),
        (server.post_json(log, key, r#"{"channel":"email","direction":"out","status":"sent"}"#), 400, "invalid_field"),
        (server.post_json(log, key, r#"{"leadId":"","channel":"email","direction":"out","status":"sent"}"#), 400, "invalid_field"),
        (server.post_json(log, key, &json!({"leadId": "x".repeat(201), "channel": "email", "direction": "out", "status": "sent"}).to_string()), 400, "invalid_field"),
        (server.post_json(log, key, r#"{"leadId":"a","channel":"fax","direction":"out","status":"sent"}"#), 400, "invalid_field"),
        (server.post_json(log, key, r#"{"leadId":"a","channel":"email","direction":"up","status":"sent"}"#), 400, "invalid_field"),
        (server.post_json(log, key, r#"{"leadId":"a","channel":"email","direction":"out","status":"lost"}"#), 400, "invalid_field"),
        (server.post_json(log, key, r#"{"leadId":42,"channel":"email","direction":"out","status":"sent"}"#), 400, "invalid_field"),
        (server.post_json(log, key, &json!({"leadId": "a", "messageSnippet": "x".repeat(70 * 1024)}).to_string()), 413, "payload_too_large"),
        (server.request("POST", log, key, &[], Some(("text/plain", SEED_ACTIVITY.as_bytes().to_vec()))), 415, "unsupported_media_type"),
        (server.get("/api/alerts/active?severity=med", key), 400, "invalid_query"),
        (server.get("/api/alerts/active?limit=0", key), 400, "invalid_query"),
        (server.get("/api/alerts/active?limit=abc", key), 400, "invalid_query"),
        (server.get("/api/alerts/active?cursor=bogus", key), 400, "invalid_query"),
        (server.request("POST", "/api/alerts/123/resolve", key, &[], None), 404, "not_found"),
        (server.request("POST", "/api/alerts/00000000-0000-4000-8000-000000000000/resolve", key, &[], None), 404, "not_found"),
        (server.request("POST", "/api/alerts/00000000-0000-4000-8000-000000000000/resolve", key, &[], Some(("text/plain", b"x".to_vec()))), 415, "unsupported_media_type"),
        (server.request("POST", "/api/alerts/00000000-0000-4000-8000-000000000000/resolve", key, &[], Some(("application/json", b"{oops".to_vec()))), 400, "invalid_json"),
        (server.get("/api/nothing", key), 404, "not_found"),
        (server.get(log, key), 405, "method_not_allowed"),
        (server.get("/api/alerts/active", None), 401, "unauthorized"),
        (server.get("/api/alerts/active", Some("nope")), 401, "unauthorized"),
        (server.get("/api/alerts/active", Some(&format!("mxk_macrea_{}", "x".repeat(32)))), 401, "unauthorized"),
        (server.request("GET", "/api/alerts/active", key, &[("x-tenant", "someone-else")], None), 403, "forbidden"),
    ];
    for (index, (reply, status, code)) in cases.iter().enumerate() {
        assert_eq!(
            (reply.status, error_code(reply)),
            (*status, *code),
            "case {index}: {}",
            reply.json
        );
        let message = reply.json["error"]["message"].as_str().unwrap();
        assert!(
            !message.is_empty() && !message.contains("SELECT") && !message.contains("postgres"),
            "{message}"
        );
    }
    let rows = server.sql("SELECT count(*) FROM lead_activities");
    assert_eq!(
        rows[0].get::<_, i64>(0),
        0,
        "a rejected request wrote something"
    );
}

#[test]
fn keys_are_created_scoped_listed_and_revoked_by_the_operator_commands() {
    let server = Server::start();
    let reader = server.create_key("acme", "alerts:read");
    assert_eq!(server.get("/api/alerts/active", Some(&reader)).status, 200);
    let reply = server.post_json("/api/activities/log", Some(&reader), SEED_ACTIVITY);
    assert_eq!((reply.status, error_code(&reply)), (403, "forbidden"));

    let listed = server.cli(&["list-keys", "--tenant", "acme"]);
    let listing = String::from_utf8(listed.stdout).unwrap();
    let prefix = &reader[..reader.len() - 27];
    assert!(
        listing.contains(prefix) && listing.contains("active"),
        "{listing}"
    );
    assert!(
        !listing.contains(&reader),
        "list-keys must never show a key"
    );

    let revoked = server.cli(&["revoke-key", prefix]);
    assert!(
        revoked.status.success(),
        "{}",
        String::from_utf8_lossy(&revoked.stderr)
    );
    let reply = server.get("/api/alerts/active", Some(&reader));
    assert_eq!((reply.status, error_code(&reply)), (401, "unauthorized"));
    assert!(
        !server.cli(&["revoke-key", prefix]).status.success(),
        "nothing left to revoke"
    );
    let bad = server.cli(&["create-key", "--tenant", "Not Valid"]);
    assert!(!bad.status.success());
    assert!(String::from_utf8_lossy(&bad.stderr).contains("invalid tenant"));
}

#[test]
fn an_operator_syncs_leads_from_espocrm_and_alerts_and_whatsapp_then_know_them() {
    use shared::testing::espocrm::{FakeEspoCrm, FakeLead};
    const ESPO_KEY: &str = "espo-e2e-key-0123456789abcdef";
    const LEAD: &str = "6571b2c3d4e5f6a7b";
    let server = Server::start();
    let crm = FakeEspoCrm::start(ESPO_KEY);
    crm.put_lead(
        FakeLead::new(
            LEAD,
            "Sophie Martin",
            shared::time::OffsetDateTime::now_utc(),
        )
        .with_phone("06 12 34 56 78")
        .with_email("sophie.martin@exemple.fr"),
    );
    let url = crm.url();
    let env = [
        ("ESPO_URL", url.as_str()),
        ("ESPO_API_KEY", ESPO_KEY),
        ("ESPO_COUNTRY_CODE", "33"),
    ];
    let synced = server.cli_with(&["crm", "sync", "--tenant", "macrea"], &env);
    let stdout = String::from_utf8_lossy(&synced.stdout);
    assert!(
        synced.status.success(),
        "{stdout}{}",
        String::from_utf8_lossy(&synced.stderr)
    );
    assert!(
        stdout.contains("Full sync of tenant macrea: ok; 1 leads read, 1 written"),
        "{stdout}"
    );
    assert!(!stdout.contains(ESPO_KEY));

    // The alert names the lead and links to it in the CRM.
    server.sql(&format!(
        "INSERT INTO max_alerts (tenant_id, lead_id, type, severity, message) \
         VALUES ('macrea', '{LEAD}', 'NoContact7d', 'high', 'Aucun contact depuis 8 jours')"
    ));
    let listed = server.get("/api/alerts/active", Some(&server.key));
    assert_eq!(listed.status, 200);
    let alert = &listed.json["alerts"][0];
    assert_eq!(alert["leadName"], "Sophie Martin", "{}", listed.json);
    assert_eq!(alert["leadUrl"], format!("{url}/#Lead/view/{LEAD}"));

    // The WhatsApp webhook finds the lead by its number (06 12 34 56 78 is +33612345678).
    let token = server.cli(&[
        "whatsapp",
        "create-token",
        "--tenant",
        "macrea",
        "--events-fixture",
    ]);
    assert!(token.status.success());
    let token = String::from_utf8(token.stdout)
        .unwrap()
        .lines()
        .last()
        .unwrap()
        .to_owned();
    let notification =
        serde_json::from_str::<Value>(include_str!("../../events/greenapi-incoming-text.json"))
            .unwrap()["body"]
            .as_str()
            .unwrap()
            .to_owned();
    let reply = server.post_json("/webhooks/greenapi", Some(&token), &notification);
    assert_eq!(reply.json["stored"], "activity", "{}", reply.json);
    let rows = server.sql("SELECT lead_id::text FROM lead_activities WHERE channel = 'whatsapp'");
    assert_eq!(rows[0].get::<_, String>(0), LEAD);

    let shown = server.cli(&["lead", "--tenant", "macrea", LEAD]);
    let shown = String::from_utf8(shown.stdout).unwrap();
    // After the line that names the database.
    let entry: Value = serde_json::from_str(&shown[shown.find('{').unwrap()..]).unwrap();
    assert_eq!(entry["phones"], json!(["+33612345678"]));
    assert_eq!(entry["source"], "espocrm");

    // A refused key: the command fails, says why, and shows no secret; the directory stays.
    let refused = server.cli_with(
        &["crm", "sync", "--tenant", "macrea"],
        &[("ESPO_URL", url.as_str()), ("ESPO_API_KEY", "wrong-key")],
    );
    assert!(!refused.status.success());
    let said = format!(
        "{}{}",
        String::from_utf8_lossy(&refused.stdout),
        String::from_utf8_lossy(&refused.stderr)
    );
    assert!(
        said.contains("unauthorized") && !said.contains("wrong-key"),
        "{said}"
    );
    let status = server.cli(&["crm", "status", "--tenant", "macrea"]);
    let status = String::from_utf8_lossy(&status.stdout);
    assert!(status.contains("Leads from the CRM: 1"), "{status}");
    assert!(status.contains("Failed runs in a row: 1"), "{status}");
}

#[test]
fn an_operator_connects_a_green_api_instance_and_maps_a_number_with_the_commands() {
    let server = Server::start();
    let cli_ok = |args: &[&str]| {
        let output = server.cli(args);
        assert!(
            output.status.success(),
            "{args:?}: {}",
            String::from_utf8_lossy(&output.stderr)
        );
        String::from_utf8(output.stdout).unwrap()
    };
    let created = cli_ok(&[
        "whatsapp",
        "create-token",
        "--tenant",
        "macrea",
        "--instance",
        "1101000001",
    ]);
    let token = created.lines().last().unwrap().to_owned();
    assert!(token.starts_with("mxw_macrea_"), "{created}");
    // One live token per instance: a second create is refused, a rotation replaces it.
    let again = server.cli(&[
        "whatsapp",
        "create-token",
        "--tenant",
        "macrea",
        "--instance",
        "1101000001",
    ]);
    assert!(!again.status.success());
    assert!(String::from_utf8_lossy(&again.stderr).contains("already has a live webhook token"));

    let notification =
        serde_json::from_str::<Value>(include_str!("../../events/greenapi-incoming-text.json"))
            .unwrap()["body"]
            .as_str()
            .unwrap()
            .to_owned();
    let webhook = "/webhooks/greenapi";
    let reply = server.post_json(webhook, Some(&token), &notification);
    assert_eq!(reply.status, 200, "{}", reply.json);
    assert_eq!(reply.json["stored"], "unmatched");
    let waiting = cli_ok(&["whatsapp", "unmatched", "--tenant", "macrea"]);
    assert!(
        waiting.contains("+33612345678") && waiting.contains("Sophie Martin"),
        "{waiting}"
    );

    let mapped = cli_ok(&[
        "whatsapp",
        "map-phone",
        "--tenant",
        "macrea",
        "--phone",
        "+33 6 12 34 56 78",
        "--lead",
        "lead_sophie",
        "--name",
        "Sophie",
    ]);
    assert!(mapped.contains("1 unmatched message joined"), "{mapped}");
    // The message that waited is now the lead's activity, under the mapping's name.
    let activities = server.sql(
        "SELECT lead_id::text, lead_name::text FROM lead_activities WHERE external_id = 'BAE5F4886F6F2D05'",
    );
    assert_eq!(activities.len(), 1);
    assert_eq!(activities[0].get::<_, String>(0), "lead_sophie");
    assert_eq!(activities[0].get::<_, String>(1), "Sophie");
    let bad = server.cli(&[
        "whatsapp",
        "map-phone",
        "--tenant",
        "macrea",
        "--phone",
        "06 12 34 56 78",
        "--lead",
        "x",
    ]);
    assert!(String::from_utf8_lossy(&bad.stderr).contains("country code"));

    let listed = cli_ok(&["whatsapp", "list-tokens", "--tenant", "macrea"]);
    assert!(
        listed.contains("instance 1101000001") && listed.contains("active"),
        "{listed}"
    );
    assert!(
        !listed.contains(&token),
        "list-tokens must never show a token"
    );

    let rotated = cli_ok(&[
        "whatsapp",
        "rotate-token",
        "--tenant",
        "macrea",
        "--instance",
        "1101000001",
    ]);
    let new_token = rotated.lines().last().unwrap().to_owned();
    assert_ne!(new_token, token);
    let reply = server.post_json(webhook, Some(&token), &notification);
    assert_eq!((reply.status, error_code(&reply)), (401, "unauthorized"));
    let reply = server.post_json(webhook, Some(&new_token), &notification);
    assert_eq!((reply.status, &reply.json["replayed"]), (200, &json!(true)));

    cli_ok(&["whatsapp", "revoke-token", "--tenant", "macrea"]);
    let reply = server.post_json(webhook, Some(&new_token), &notification);
    assert_eq!(reply.status, 401);
    assert!(
        !server
            .cli(&["whatsapp", "revoke-token", "--tenant", "macrea"])
            .status
            .success()
    );
}

#[test]
fn a_browser_dashboard_may_call_the_api() {
    let server = Server::start();
    let preflight = server.request(
        "OPTIONS",
        "/api/alerts/active",
        None,
        &[
            ("origin", "http://localhost:5173"),
            ("access-control-request-method", "GET"),
        ],
        None,
    );
    assert_eq!(preflight.status, 204);
    assert_eq!(preflight.headers["access-control-allow-origin"], "*");
    assert!(preflight.headers["access-control-allow-headers"].contains("authorization"));
    let reply = server.get("/api/alerts/active", Some(&server.key));
    assert_eq!(reply.headers["access-control-allow-origin"], "*");
}

#[test]
fn the_openapi_document_matches_the_served_routes_and_statuses() {
    let document: Value = serde_json::from_str(include_str!("../../docs/openapi.json")).unwrap();
    let mut documented = BTreeSet::new();
    for (path, item) in document["paths"].as_object().unwrap() {
        for (method, operation) in item.as_object().unwrap() {
            if !["get", "post", "put", "patch", "delete"].contains(&method.as_str()) {
                continue;
            }
            let route = format!("{} {path}", method.to_uppercase());
            for status in operation["responses"].as_object().unwrap().keys() {
                documented.insert((route.clone(), status.parse::<u16>().unwrap()));
            }
        }
    }
    let documented_routes: BTreeSet<String> = documented.iter().map(|(r, _)| r.clone()).collect();
    let served_routes: BTreeSet<String> = routes::ROUTES.iter().map(|r| r.key()).collect();
    assert_eq!(documented_routes, served_routes);

    // Exercise every route and status that a local run can produce.
    let server = Server::start();
    let key = Some(server.key.as_str());
    let reader = server.create_key("macrea", "alerts:read");
    server.sql(SEED_INSERT);
    let id = server.get("/api/alerts/active", key).json["alerts"][0]["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let resolve = format!("/api/alerts/{id}/resolve");
    let big = json!({"leadId": "a", "messageSnippet": "x".repeat(70 * 1024)}).to_string();
    let log = "/api/activities/log";
    server.post_json(log, key, SEED_ACTIVITY);
    server.post_json(log, key, "{");
    server.post_json(log, None, SEED_ACTIVITY);
    server.post_json(log, Some(&reader), SEED_ACTIVITY);
    server.post_json(log, key, &big);
    server.request("POST", log, key, &[], Some(("text/plain", b"x".to_vec())));
    server.get("/api/alerts/active", key);
    server.get("/api/alerts/active?limit=0", key);
    server.get("/api/alerts/active", None);
    server.request("GET", "/api/alerts/active", key, &[("x-tenant", "x")], None);
    let acknowledge = format!("/api/alerts/{id}/acknowledge");
    let writer = server.create_key("macrea", "activities:write");
    server.post_json(&acknowledge, key, r#"{"comment": "J'appelle"}"#);
    server.post_json(&acknowledge, key, r#"{"comment": 3}"#);
    server.post_json(&acknowledge, None, "");
    server.post_json(&acknowledge, Some(&reader), "");
    server.post_json("/api/alerts/nope/acknowledge", key, "");
    server.post_json(&acknowledge, key, &big);
    server.request(
        "POST",
        &acknowledge,
        key,
        &[],
        Some(("text/plain", b"x".to_vec())),
    );
    let history = format!("/api/alerts/{id}");
    server.get(&history, Some(&reader));
    server.get(&history, None);
    server.get(&history, Some(&writer));
    server.get("/api/alerts/nope", key);
    server.get(&format!("{history}?lang=de"), key);
    let resolved = "/api/alerts/resolved";
    server.get(resolved, key);
    server.get("/api/alerts/resolved?limit=0", key);
    server.get(resolved, None);
    server.get(resolved, Some(&writer));
    let metrics = "/api/alerts/metrics";
    server.get(metrics, Some(&reader));
    server.get("/api/alerts/metrics?from=2026-12-02&to=2026-12-01", key);
    server.get(metrics, None);
    server.get(metrics, Some(&writer));
    let snooze = format!("/api/alerts/{id}/snooze");
    server.post_json(&snooze, key, r#"{"for": "2h"}"#);
    server.post_json(&snooze, key, r#"{"for": "forever"}"#);
    server.post_json(&snooze, None, r#"{"for": "2h"}"#);
    server.post_json(&snooze, Some(&reader), r#"{"for": "2h"}"#);
    server.post_json("/api/alerts/nope/snooze", key, r#"{"for": "2h"}"#);
    server.post_json(&snooze, key, &big);
    server.request(
        "POST",
        &snooze,
        key,
        &[],
        Some(("text/plain", b"x".to_vec())),
    );
    let json_body = |bytes: &[u8]| Some(("application/json", bytes.to_vec()));
    server.request("DELETE", &snooze, key, &[], None);
    server.request("DELETE", &snooze, key, &[], json_body(b"{"));
    server.request("DELETE", &snooze, None, &[], None);
    server.request("DELETE", &snooze, Some(&reader), &[], None);
    server.request("DELETE", "/api/alerts/nope/snooze", key, &[], None);
    server.request("DELETE", &snooze, key, &[], json_body(big.as_bytes()));
    server.request(
        "DELETE",
        &snooze,
        key,
        &[],
        Some(("text/plain", b"x".to_vec())),
    );
    server.request("POST", &resolve, Some(&reader), &[], None);
    server.request("POST", &resolve, key, &[], None);
    server.request("POST", "/api/alerts/nope/resolve", key, &[], None);
    server.request("POST", &resolve, None, &[], None);
    server.request(
        "POST",
        &resolve,
        key,
        &[],
        Some(("application/json", big.into_bytes())),
    );
    server.request(
        "POST",
        &resolve,
        key,
        &[],
        Some(("text/plain", b"x".to_vec())),
    );
    server.request(
        "POST",
        &resolve,
        key,
        &[],
        Some(("application/json", b"{".to_vec())),
    );
    server.get("/health", None);
    let webhook = "/webhooks/greenapi";
    let token = shared::tenancy::EVENTS_FIXTURE_WEBHOOK_TOKEN;
    server.sql(&format!(
        "INSERT INTO max_webhook_tokens (tenant_id, instance_id, token_hash, prefix)
         VALUES ('macrea', {}, sha256('{token}'::bytea), 'mxw_macrea_Webho')",
        shared::tenancy::EVENTS_FIXTURE_INSTANCE
    ));
    let notification =
        serde_json::from_str::<Value>(include_str!("../../events/greenapi-incoming-text.json"))
            .unwrap()["body"]
            .as_str()
            .unwrap()
            .to_owned();
    assert_eq!(
        server.post_json(webhook, Some(token), &notification).status,
        200
    );
    server.post_json(webhook, Some(token), "{");
    server.post_json(webhook, None, &notification);
    let huge = json!({"typeWebhook": "x", "pad": "x".repeat(1100 * 1024)}).to_string();
    server.post_json(webhook, Some(token), &huge);
    let leads = "/api/leads";
    let lead = json!({"leads": [{"id": "6571b2c3d4e5f6a7b", "name": "Sophie Martin"}]}).to_string();
    assert_eq!(server.post_json(leads, key, &lead).status, 200);
    server.post_json(leads, key, r#"{"leads": [{"id": "a", "phones": ["06"]}]}"#);
    server.post_json(leads, None, &lead);
    server.post_json(leads, Some(&reader), &lead);
    server.post_json(leads, key, &huge);
    server.request("POST", leads, key, &[], Some(("text/plain", b"x".to_vec())));

    let seen = server.seen.borrow();
    let served: BTreeSet<(String, u16)> = seen
        .iter()
        .filter(|(route, _)| served_routes.contains(route))
        .cloned()
        .collect();
    let undocumented: Vec<_> = served.difference(&documented).collect();
    assert!(
        undocumented.is_empty(),
        "served but not in docs/openapi.json: {undocumented:?}"
    );
    // What a healthy local run cannot produce: gateway throttling, defects, an unreachable
    // database (the handler tests cover 503).
    let unseen: Vec<_> = documented
        .difference(&served)
        .filter(|(_, status)| ![429, 500, 503].contains(status))
        .collect();
    assert!(
        unseen.is_empty(),
        "documented but never served here: {unseen:?}"
    );
}

#[test]
fn serve_raises_living_alerts_by_itself_and_an_answer_clears_them() {
    let server = Server::start_with(&["--evaluate-every", "1"]);
    let key = Some(server.key.as_str());
    let five_hours_ago = shared::time::OffsetDateTime::now_utc() - shared::time::Duration::hours(5);
    let inbound = json!({
        "leadId": "lead_sophie", "leadName": "Sophie", "channel": "whatsapp", "direction": "in",
        "status": "received", "messageSnippet": "Bonjour, des nouvelles ?",
        "occurredAt": five_hours_ago
            .format(&shared::time::format_description::well_known::Rfc3339)
            .unwrap(),
    });
    let reply = server.post_json("/api/activities/log", key, &inbound.to_string());
    assert_eq!(reply.status, 200, "{}", reply.json);

    // The evaluator runs every second: the alert appears without any other request.
    let mut alerts = json!([]);
    eventually(|| {
        alerts = server.get("/api/alerts/active", key).json["alerts"].clone();
        alerts.as_array().is_some_and(|a| !a.is_empty())
    });
    assert_eq!(alerts[0]["type"], "UnansweredInbound", "{alerts}");
    assert_eq!(
        alerts[0]["message"],
        "Sophie a écrit il y a 5 heures, sans réponse"
    );
    assert_eq!(alerts[0]["suggestedAction"]["label"], "Répondre au lead");
    assert_eq!(alerts[0]["leadName"], "Sophie");

    // Answering clears it in the same request.
    let answer = json!({"leadId": "lead_sophie", "channel": "whatsapp", "direction": "out", "status": "sent"});
    assert_eq!(
        server
            .post_json("/api/activities/log", key, &answer.to_string())
            .status,
        200
    );
    let after = server.get("/api/alerts/active", key);
    assert_eq!(after.json["alerts"], json!([]));
    let rows = server.sql("SELECT resolution FROM max_alerts WHERE lead_id = 'lead_sophie'");
    assert_eq!(rows[0].get::<_, String>(0), "auto");

    // A future occurredAt is refused.
    let future = json!({"leadId": "x", "channel": "sms", "direction": "out", "status": "sent",
                        "occurredAt": "2999-01-01T00:00:00Z"});
    let reply = server.post_json("/api/activities/log", key, &future.to_string());
    assert_eq!(
        (reply.status, reply.json["error"]["field"].as_str()),
        (400, Some("occurredAt"))
    );
}

#[test]
fn the_operator_runs_the_evaluator_and_tunes_a_tenant_s_rules() {
    let server = Server::start_with(&["--evaluate-every", "0"]);
    server.sql(
        "INSERT INTO lead_activities (tenant_id, lead_id, channel, direction, status, occurred_at)
         VALUES ('acme', 'lead-1', 'email', 'out', 'sent', now() - interval '2 days 1 hour')",
    );
    let output = server.cli(&[
        "rules",
        "--tenant",
        "acme",
        "--rule",
        "NoReply3d",
        "--threshold",
        "2d",
        "--severity",
        "low",
    ]);
    let text = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(
        text.contains("* NoReply3d") && text.contains("after 2d") && text.contains("low"),
        "{text}"
    );

    let output = server.cli(&["evaluate"]);
    let text = String::from_utf8_lossy(&output.stdout);
    assert!(text.contains("Raised:          NoReply3d 1"), "{text}");
    let rows = server
        .sql("SELECT severity FROM max_alerts WHERE tenant_id = 'acme' AND resolved_at IS NULL");
    assert_eq!(rows[0].get::<_, String>(0), "low");

    let bad = server.cli(&["rules", "--tenant", "acme", "--rule", "Nope", "--disable"]);
    assert!(!bad.status.success());
    assert!(String::from_utf8_lossy(&bad.stderr).contains("unknown rule"));
    let bad = server.cli(&[
        "rules",
        "--tenant",
        "acme",
        "--rule",
        "NoReply3d",
        "--threshold",
        "soon",
    ]);
    assert!(String::from_utf8_lossy(&bad.stderr).contains("invalid threshold"));
}

#[test]
fn dashboard_users_sign_in_with_a_token_and_are_recorded_as_who_resolved() {
    let server = Server::start_with(&["--evaluate-every", "0"]);
    // The printed dashboard URL serves the page and carries a working token.
    let (page, token) = server.dashboard.split_once("#token=").unwrap();
    assert!(
        page.starts_with(&format!("{}/dashboard", server.base)),
        "{page}"
    );
    let html = server
        .agent
        .get(page)
        .call()
        .unwrap()
        .body_mut()
        .read_to_string()
        .unwrap();
    assert!(html.contains("<max-alerts"), "{html}");
    let script = server
        .agent
        .get(&format!("{}/dashboard/max-alerts.js", server.base))
        .call()
        .unwrap();
    assert_eq!(
        script.headers()["content-type"],
        "text/javascript; charset=utf-8"
    );
    assert_eq!(server.get("/api/alerts/active", Some(token)).status, 200);

    // create-token signs with the same secret; the user is who resolves.
    let output = server.cli(&[
        "create-token",
        "--tenant",
        "macrea",
        "--user",
        "alice@macrea.fr",
        "--ttl",
        "1h",
    ]);
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let alice = String::from_utf8(output.stdout)
        .unwrap()
        .lines()
        .last()
        .unwrap()
        .to_owned();
    server.sql(SEED_INSERT);
    let id = server.get("/api/alerts/active", Some(&alice)).json["alerts"][0]["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let resolved = server.resolve(&id, Some(&alice));
    assert_eq!(resolved.status, 200, "{}", resolved.json);
    assert_eq!(resolved.json["alert"]["resolvedBy"], "user:alice@macrea.fr");

    // A user's token reads and resolves; it does not log activities, nor reach another tenant.
    let reply = server.post_json("/api/activities/log", Some(&alice), SEED_ACTIVITY);
    assert_eq!((reply.status, error_code(&reply)), (403, "forbidden"));
    let reply = server.request(
        "GET",
        "/api/alerts/active",
        Some(&alice),
        &[("x-tenant", "other")],
        None,
    );
    assert_eq!((reply.status, error_code(&reply)), (403, "forbidden"));
    let other = String::from_utf8(
        server
            .cli(&["create-token", "--tenant", "other", "--user", "bob"])
            .stdout,
    )
    .unwrap()
    .lines()
    .last()
    .unwrap()
    .to_owned();
    let reply = server.resolve(&id, Some(&other));
    assert_eq!((reply.status, error_code(&reply)), (404, "not_found"));

    // Tampered tokens are refused.
    // Another claim, same signature.
    let (_, payload, signature) = {
        let mut parts = alice.split('.');
        (
            parts.next().unwrap(),
            parts.next().unwrap(),
            parts.next().unwrap(),
        )
    };
    let mut forged_payload = payload.to_owned();
    let flipped = if payload.as_bytes()[10] == b'A' {
        'B'
    } else {
        'A'
    };
    forged_payload.replace_range(10..11, &flipped.to_string());
    let forged = format!(
        "{}.{forged_payload}.{signature}",
        alice.split('.').next().unwrap()
    );
    let reply = server.get("/api/alerts/active", Some(&forged));
    assert_eq!((reply.status, error_code(&reply)), (401, "unauthorized"));
    let bad = server.cli(&[
        "create-token",
        "--tenant",
        "macrea",
        "--user",
        "x",
        "--ttl",
        "forever",
    ]);
    assert!(!bad.status.success());
}

/// PgBouncer in transaction mode, the strict case (1.18 tracks no prepared statements): every
/// transaction may land on another server connection, as behind Supabase's pooler or RDS Proxy.
struct Bouncer {
    child: Option<Child>,
    port: u16,
    dir: std::path::PathBuf,
}

impl Bouncer {
    fn start(port: u16, dir: &std::path::Path) -> Self {
        std::fs::create_dir_all(dir).unwrap();
        std::fs::write(dir.join("users.txt"), "\"postgres\" \"\"\n").unwrap();
        std::fs::write(
            dir.join("pgbouncer.ini"),
            format!(
                "[databases]\n* = host=127.0.0.1 port=5432\n\n[pgbouncer]\nlisten_addr = 127.0.0.1\n\
                 listen_port = {port}\nunix_socket_dir =\nauth_type = trust\nauth_file = {}\n\
                 pool_mode = transaction\ndefault_pool_size = 1\nmax_client_conn = 200\n\
                 ignore_startup_parameters = extra_float_digits,options\n",
                dir.join("users.txt").display()
            ),
        )
        .unwrap();
        let root = Command::new("id")
            .arg("-u")
            .output()
            .map(|o| o.stdout == b"0\n")
            .unwrap_or(false);
        let mut command = Command::new(
            ["/usr/sbin/pgbouncer", "/usr/bin/pgbouncer"]
                .into_iter()
                .find(|path| std::path::Path::new(path).exists())
                .expect("pgbouncer is installed (apt-get install pgbouncer)"),
        );
        if root {
            // PgBouncer refuses to run as root.
            command.args(["-u", "postgres"]);
        }
        let child = command
            .arg(dir.join("pgbouncer.ini"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("pgbouncer starts");
        let deadline = std::time::Instant::now() + Duration::from_secs(20);
        while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(
                std::time::Instant::now() < deadline,
                "pgbouncer did not start"
            );
            std::thread::sleep(Duration::from_millis(50));
        }
        Self {
            child: Some(child),
            port,
            dir: dir.to_owned(),
        }
    }

    fn stop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
        let deadline = std::time::Instant::now() + Duration::from_secs(10);
        while std::net::TcpStream::connect(("127.0.0.1", self.port)).is_ok() {
            assert!(
                std::time::Instant::now() < deadline,
                "pgbouncer did not stop"
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

impl Drop for Bouncer {
    fn drop(&mut self) {
        self.stop();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

#[test]
fn users_of_an_identity_provider_sign_in_with_its_tokens_beside_the_max_login() {
    use shared::testing::issuer::{FakeIssuer, TestKey};
    // A Supabase project signing with an asymmetric key, found by OIDC discovery.
    let key = TestKey::ec("supabase-2026");
    let provider = FakeIssuer::start(&[&key]);
    let issuers = json!([{
        "issuer": provider.issuer(), "audience": "authenticated",
        "tenantClaim": "app_metadata.tenant_id", "userClaim": "email",
        "roleScopes": "authenticated=alerts:read alerts:resolve",
    }])
    .to_string();
    let server = Server::start_configured(&["--evaluate-every", "0"], &|_| {
        vec![("JWT_ISSUERS", issuers.clone())]
    });
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs();
    let claims = |tenant: &str| {
        json!({
            "sub": "5d1e", "email": "sophie@macrea.fr", "role": "authenticated",
            "app_metadata": {"provider": "email", "tenant_id": tenant},
            "iss": provider.issuer(), "aud": "authenticated", "iat": now, "exp": now + 600,
        })
    };
    let sophie = key.sign(&claims("macrea"));
    server.sql(SEED_INSERT);
    let listed = server.get("/api/alerts/active", Some(&sophie));
    assert_eq!(listed.status, 200, "{}", listed.json);
    let id = listed.json["alerts"][0]["id"].as_str().unwrap().to_owned();
    let resolved = server.resolve(&id, Some(&sophie));
    assert_eq!(resolved.status, 200, "{}", resolved.json);
    assert_eq!(
        resolved.json["alert"]["resolvedBy"],
        "user:sophie@macrea.fr"
    );
    // Another tenant's user does not see it; a forged token is a 401; the demo (HS256) token
    // still works beside the provider's.
    let other = key.sign(&claims("other"));
    let reply = server.resolve(&id, Some(&other));
    assert_eq!((reply.status, error_code(&reply)), (404, "not_found"));
    let reply = server.get(
        "/api/alerts/active",
        Some(&key.forge_hs256(&claims("macrea"))),
    );
    assert_eq!((reply.status, error_code(&reply)), (401, "unauthorized"));
    let (_, demo) = server.dashboard.split_once("#token=").unwrap();
    assert_eq!(server.get("/api/alerts/active", Some(demo)).status, 200);
}

#[test]
fn a_malformed_issuer_list_stops_serve_at_start_naming_it() {
    let (_runtime, test) = support::database();
    let output = Command::new(BIN)
        .args(["serve", "--port", "0", "--no-demo"])
        .env("DATABASE_URL", &test.url)
        .env("JWT_SECRET", JWT_SECRET)
        .env("JWT_ISSUERS", r#"[{"issuer": "https://idp.example.com"}]"#)
        .stdin(Stdio::null())
        .output()
        .unwrap();
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains("JWT_ISSUERS is not valid") && stderr.contains("audience"),
        "{stderr}"
    );
    assert!(!stderr.contains(JWT_SECRET), "{stderr}");
}

#[test]
fn through_a_transaction_mode_pooler_everything_works_and_an_outage_is_a_quick_503_that_heals() {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let dir = std::env::temp_dir().join(format!("max-pgbouncer-{}-{port}", std::process::id()));
    let mut bouncer = Bouncer::start(port, &dir);
    // The functions' connection goes through the pooler, with unnamed statements as a
    // transaction-mode pooler needs; migrations go direct.
    let server = Server::start_configured(&["--evaluate-every", "1"], &|test: &TestDb| {
        let name = test.url.rsplit('/').next().unwrap().to_owned();
        vec![
            (
                "APP_DATABASE_URL",
                format!("postgres://postgres@127.0.0.1:{port}/{name}"),
            ),
            ("DATABASE_STATEMENT_CACHE", "off".to_owned()),
        ]
    });
    let key = Some(server.key.as_str());

    // The checklist through the pooler, with many requests sharing one server connection.
    for i in 0..30 {
        let body = json!({"leadId": format!("lead-{i}"), "channel": "sms", "direction": "out", "status": "sent"});
        let reply = server.post_json("/api/activities/log", key, &body.to_string());
        assert_eq!(reply.status, 200, "{}", reply.json);
    }
    let retried =
        json!({"leadId": "lead-0", "channel": "sms", "direction": "out", "status": "sent"});
    let reply = server.request(
        "POST",
        "/api/activities/log",
        key,
        &[("idempotency-key", "same")],
        Some(("application/json", retried.to_string().into_bytes())),
    );
    let again = server.request(
        "POST",
        "/api/activities/log",
        key,
        &[("idempotency-key", "same")],
        Some(("application/json", retried.to_string().into_bytes())),
    );
    assert_eq!(again.json["activity"]["id"], reply.json["activity"]["id"]);
    server.sql(SEED_INSERT);
    let listed = server.get("/api/alerts/active", key);
    assert_eq!(listed.json["stats"]["high"], 1);
    let id = listed.json["alerts"][0]["id"].as_str().unwrap().to_owned();
    let resolved = server.resolve(&id, key);
    assert_eq!(resolved.status, 200, "{}", resolved.json);
    assert_eq!(
        server
            .get(
                "/api/alerts/active?limit=1",
                Some("mxk_macrea_00000000000000000000000000000000")
            )
            .status,
        401
    );
    // The evaluator runs through the pooler too: an unanswered message becomes an alert.
    let inbound = json!({"leadId": "waiting", "channel": "whatsapp", "direction": "in", "status": "received",
                         "occurredAt": (shared::time::OffsetDateTime::now_utc() - shared::time::Duration::hours(5))
                             .format(&shared::time::format_description::well_known::Rfc3339).unwrap()});
    assert_eq!(
        server
            .post_json("/api/activities/log", key, &inbound.to_string())
            .status,
        200
    );
    assert!(
        eventually(|| server.get("/api/alerts/active", key).json["stats"]["total"] == 1),
        "the evaluator did not raise the alert through the pooler"
    );

    // Outage: the pooler goes away. Answers are 503 with Retry-After, and quick.
    bouncer.stop();
    let started = std::time::Instant::now();
    let down = server.get("/api/alerts/active", key);
    assert_eq!(
        (down.status, error_code(&down)),
        (503, "database_unavailable")
    );
    assert_eq!(down.headers["retry-after"], "2");
    assert_eq!(server.get("/health", None).status, 503);
    assert!(
        started.elapsed() < Duration::from_secs(10),
        "took {:?}",
        started.elapsed()
    );

    // It comes back: the service heals by itself.
    let _bouncer = Bouncer::start(port, &dir);
    assert!(
        eventually(|| server.get("/api/alerts/active", key).status == 200),
        "the service did not recover after the pooler came back"
    );
    assert_eq!(server.get("/health", None).status, 200);
}
