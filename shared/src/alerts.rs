//! Alerts: listing a tenant's active alerts, most urgent first, and resolving one.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use lambda_http::aws_lambda_events::query_map::QueryMap;
use serde::Serialize;
use serde_json::value::RawValue;
use time::OffsetDateTime;
use tokio_postgres::Row;
use tokio_postgres::types::{FromSql, ToSql, Type};
use uuid::Uuid;

use crate::db::{Access, Db, Stmt, TenantScope};
use crate::error::ApiError;
use crate::validate;

/// Alerts per page unless `limit` says otherwise.
pub const DEFAULT_LIMIT: i64 = 50;
/// The largest `limit` accepted.
pub const MAX_LIMIT: i64 = 200;

/// The severities, most urgent first; their index is the `severity_rank` column.
pub const SEVERITIES: [&str; 3] = ["high", "medium", "low"];

/// An alert, as the API shows it: read in place from the row the database returned (the texts
/// and the JSON of `suggestedAction` are not copied, nor parsed into a tree), then serialised.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Alert<'a> {
    pub id: Uuid,
    pub lead_id: &'a str,
    pub lead_name: Option<&'a str>,
    #[serde(rename = "type")]
    pub kind: &'a str,
    pub severity: &'a str,
    pub message: &'a str,
    pub suggested_action: Option<RawJson<'a>>,
    #[serde(with = "time::serde::rfc3339")]
    pub created_at: OffsetDateTime,
    #[serde(with = "time::serde::rfc3339::option")]
    pub resolved_at: Option<OffsetDateTime>,
    pub resolved_by: Option<&'a str>,
    /// `manual` (a person or a caller) or `auto` (the condition cleared).
    pub resolution: Option<&'a str>,
    pub escalated: bool,
    #[serde(with = "time::serde::rfc3339::option")]
    pub escalated_at: Option<OffsetDateTime>,
}

/// A `json` or `jsonb` value passed through as the database wrote it (checked to be JSON).
#[derive(Debug, Clone, Copy, Serialize)]
#[serde(transparent)]
pub struct RawJson<'a>(&'a RawValue);

impl RawJson<'_> {
    pub fn get(&self) -> &str {
        self.0.get()
    }
}

impl PartialEq for RawJson<'_> {
    fn eq(&self, other: &Self) -> bool {
        self.get() == other.get()
    }
}

impl<'a> FromSql<'a> for RawJson<'a> {
    fn from_sql(
        ty: &Type,
        raw: &'a [u8],
    ) -> Result<Self, Box<dyn std::error::Error + Sync + Send>> {
        // jsonb's binary form is a version byte (1) and the text.
        let text = if *ty == Type::JSONB {
            raw.strip_prefix(&[1]).ok_or("unsupported jsonb version")?
        } else {
            raw
        };
        Ok(RawJson(serde_json::from_str(std::str::from_utf8(text)?)?))
    }

    fn accepts(ty: &Type) -> bool {
        *ty == Type::JSON || *ty == Type::JSONB
    }
}

/// The columns every alert query returns, in this order (see [`column`]).
macro_rules! alert_columns {
    () => {
        "id, lead_id, lead_name, type, severity, message, suggested_action, created_at, \
         resolved_at, resolved_by, resolution, escalated_at, severity_rank, not_escalated"
    };
}

/// The positions of the columns of [`alert_columns`]: read by index, not by name, as a page reads 14 columns of
/// up to 200 rows.
mod column {
    pub const ID: usize = 0;
    pub const LEAD_ID: usize = 1;
    pub const LEAD_NAME: usize = 2;
    pub const TYPE: usize = 3;
    pub const SEVERITY: usize = 4;
    pub const MESSAGE: usize = 5;
    pub const SUGGESTED_ACTION: usize = 6;
    pub const CREATED_AT: usize = 7;
    pub const RESOLVED_AT: usize = 8;
    pub const RESOLVED_BY: usize = 9;
    pub const RESOLUTION: usize = 10;
    pub const ESCALATED_AT: usize = 11;
    pub const SEVERITY_RANK: usize = 12;
    pub const NOT_ESCALATED: usize = 13;
}

/// An alert's row, as the database returned it; [`AlertRow::alert`] reads it.
#[derive(Debug)]
pub struct AlertRow(Row);

impl AlertRow {
    pub fn alert(&self) -> Result<Alert<'_>, ApiError> {
        self.read().map_err(|error| {
            tracing::error!(%error, "alert row did not map");
            ApiError::internal()
        })
    }

    fn read(&self) -> Result<Alert<'_>, tokio_postgres::Error> {
        let row = &self.0;
        let escalated_at: Option<OffsetDateTime> = row.try_get(column::ESCALATED_AT)?;
        Ok(Alert {
            id: row.try_get(column::ID)?,
            lead_id: row.try_get(column::LEAD_ID)?,
            lead_name: row.try_get(column::LEAD_NAME)?,
            kind: row.try_get(column::TYPE)?,
            severity: row.try_get(column::SEVERITY)?,
            message: row.try_get(column::MESSAGE)?,
            suggested_action: row.try_get(column::SUGGESTED_ACTION)?,
            created_at: row.try_get(column::CREATED_AT)?,
            resolved_at: row.try_get(column::RESOLVED_AT)?,
            resolved_by: row.try_get(column::RESOLVED_BY)?,
            resolution: row.try_get(column::RESOLUTION)?,
            escalated: escalated_at.is_some(),
            escalated_at,
        })
    }
}

/// Counts of a tenant's active alerts.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct Stats {
    pub total: i64,
    pub high: i64,
    pub medium: i64,
    pub low: i64,
    pub escalated: i64,
}

/// Where a page ends, in the listing order: severity, escalated first, oldest first, id.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Cursor {
    severity_rank: i16,
    not_escalated: bool,
    created_at_micros: i64,
    id: Uuid,
}

impl Cursor {
    /// Before every alert.
    const START: Cursor = Cursor {
        severity_rank: -1,
        not_escalated: false,
        created_at_micros: i64::MIN,
        id: Uuid::nil(),
    };
    const VERSION: u8 = 1;

    /// An opaque, URL-safe token.
    pub fn encode(&self) -> String {
        let mut bytes = Vec::with_capacity(28);
        bytes.push(Self::VERSION);
        bytes.extend_from_slice(&self.severity_rank.to_be_bytes());
        bytes.push(u8::from(self.not_escalated));
        bytes.extend_from_slice(&self.created_at_micros.to_be_bytes());
        bytes.extend_from_slice(self.id.as_bytes());
        URL_SAFE_NO_PAD.encode(bytes)
    }

    pub fn decode(token: &str) -> Option<Self> {
        let bytes = URL_SAFE_NO_PAD.decode(token).ok()?;
        if bytes.len() != 28 || bytes[0] != Self::VERSION || bytes[3] > 1 {
            return None;
        }
        let severity_rank = i16::from_be_bytes(bytes[1..3].try_into().ok()?);
        if !(0..3).contains(&severity_rank) {
            return None;
        }
        Some(Self {
            severity_rank,
            not_escalated: bytes[3] == 1,
            created_at_micros: i64::from_be_bytes(bytes[4..12].try_into().ok()?),
            id: Uuid::from_slice(&bytes[12..28]).ok()?,
        })
    }

    fn after(row: &Row) -> Result<Self, tokio_postgres::Error> {
        let created_at: OffsetDateTime = row.try_get(column::CREATED_AT)?;
        Ok(Self {
            severity_rank: row.try_get(column::SEVERITY_RANK)?,
            not_escalated: row.try_get(column::NOT_ESCALATED)?,
            created_at_micros: (created_at.unix_timestamp_nanos() / 1000) as i64,
            id: row.try_get(column::ID)?,
        })
    }

    fn created_at(&self) -> OffsetDateTime {
        if self.created_at_micros == i64::MIN {
            // Before any real timestamp: PostgreSQL's -infinity is out of `time`'s range.
            return time::macros::datetime!(1900-01-01 0:00 UTC);
        }
        OffsetDateTime::from_unix_timestamp_nanos(i128::from(self.created_at_micros) * 1000)
            .unwrap_or(OffsetDateTime::UNIX_EPOCH)
    }
}

/// The query of `GET /api/alerts/active`.
#[derive(Debug, Clone, PartialEq)]
pub struct ListQuery {
    /// Only this severity (`severity=high`), by rank.
    pub severity: Option<i16>,
    /// Only this lead (`leadId=...`).
    pub lead_id: Option<String>,
    pub limit: i64,
    pub cursor: Option<Cursor>,
}

impl Default for ListQuery {
    fn default() -> Self {
        Self {
            severity: None,
            lead_id: None,
            limit: DEFAULT_LIMIT,
            cursor: None,
        }
    }
}

impl ListQuery {
    /// Reads `severity`, `leadId`, `limit` and `cursor`; anything invalid is a 400.
    pub fn parse(params: Option<&QueryMap>) -> Result<Self, ApiError> {
        let mut query = Self::default();
        let Some(params) = params else {
            return Ok(query);
        };
        let invalid = |name: &str, message: String| {
            ApiError::bad_request("invalid_query", format!("{name}: {message}"))
        };
        if let Some(severity) = params.first("severity") {
            let rank = SEVERITIES
                .iter()
                .position(|s| s.eq_ignore_ascii_case(severity.trim()))
                .ok_or_else(|| invalid("severity", "must be one of: high, medium, low.".into()))?;
            query.severity = Some(rank as i16);
        }
        if let Some(lead_id) = params.first("leadId") {
            query.lead_id =
                Some(validate::id_text(lead_id, "leadId").map_err(|m| invalid("leadId", m))?);
        }
        if let Some(limit) = params.first("limit") {
            query.limit = limit
                .trim()
                .parse::<i64>()
                .ok()
                .filter(|n| (1..=MAX_LIMIT).contains(n))
                .ok_or_else(|| {
                    invalid(
                        "limit",
                        format!("must be a whole number from 1 to {MAX_LIMIT}."),
                    )
                })?;
        }
        if let Some(cursor) = params.first("cursor") {
            query.cursor = Some(Cursor::decode(cursor.trim()).ok_or_else(|| {
                invalid(
                    "cursor",
                    "is not a cursor returned by this route (nextCursor).".into(),
                )
            })?);
        }
        Ok(query)
    }
}

/// A page of active alerts, with the tenant's counts.
#[derive(Debug)]
pub struct Page {
    pub stats: Stats,
    pub rows: Vec<AlertRow>,
    /// Where the next page starts, while more alerts remain.
    pub next_cursor: Option<String>,
}

impl Page {
    /// The page's alerts, in urgency order.
    pub fn alerts(&self) -> Result<Vec<Alert<'_>>, ApiError> {
        self.rows.iter().map(AlertRow::alert).collect()
    }
}

/// The counts kept by the `max_alert_counters` triggers: one row, not a count over every alert.
pub const STATS: &str =
    "SELECT high, medium, low, escalated FROM max_alert_counters WHERE tenant_id = $1";

/// A page of active alerts in urgency order, read straight off `max_alerts_active_by_urgency`:
/// the row comparison resumes after the cursor and `LIMIT` stops the index scan, so a page costs
/// the same with 10 or 10,000 open alerts.
macro_rules! active_alerts_sql {
    ($lead_filter:literal) => {
        concat!(
            "SELECT ",
            alert_columns!(),
            " FROM max_alerts ",
            "WHERE tenant_id = $1 AND resolved_at IS NULL ",
            "AND severity_rank BETWEEN $2 AND $3 ",
            "AND (severity_rank, not_escalated, created_at, id) > ($4, $5, $6, $7) ",
            $lead_filter,
            "ORDER BY severity_rank, not_escalated, created_at, id ",
            "LIMIT $8"
        )
    };
}
pub const ACTIVE_ALERTS: &str = active_alerts_sql!("");
/// The same for one lead, which has few alerts: `idx_max_alerts_tenant_lead` finds them.
pub const ACTIVE_ALERTS_OF_LEAD: &str = active_alerts_sql!("AND lead_id = $9 ");

/// Lists the tenant's active alerts: counts and one page, from one consistent snapshot, in one
/// round trip.
pub async fn list_active(
    db: &Db,
    scope: &TenantScope<'_>,
    query: &ListQuery,
) -> Result<Page, ApiError> {
    let tenant = scope.tenant().as_str();
    let (min_rank, max_rank) = query.severity.map_or((0i16, 2i16), |rank| (rank, rank));
    let cursor = query.cursor.unwrap_or(Cursor::START);
    let created_at = cursor.created_at();
    let fetch = query.limit + 1;
    let mut page_params: Vec<(&(dyn ToSql + Sync), Type)> = vec![
        (&tenant, Type::TEXT),
        (&min_rank, Type::INT2),
        (&max_rank, Type::INT2),
        (&cursor.severity_rank, Type::INT2),
        (&cursor.not_escalated, Type::BOOL),
        (&created_at, Type::TIMESTAMPTZ),
        (&cursor.id, Type::UUID),
        (&fetch, Type::INT8),
    ];
    let page_sql = match &query.lead_id {
        Some(lead_id) => {
            page_params.push((lead_id, Type::TEXT));
            ACTIVE_ALERTS_OF_LEAD
        }
        None => ACTIVE_ALERTS,
    };
    let results = db
        .run(
            scope,
            Access::ReadOnlySnapshot,
            &[
                Stmt {
                    sql: STATS,
                    params: &[(&tenant, Type::TEXT)],
                },
                Stmt {
                    sql: page_sql,
                    params: &page_params,
                },
            ],
        )
        .await?;
    let stats = results[0].first().map_or(Stats::default(), |row| {
        let (high, medium, low, escalated) = (row.get(0), row.get(1), row.get(2), row.get(3));
        Stats {
            total: high + medium + low,
            high,
            medium,
            low,
            escalated,
        }
    });
    let mut results = results.into_iter();
    let mut rows = results.nth(1).unwrap_or_default();
    let mut next_cursor = None;
    if rows.len() as i64 > query.limit {
        rows.truncate(query.limit as usize);
        let last = rows.last().expect("limit is at least 1");
        next_cursor = Some(
            Cursor::after(last)
                .map_err(|error| {
                    tracing::error!(%error, "cursor row did not map");
                    ApiError::internal()
                })?
                .encode(),
        );
    }
    Ok(Page {
        stats,
        rows: rows.into_iter().map(AlertRow).collect(),
        next_cursor,
    })
}

/// Marks an alert resolved unless it already is, keeping the first resolution's values, and
/// returns it as stored.
pub const RESOLVE: &str = concat!(
    "UPDATE max_alerts ",
    "SET resolved_at = coalesce(resolved_at, now()), ",
    "resolved_by = CASE WHEN resolved_at IS NULL THEN $3 ELSE resolved_by END, ",
    "resolution = coalesce(resolution, 'manual') ",
    "WHERE tenant_id = $1 AND id = $2 ",
    "RETURNING ",
    alert_columns!()
);

/// Resolves an alert of the tenant. Resolving again changes nothing and returns the alert as first
/// resolved; two concurrent resolutions agree, as the second waits for the first's row lock and
/// then keeps its values. `None` when the tenant has no such alert.
pub async fn resolve(
    db: &Db,
    scope: &TenantScope<'_>,
    id: Uuid,
    actor: &str,
) -> Result<Option<AlertRow>, ApiError> {
    let tenant = scope.tenant().as_str();
    let results = db
        .run(
            scope,
            Access::ReadWrite,
            &[Stmt {
                sql: RESOLVE,
                params: &[
                    (&tenant, Type::TEXT),
                    (&id, Type::UUID),
                    (&actor, Type::TEXT),
                ],
            }],
        )
        .await?;
    Ok(results
        .into_iter()
        .next()
        .and_then(|rows| rows.into_iter().next())
        .map(AlertRow))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn params(pairs: &[(&str, &str)]) -> QueryMap {
        let map: HashMap<String, String> = pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        QueryMap::from(map)
    }

    #[test]
    fn the_column_positions_match_the_column_list() {
        let names: Vec<&str> = alert_columns!().split(',').map(str::trim).collect();
        let positions = [
            ("id", column::ID),
            ("lead_id", column::LEAD_ID),
            ("lead_name", column::LEAD_NAME),
            ("type", column::TYPE),
            ("severity", column::SEVERITY),
            ("message", column::MESSAGE),
            ("suggested_action", column::SUGGESTED_ACTION),
            ("created_at", column::CREATED_AT),
            ("resolved_at", column::RESOLVED_AT),
            ("resolved_by", column::RESOLVED_BY),
            ("resolution", column::RESOLUTION),
            ("escalated_at", column::ESCALATED_AT),
            ("severity_rank", column::SEVERITY_RANK),
            ("not_escalated", column::NOT_ESCALATED),
        ];
        assert_eq!(names.len(), positions.len());
        for (name, position) in positions {
            assert_eq!(names[position], name);
        }
    }

    #[test]
    fn a_cursor_round_trips() {
        let cursor = Cursor {
            severity_rank: 1,
            not_escalated: true,
            created_at_micros: 1_795_000_000_123_456,
            id: Uuid::from_u128(0x1234_5678_9abc_def0_1234_5678_9abc_def0),
        };
        assert_eq!(Cursor::decode(&cursor.encode()), Some(cursor));
        assert_eq!(
            cursor.created_at().unix_timestamp_nanos(),
            1_795_000_000_123_456_000
        );
    }

    #[test]
    fn garbage_is_not_a_cursor() {
        assert_eq!(Cursor::decode("nope"), None);
        assert_eq!(Cursor::decode(""), None);
        assert_eq!(Cursor::decode(&URL_SAFE_NO_PAD.encode([9u8; 28])), None);
    }

    #[test]
    fn the_query_has_defaults() {
        assert_eq!(ListQuery::parse(None).unwrap(), ListQuery::default());
        assert_eq!(ListQuery::default().limit, DEFAULT_LIMIT);
    }

    #[test]
    fn the_query_reads_every_parameter() {
        let cursor = Cursor {
            severity_rank: 0,
            not_escalated: false,
            created_at_micros: 1,
            id: Uuid::nil(),
        };
        let token = cursor.encode();
        let query = ListQuery::parse(Some(&params(&[
            ("severity", "HIGH"),
            ("leadId", "lead-1"),
            ("limit", "10"),
            ("cursor", &token),
        ])))
        .unwrap();
        assert_eq!(query.severity, Some(0));
        assert_eq!(query.lead_id.as_deref(), Some("lead-1"));
        assert_eq!(query.limit, 10);
        assert_eq!(query.cursor, Some(cursor));
    }

    #[test]
    fn invalid_parameters_are_400s() {
        for (name, value) in [
            ("severity", "med"),
            ("limit", "0"),
            ("limit", "201"),
            ("limit", "ten"),
            ("cursor", "abc"),
            ("leadId", ""),
        ] {
            let error = ListQuery::parse(Some(&params(&[(name, value)]))).unwrap_err();
            assert_eq!(error.status, 400, "{name}={value}");
            assert_eq!(error.code, "invalid_query");
        }
    }
}
