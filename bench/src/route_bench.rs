//! The routes under load: for each, the request the load generator sends over HTTP, the pgbench
//! script that replays the statements the route sends to the database, and the one that does its
//! bare work, with the variables both scripts read.

use std::fmt::Write as _;
use std::sync::Arc;

use shared::tenancy::ApiKey;

use crate::generate::Scale;
use crate::greenapi::{self, Mix, Numbers, Templates};
use crate::load::{self, Call};
use crate::{generate, pgbench};

/// One route to load over HTTP and replay with pgbench.
pub(crate) struct RouteBench {
    pub(crate) route: String,
    pub(crate) script_name: &'static str,
    pub(crate) make: load::MakeCall,
    pub(crate) script: String,
    /// The route's bare statements (see `pgbench`), with the same variables as `script`.
    pub(crate) bare: String,
    /// The variables both pgbench scripts read.
    pub(crate) variables: Vec<(&'static str, String)>,
}

impl RouteBench {
    /// The variables of a route called with an API key: the tenant, the key's hash and the scope
    /// the route checks.
    fn key_variables(
        tenant: &'static str,
        key: &str,
        scope: &'static str,
    ) -> Vec<(&'static str, String)> {
        vec![
            ("tenant", tenant.to_owned()),
            ("keyhash", hex(ApiKey::parse(key).unwrap().hash())),
            ("scope", scope.to_owned()),
        ]
    }

    fn bearer(key: &str) -> (&'static str, String) {
        ("authorization", format!("Bearer {key}"))
    }

    /// `GET /api/alerts/active`, first page.
    pub(crate) fn active(route: String, tenant: &'static str, key: &str) -> Self {
        let header = Self::bearer(key);
        Self {
            route,
            script_name: "active_alerts",
            make: Arc::new(move |_, _| Call {
                method: "GET",
                path: "/api/alerts/active".into(),
                body: None,
                headers: vec![header.clone()],
            }),
            script: pgbench::active_alerts_script(),
            bare: pgbench::bare_active_alerts_script(),
            variables: Self::key_variables(tenant, key, "alerts:read"),
        }
    }

    /// `POST /api/activities/log` of a new lead each time, with or without an Idempotency-Key
    /// (new too: a replayed key would measure the replay).
    pub(crate) fn log(tenant: &'static str, key: &str, idempotent: bool) -> Self {
        let header = Self::bearer(key);
        let run = run();
        Self {
            route: if idempotent {
                "POST /api/activities/log (Idempotency-Key)".into()
            } else {
                "POST /api/activities/log".into()
            },
            script_name: if idempotent {
                "log_activity_idempotent"
            } else {
                "log_activity"
            },
            make: Arc::new(move |worker, n| {
                let mut headers = vec![header.clone()];
                if idempotent {
                    headers.push(("idempotency-key", format!("bench-{run}-{worker}-{n}")));
                }
                Call {
                    method: "POST",
                    path: "/api/activities/log".into(),
                    body: Some(format!(
                        r#"{{"leadId":"bench-{run}-{worker}-{n}","channel":"sms","direction":"out","status":"sent","messageSnippet":"Message"}}"#
                    )),
                    headers,
                }
            }),
            script: pgbench::log_activity_script(idempotent),
            bare: pgbench::bare_log_activity_script(idempotent),
            variables: Self::key_variables(tenant, key, "activities:write"),
        }
    }

    /// `POST /api/alerts/{id}/resolve` over the tenant's numbered alerts (again and again: a
    /// second resolution is harmless and costs the same statement).
    pub(crate) fn resolve(tenant: &'static str, key: &str, alerts: usize) -> Self {
        let header = Self::bearer(key);
        Self {
            route: "POST /api/alerts/{id}/resolve".into(),
            script_name: "resolve_alert",
            make: Arc::new(move |worker, n| Call {
                method: "POST",
                path: format!(
                    "/api/alerts/{}/resolve",
                    generate::resolve_id((worker * 7919 + n) % alerts)
                ),
                body: None,
                headers: vec![header.clone()],
            }),
            script: pgbench::resolve_script(alerts),
            bare: pgbench::bare_resolve_script(alerts),
            variables: Self::key_variables(tenant, key, "alerts:resolve"),
        }
    }

    /// `POST /webhooks/greenapi`, notifications of `mix` to the mapped `numbers` of `scale`: each
    /// message new (a new `idMessage`) and to the next number of its worker, its steps at
    /// increasing times (a second apart, the last a second ago). The bare work is the log's: the
    /// one-row insert of an activity (in `tenant`), a transaction of its own.
    pub(crate) fn whatsapp(
        mix: Mix,
        numbers: &Numbers,
        scale: Scale,
        tenant: &'static str,
    ) -> Self {
        let templates = Templates::load();
        let snippet = templates.snippet.clone();
        let (phones, secret) = (numbers.phones, numbers.secret.clone());
        let run = run();
        let steps = mix.steps();
        let variables = vec![
            ("tenant", tenant.to_owned()),
            ("phones", phones.to_string()),
            ("leads", scale.leads.to_string()),
            ("tenants", scale.tenants.to_string()),
            ("secret", secret.clone()),
            ("snippet", snippet),
        ];
        Self {
            route: mix.route().to_owned(),
            script_name: match mix {
                Mix::Conversation => "whatsapp_conversation",
                Mix::Messages => "whatsapp_messages",
                Mix::Statuses => "whatsapp_statuses",
            },
            make: Arc::new(move |worker, n| {
                let (k, m) = (n % steps.len(), n / steps.len());
                let p = (worker * greenapi::STRIDE + m) % phones;
                let id = if mix.names_stored_message(k) {
                    format!("{}{p}", greenapi::STORED_MESSAGE)
                } else {
                    format!("bench-{run}-{worker}-{m}")
                };
                let now = std::time::SystemTime::now()
                    .duration_since(std::time::UNIX_EPOCH)
                    .unwrap_or_default()
                    .as_secs() as i64;
                let timestamp = now - (steps.len() - k) as i64;
                Call {
                    method: "POST",
                    path: "/webhooks/greenapi".into(),
                    body: Some(templates.notification(steps[k], &id, p, &scale, timestamp)),
                    headers: vec![Templates::bearer(p, &scale, &secret)],
                }
            }),
            script: pgbench::whatsapp_script(mix),
            bare: pgbench::bare_log_activity_script(false),
            variables,
        }
    }
}

/// Worker numbers are new in each run of this process; this tells processes apart.
fn run() -> u128 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap_or_default()
        .as_millis()
}

/// `bytes` in lowercase hexadecimal.
fn hex(bytes: &[u8]) -> String {
    bytes.iter().fold(String::new(), |mut out, b| {
        let _ = write!(out, "{b:02x}");
        out
    })
}
