//! The EspoCRM sync of one tenant: the leads modified since the last run, page by page, written
//! into the lead directory a page per statement; every so often a full pass that also finds the
//! leads the CRM deleted. A CRM that is down, slow, rate-limiting or refusing the key never
//! touches logging or alerts: the run retries with backoff, then stops, keeps what it wrote and
//! its place, records what happened (`max_crm_syncs`), and the next run waits longer.

use std::collections::HashSet;
use std::time::Duration;

use serde::Serialize;
use time::OffsetDateTime;
use tokio_postgres::types::Type;

use super::espocrm::{CrmError, CrmLead, EspoCrm, MAX_PAGE_SIZE, PageQuery};
use crate::config::Secret;
use crate::db::{Access, Db, DbError, Stmt};
use crate::leads::directory::{self, DirectoryLead, Source};
use crate::leads::{CrmUrl, Email, LeadId, LeadName, Phone};
use crate::parse::{MAX_ID_CHARS, Parse};
use crate::tenancy::{TenantId, TenantScope};

/// Where a tenant's EspoCRM is, and its API key: a secret, never logged nor shown.
#[derive(Clone)]
pub struct Connection {
    pub url: String,
    pub api_key: Secret<String>,
    /// The country calling code of numbers the CRM keeps without one (`33` for `06 12 …`).
    pub country_code: Option<String>,
}

impl std::fmt::Debug for Connection {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Connection { .. }")
    }
}

/// How a run goes.
#[derive(Debug, Clone)]
pub struct Settings {
    /// Leads per request (EspoCRM allows 200 at most).
    pub page_size: u32,
    /// The longest one request to the CRM may take.
    pub request_timeout: Duration,
    /// Tries of one request that fails in a way worth retrying (429, 5xx, timeouts).
    pub attempts: u32,
    /// The first wait between tries; it doubles each time. A `Retry-After` is honoured up to
    /// `max_wait`.
    pub first_wait: Duration,
    pub max_wait: Duration,
    /// A full pass (every lead, and deleted ones found) when the last is older than this.
    pub full_every: Duration,
    /// After failed runs, the next waits `first_pause` doubled per failure, up to `max_pause`.
    pub first_pause: Duration,
    pub max_pause: Duration,
}

impl Default for Settings {
    fn default() -> Self {
        Self {
            page_size: MAX_PAGE_SIZE,
            request_timeout: Duration::from_secs(10),
            attempts: 4,
            first_wait: Duration::from_millis(500),
            max_wait: Duration::from_secs(30),
            full_every: Duration::from_secs(24 * 3600),
            first_pause: Duration::from_secs(5 * 60),
            max_pause: Duration::from_secs(6 * 3600),
        }
    }
}

/// What a run did, for one tenant: what the operator command prints and the function returns.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Report {
    pub tenant: String,
    /// `ok`, `skipped` (waiting after failures, until `retryAfter`), `not_configured` (no
    /// connection secret), or what stopped the run: `unauthorized`, `rate_limited`,
    /// `server_error`, `timeout`, `unreachable`, `unexpected`, `invalid_url`.
    pub outcome: &'static str,
    /// Whether the run read every lead (and looked for deleted ones) or only the modified.
    pub full: bool,
    pub leads_read: u32,
    pub leads_written: u32,
    pub leads_removed: u32,
    /// Numbers the CRM holds that are no phone number (or national ones, without a country code).
    pub phones_skipped: u32,
    /// Requests tried again after a 429, a 5xx or a timeout.
    pub retries: u32,
    #[serde(with = "time::serde::rfc3339::option")]
    pub retry_after: Option<OffsetDateTime>,
}

impl Report {
    /// The report of a tenant without a connection secret: nothing was asked.
    pub fn not_configured(tenant: &TenantId) -> Self {
        Self {
            outcome: "not_configured",
            ..Self::new(tenant)
        }
    }

    fn new(tenant: &TenantId) -> Self {
        Self {
            tenant: tenant.as_str().to_owned(),
            outcome: "ok",
            full: false,
            leads_read: 0,
            leads_written: 0,
            leads_removed: 0,
            phones_skipped: 0,
            retries: 0,
            retry_after: None,
        }
    }
}

/// What the sync remembers of a tenant.
struct State {
    cursor_at: Option<OffsetDateTime>,
    full_at: Option<OffsetDateTime>,
    failures: i32,
    retry_after: Option<OffsetDateTime>,
}

/// Runs the sync of one tenant. `force_full` asks for a full pass whatever the last one;
/// `ignore_pause` runs even while failures make the tenant wait (an operator's command). Only a
/// database failure is an error; what the CRM does is in the report.
pub async fn sync_tenant(
    db: &Db,
    tenant: &TenantId,
    connection: &Connection,
    settings: &Settings,
    force_full: bool,
    ignore_pause: bool,
) -> Result<Report, DbError> {
    let scope = TenantScope::Verified(tenant);
    let state = read_state(db, &scope).await?;
    let mut report = Report::new(tenant);
    let now = OffsetDateTime::now_utc();
    if !ignore_pause && state.retry_after.is_some_and(|at| at > now) {
        report.outcome = "skipped";
        report.retry_after = state.retry_after;
        return Ok(report);
    }
    report.full = force_full
        || state.cursor_at.is_none()
        || state.full_at.is_none_or(|at| {
            now - at >= time::Duration::try_from(settings.full_every).unwrap_or(time::Duration::DAY)
        });
    let outcome = match EspoCrm::new(
        &connection.url,
        connection.api_key.expose(),
        settings.request_timeout,
    ) {
        Ok(client) => {
            run(
                db,
                &scope,
                &client,
                connection,
                settings,
                &state,
                &mut report,
            )
            .await?
        }
        Err(error) => Err(error),
    };
    let failures = match &outcome {
        Ok(()) => 0,
        Err(error) => {
            report.outcome = error.code();
            state.failures + 1
        }
    };
    if failures > 0 {
        let doubled = settings
            .first_pause
            .saturating_mul(1 << (failures - 1).clamp(0, 16))
            .min(settings.max_pause);
        report.retry_after = Some(OffsetDateTime::now_utc() + doubled);
    }
    record(db, &scope, &report, failures).await?;
    match &outcome {
        Ok(()) => tracing::info!(
            tenant = %tenant, full = report.full, read = report.leads_read,
            written = report.leads_written, removed = report.leads_removed,
            phones_skipped = report.phones_skipped, retries = report.retries, "crm sync"
        ),
        Err(error) => tracing::warn!(
            tenant = %tenant, outcome = report.outcome, %error, read = report.leads_read,
            written = report.leads_written, failures, "crm sync stopped"
        ),
    }
    Ok(report)
}

/// Reads the CRM page by page and writes each page; then, after a full pass, marks the leads the
/// CRM no longer lists. The outer error is the database's, the inner what stopped the run.
async fn run(
    db: &Db,
    scope: &TenantScope<'_>,
    client: &EspoCrm,
    connection: &Connection,
    settings: &Settings,
    state: &State,
    report: &mut Report,
) -> Result<Result<(), CrmError>, DbError> {
    let page_size = settings.page_size.clamp(1, MAX_PAGE_SIZE);
    // Pages are asked by `modifiedAt` from the newest one seen, not by a growing offset alone:
    // a lead edited meanwhile moves to the end, where it is read again, instead of shifting the
    // pages and being skipped. The offset only steps over leads of that same second.
    let mut since = if report.full { None } else { state.cursor_at };
    let mut offset = 0;
    let mut seen: HashSet<String> = HashSet::new();
    loop {
        let query = PageQuery {
            modified_since: since,
            offset,
            max_size: page_size,
        };
        let page = match fetch(client, query, settings, report).await {
            Ok(page) => page,
            Err(error) => return Ok(Err(error)),
        };
        let count = page.leads.len() as u32;
        report.leads_read += count;
        let Some(last) = page.leads.last().map(|lead| lead.modified_at) else {
            break;
        };
        let fresh: Vec<&CrmLead> = page
            .leads
            .iter()
            .filter(|lead| seen.insert(lead.id.clone()))
            .collect();
        let leads: Vec<DirectoryLead> = fresh
            .iter()
            .filter_map(|lead| directory_lead(lead, connection, report))
            .collect();
        if !leads.is_empty() {
            let outcomes = directory::upsert(db, scope, Source::Espocrm, &leads).await?;
            report.leads_written += outcomes
                .iter()
                .filter(|outcome| {
                    matches!(
                        outcome,
                        directory::Outcome::Created | directory::Outcome::Updated
                    )
                })
                .count() as u32;
        }
        save_cursor(db, scope, last).await?;
        if count < page_size {
            break;
        }
        if since == Some(last) {
            offset += count;
        } else {
            offset = page
                .leads
                .iter()
                .filter(|lead| lead.modified_at == last)
                .count() as u32;
            since = Some(last);
        }
    }
    if report.full {
        let listed = directory::ids_from(db, scope, Source::Espocrm).await?;
        let gone: Vec<String> = listed.into_iter().filter(|id| !seen.contains(id)).collect();
        for chunk in gone.chunks(1000) {
            report.leads_removed += directory::remove(db, scope, chunk).await? as u32;
        }
    }
    Ok(Ok(()))
}

/// One request, tried again with backoff when the failure may pass.
async fn fetch(
    client: &EspoCrm,
    query: PageQuery,
    settings: &Settings,
    report: &mut Report,
) -> Result<super::espocrm::LeadsPage, CrmError> {
    let mut wait = settings.first_wait;
    let mut attempt = 1;
    loop {
        let request = client.clone();
        let result = tokio::task::spawn_blocking(move || request.leads_page(&query))
            .await
            .unwrap_or_else(|_| Err(CrmError::Unexpected("the request stopped".to_owned())));
        match result {
            Err(error) if error.is_retryable() && attempt < settings.attempts => {
                let pause = match &error {
                    CrmError::RateLimited {
                        retry_after: Some(asked),
                    } => (*asked).max(wait),
                    _ => wait,
                }
                .min(settings.max_wait);
                tracing::info!(
                    code = error.code(),
                    attempt,
                    wait_ms = pause.as_millis() as u64,
                    "crm request retried"
                );
                tokio::time::sleep(pause).await;
                wait = wait.saturating_mul(2);
                attempt += 1;
                report.retries += 1;
            }
            other => return other,
        }
    }
}

/// A CRM lead as the directory keeps it; `None` for an id the directory cannot hold. A name too
/// long is cut, an e-mail that is none is left out, and numbers that are none are skipped.
fn directory_lead(
    lead: &CrmLead,
    connection: &Connection,
    report: &mut Report,
) -> Option<DirectoryLead> {
    let id = LeadId::parse(&lead.id).ok()?;
    let name = lead.name.as_deref().and_then(|name| {
        let cut: String = name
            .chars()
            .filter(|c| *c != '\0')
            .take(MAX_ID_CHARS)
            .collect();
        <Option<LeadName>>::parse(&cut).ok().flatten()
    });
    let mut phones: Vec<Phone> = Vec::with_capacity(lead.phones.len());
    for raw in &lead.phones {
        match Phone::parse_with_country(raw, connection.country_code.as_deref()) {
            Ok(phone) if !phones.contains(&phone) => phones.push(phone),
            Ok(_) => {}
            Err(_) => report.phones_skipped += 1,
        }
    }
    Some(DirectoryLead {
        url: CrmUrl::espocrm_lead(&connection.url, &id).ok(),
        id,
        name,
        phones,
        email: lead
            .email
            .as_deref()
            .and_then(|email| Email::parse(email).ok()),
        modified_at: Some(lead.modified_at),
    })
}

const READ_STATE: &str = "SELECT cursor_at, full_at, failures, retry_after \
                          FROM max_crm_syncs WHERE tenant_id = $1";

async fn read_state(db: &Db, scope: &TenantScope<'_>) -> Result<State, DbError> {
    let tenant = scope.tenant().as_str();
    let rows = db
        .run(
            scope,
            Access::ReadOnlySnapshot,
            &[Stmt {
                sql: READ_STATE,
                params: &[(&tenant, Type::TEXT)],
            }],
        )
        .await?;
    let rows = rows.into_iter().next().unwrap_or_default();
    Ok(match rows.first() {
        None => State {
            cursor_at: None,
            full_at: None,
            failures: 0,
            retry_after: None,
        },
        Some(row) => State {
            cursor_at: row.try_get(0)?,
            full_at: row.try_get(1)?,
            failures: row.try_get(2)?,
            retry_after: row.try_get(3)?,
        },
    })
}

/// Keeps the place reached: a run that stops later starts again from here.
async fn save_cursor(
    db: &Db,
    scope: &TenantScope<'_>,
    cursor_at: OffsetDateTime,
) -> Result<(), DbError> {
    let tenant = scope.tenant().as_str();
    db.run(
        scope,
        Access::ReadWrite,
        &[Stmt {
            sql: "INSERT INTO max_crm_syncs AS s (tenant_id, cursor_at) VALUES ($1, $2) \
                  ON CONFLICT (tenant_id) DO UPDATE \
                  SET cursor_at = greatest(s.cursor_at, excluded.cursor_at)",
            params: &[(&tenant, Type::TEXT), (&cursor_at, Type::TIMESTAMPTZ)],
        }],
    )
    .await?;
    Ok(())
}

async fn record(
    db: &Db,
    scope: &TenantScope<'_>,
    report: &Report,
    failures: i32,
) -> Result<(), DbError> {
    let tenant = scope.tenant().as_str();
    let ok = report.outcome == "ok";
    let full_done = ok && report.full;
    let counts = [
        report.leads_read as i32,
        report.leads_written as i32,
        report.leads_removed as i32,
        report.phones_skipped as i32,
    ];
    db.run(
        scope,
        Access::ReadWrite,
        &[Stmt {
            sql: "INSERT INTO max_crm_syncs AS s (tenant_id, last_run_at, last_outcome, \
                      last_ok_at, full_at, failures, retry_after, leads_read, leads_written, \
                      leads_removed, phones_skipped) \
                  VALUES ($1, now(), $2, CASE WHEN $3 THEN now() END, \
                          CASE WHEN $4 THEN now() END, $5, $6, $7, $8, $9, $10) \
                  ON CONFLICT (tenant_id) DO UPDATE SET \
                      last_run_at = now(), last_outcome = excluded.last_outcome, \
                      last_ok_at = coalesce(excluded.last_ok_at, s.last_ok_at), \
                      full_at = coalesce(excluded.full_at, s.full_at), \
                      failures = excluded.failures, retry_after = excluded.retry_after, \
                      leads_read = excluded.leads_read, leads_written = excluded.leads_written, \
                      leads_removed = excluded.leads_removed, \
                      phones_skipped = excluded.phones_skipped",
            params: &[
                (&tenant, Type::TEXT),
                (&report.outcome, Type::TEXT),
                (&ok, Type::BOOL),
                (&full_done, Type::BOOL),
                (&failures, Type::INT4),
                (&report.retry_after, Type::TIMESTAMPTZ),
                (&counts[0], Type::INT4),
                (&counts[1], Type::INT4),
                (&counts[2], Type::INT4),
                (&counts[3], Type::INT4),
            ],
        }],
    )
    .await?;
    Ok(())
}
