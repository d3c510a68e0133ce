//! The routes under load: for each, the request the load generator sends over HTTP, the pgbench
//! script that replays the statements the route sends to the database, and the one that does its
//! bare work.

use std::fmt::Write as _;
use std::sync::Arc;

use shared::tenancy::ApiKey;

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
    tenant: &'static str,
    key: String,
    scope: &'static str,
}

impl RouteBench {
    /// The variables its pgbench script reads: the tenant, the API key's hash and the scope the
    /// route checks.
    pub(crate) fn variables(&self) -> [(&'static str, String); 3] {
        [
            ("tenant", self.tenant.to_owned()),
            ("keyhash", hex(ApiKey::parse(&self.key).unwrap().hash())),
            ("scope", self.scope.to_owned()),
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
            tenant,
            key: key.to_owned(),
            scope: "alerts:read",
        }
    }

    /// `POST /api/activities/log` of a new lead each time, with or without an Idempotency-Key
    /// (new too: a replayed key would measure the replay).
    pub(crate) fn log(tenant: &'static str, key: &str, idempotent: bool) -> Self {
        let header = Self::bearer(key);
        // Worker numbers are new in each run of this process; this tells processes apart.
        let run = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap_or_default()
            .as_millis();
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
            tenant,
            key: key.to_owned(),
            scope: "activities:write",
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
            tenant,
            key: key.to_owned(),
            scope: "alerts:resolve",
        }
    }
}

/// `bytes` in lowercase hexadecimal.
fn hex(bytes: &[u8]) -> String {
    bytes.iter().fold(String::new(), |mut out, b| {
        let _ = write!(out, "{b:02x}");
        out
    })
}
