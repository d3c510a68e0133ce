//! The tenant's lead directory (migrations/V9): who a lead is (name, numbers, e-mail, link to the
//! CRM), written by other systems through the API and by the CRM sync, read by the listing of
//! alerts and, through the numbers, by the WhatsApp webhook.

use serde::Serialize;
use strum::IntoStaticStr;
use time::OffsetDateTime;
use tokio_postgres::types::{Json, Type};

use super::{CrmUrl, Email, LeadId, LeadName, Phone};
use crate::db::{Access, Db, DbError, Stmt};
use crate::tenancy::TenantScope;

/// The most leads one write takes (an API batch, a CRM page is 200).
pub const MAX_BATCH: usize = 500;

/// A lead as its source gives it: every field but the id may be unknown. Writing it replaces what
/// the directory had (a field the source leaves out is cleared).
#[derive(Debug, Clone, PartialEq)]
pub struct DirectoryLead {
    pub id: LeadId,
    pub name: Option<LeadName>,
    pub phones: Vec<Phone>,
    pub email: Option<Email>,
    pub url: Option<CrmUrl>,
    /// When the source last changed the lead: a version older than the stored one is ignored.
    pub modified_at: Option<OffsetDateTime>,
}

/// A lead as `max_upsert_leads` reads it from its JSON array.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
struct LeadJson<'a> {
    id: &'a str,
    name: Option<&'a str>,
    phones: Vec<&'a str>,
    email: Option<&'a str>,
    url: Option<&'a str>,
    /// Microseconds since 1970: exact for any time `time` holds, as text in some zones or years
    /// would not be for PostgreSQL.
    modified_at: Option<i64>,
}

impl<'a> From<&'a DirectoryLead> for LeadJson<'a> {
    fn from(lead: &'a DirectoryLead) -> Self {
        Self {
            id: lead.id.as_str(),
            name: lead.name.as_ref().map(LeadName::as_str),
            phones: lead.phones.iter().map(Phone::as_str).collect(),
            email: lead.email.as_ref().map(Email::as_str),
            url: lead.url.as_ref().map(CrmUrl::as_str),
            modified_at: lead
                .modified_at
                .map(|at| (at.unix_timestamp_nanos() / 1000) as i64),
        }
    }
}

/// Where a lead came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, IntoStaticStr)]
#[strum(serialize_all = "lowercase")]
pub enum Source {
    /// `PUT /api/leads/{id}`, `POST /api/leads`.
    Api,
    /// The EspoCRM sync.
    Espocrm,
}

/// What writing one lead did.
#[derive(Debug, Clone, Copy, PartialEq, Eq, IntoStaticStr, Serialize)]
#[strum(serialize_all = "lowercase")]
#[serde(rename_all = "lowercase")]
pub enum Outcome {
    Created,
    Updated,
    /// The directory holds this very version: nothing was written.
    Unchanged,
    /// The directory holds a newer version (a later `modifiedAt`): nothing was written.
    Stale,
}

/// Writes a batch of distinct leads (at most [`MAX_BATCH`]) in one statement and one
/// transaction, with their numbers and the WhatsApp messages that waited for them; returns each
/// lead's outcome, in the batch's order.
pub async fn upsert(
    db: &Db,
    scope: &TenantScope<'_>,
    source: Source,
    leads: &[DirectoryLead],
) -> Result<Vec<Outcome>, DbError> {
    let tenant = scope.tenant().as_str();
    let source: &str = source.into();
    let leads = Json(leads.iter().map(LeadJson::from).collect::<Vec<_>>());
    let results = db
        .run(
            scope,
            Access::ReadWrite,
            &[Stmt {
                sql: "SELECT outcome FROM max_upsert_leads($1, $2, $3)",
                params: &[
                    (&tenant, Type::TEXT),
                    (&source, Type::TEXT),
                    (&leads, Type::JSONB),
                ],
            }],
        )
        .await?;
    results
        .into_iter()
        .next()
        .unwrap_or_default()
        .iter()
        .map(|row| {
            let outcome: &str = row.try_get(0)?;
            Ok(match outcome {
                "created" => Outcome::Created,
                "updated" => Outcome::Updated,
                "unchanged" => Outcome::Unchanged,
                _ => Outcome::Stale,
            })
        })
        .collect()
}

/// Marks leads the CRM deleted: their link and numbers go, their name stays. Returns how many.
pub async fn remove(db: &Db, scope: &TenantScope<'_>, ids: &[String]) -> Result<i32, DbError> {
    let tenant = scope.tenant().as_str();
    let results = db
        .run(
            scope,
            Access::ReadWrite,
            &[Stmt {
                sql: "SELECT max_remove_leads($1, $2)",
                params: &[(&tenant, Type::TEXT), (&ids, Type::TEXT_ARRAY)],
            }],
        )
        .await?;
    let rows = results.into_iter().next().unwrap_or_default();
    Ok(match rows.first() {
        Some(row) => row.try_get(0)?,
        None => 0,
    })
}

/// The ids of the leads a source gave that are still listed (not removed): what the CRM sync
/// compares with the CRM's own list to find deleted leads.
pub async fn ids_from(
    db: &Db,
    scope: &TenantScope<'_>,
    source: Source,
) -> Result<Vec<String>, DbError> {
    let tenant = scope.tenant().as_str();
    let source: &str = source.into();
    let results = db
        .run(
            scope,
            Access::ReadOnlySnapshot,
            &[Stmt {
                sql: "SELECT lead_id::text FROM max_leads \
                      WHERE tenant_id = $1 AND source = $2 AND removed_at IS NULL",
                params: &[(&tenant, Type::TEXT), (&source, Type::TEXT)],
            }],
        )
        .await?;
    results
        .into_iter()
        .next()
        .unwrap_or_default()
        .iter()
        .map(|row| row.try_get(0).map_err(DbError::from))
        .collect()
}

/// A lead as the directory knows it, for operators and other systems.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Entry {
    pub id: String,
    /// The directory's name, else the latest `leadName` an activity gave.
    pub name: Option<String>,
    pub phones: Vec<String>,
    pub email: Option<String>,
    pub url: Option<String>,
    /// `api`, `espocrm`, or `activity` for a lead only activities named.
    pub source: String,
    #[serde(with = "time::serde::rfc3339::option")]
    pub synced_at: Option<OffsetDateTime>,
    #[serde(with = "time::serde::rfc3339::option")]
    pub removed_at: Option<OffsetDateTime>,
}

/// Reads one lead: its directory entry, or what its activities said of it; `None` when neither
/// knows it.
pub async fn get(db: &Db, scope: &TenantScope<'_>, id: &LeadId) -> Result<Option<Entry>, DbError> {
    let tenant = scope.tenant().as_str();
    let id = id.as_str();
    let results = db
        .run(
            scope,
            Access::ReadOnlySnapshot,
            &[Stmt {
                sql: "SELECT coalesce(d.name, s.lead_name)::text, coalesce(d.phones::text[], '{}'), \
                             d.email::text, d.crm_url::text, coalesce(d.source::text, 'activity'), \
                             d.synced_at, d.removed_at \
                        FROM (SELECT $2::text AS lead_id) AS q \
                        LEFT JOIN max_leads AS d ON d.tenant_id = $1 AND d.lead_id = q.lead_id \
                        LEFT JOIN max_lead_states AS s ON s.tenant_id = $1 AND s.lead_id = q.lead_id \
                       WHERE d.lead_id IS NOT NULL OR s.lead_id IS NOT NULL",
                params: &[(&tenant, Type::TEXT), (&id, Type::TEXT)],
            }],
        )
        .await?;
    let rows = results.into_iter().next().unwrap_or_default();
    let Some(row) = rows.first() else {
        return Ok(None);
    };
    Ok(Some(Entry {
        id: id.to_owned(),
        name: row.try_get(0)?,
        phones: row.try_get(1)?,
        email: row.try_get(2)?,
        url: row.try_get(3)?,
        source: row.try_get(4)?,
        synced_at: row.try_get(5)?,
        removed_at: row.try_get(6)?,
    }))
}
