//! Listing a tenant's resolved alerts by period: newest resolution first, a page at a time, off
//! the history's resolutions (`max_alert_events_resolutions`, migrations/V12).

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use time::OffsetDateTime;
use tokio_postgres::types::Type;
use uuid::Uuid;

use super::list::{micros_of, time_of_micros, token_bytes};
use super::{AlertRow, alert_columns, column, with_lead};
use crate::db::{Access, Db, DbError, Stmt};
use crate::tenancy::TenantScope;

/// Where a page of resolutions ends: the last one's time and id.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ResolvedCursor {
    resolved_at_micros: i64,
    id: Uuid,
}

impl ResolvedCursor {
    const VERSION: u8 = 1;
    const LEN: usize = 25;

    /// An opaque, URL-safe token.
    pub fn encode(&self) -> String {
        let mut bytes = Vec::with_capacity(Self::LEN);
        bytes.push(Self::VERSION);
        bytes.extend_from_slice(&self.resolved_at_micros.to_be_bytes());
        bytes.extend_from_slice(self.id.as_bytes());
        URL_SAFE_NO_PAD.encode(bytes)
    }

    /// Reads a token: 25 bytes, URL-safe base64, of this version; any such token is a position.
    pub fn decode(token: &str) -> Option<Self> {
        let bytes = token_bytes(token, Self::LEN, Self::VERSION)?;
        Some(Self {
            resolved_at_micros: i64::from_be_bytes(bytes[1..9].try_into().ok()?),
            id: Uuid::from_slice(&bytes[9..25]).ok()?,
        })
    }
}

/// Which resolutions to list: those at or after `from` and before `to`, at most `limit`, after
/// `cursor`.
#[derive(Debug, Clone, PartialEq)]
pub struct ResolvedQuery {
    pub from: OffsetDateTime,
    pub to: OffsetDateTime,
    pub limit: i64,
    pub cursor: Option<ResolvedCursor>,
}

/// A page of resolved alerts.
#[derive(Debug)]
pub struct ResolvedPage {
    pub rows: Vec<AlertRow>,
    /// Where the next page starts, while more resolutions remain in the period.
    pub next_cursor: Option<String>,
}

/// A page of the tenant's resolutions in a period, newest first: the history's `resolved` events
/// off `max_alert_events_resolutions` (the row comparison resumes after the cursor and `LIMIT`
/// stops the index scan), then each alert by primary key.
pub const RESOLVED_ALERTS: &str = with_lead!(
    concat!(
        "SELECT ",
        alert_columns!(),
        " FROM (SELECT alert_id, at FROM max_alert_events ",
        "WHERE tenant_id = $1 AND kind = 'resolved' ",
        "AND at >= $2 AND at < $3 ",
        "AND (at, alert_id) < ($4, $5) ",
        "ORDER BY at DESC, alert_id DESC ",
        "LIMIT $6) AS r ",
        "JOIN max_alerts ON id = r.alert_id AND tenant_id = $1 ",
        "ORDER BY r.at DESC, r.alert_id DESC"
    ),
    "ORDER BY a.resolved_at DESC, a.id DESC"
);

/// Lists the tenant's alerts resolved in a period, newest first.
pub async fn list_resolved(
    db: &Db,
    scope: &TenantScope<'_>,
    query: &ResolvedQuery,
) -> Result<ResolvedPage, DbError> {
    let tenant = scope.tenant().as_str();
    let (before, before_id) = match query.cursor {
        Some(cursor) => (time_of_micros(cursor.resolved_at_micros), cursor.id),
        None => (query.to, Uuid::max()),
    };
    let fetch = query.limit + 1;
    let results = db
        .run(
            scope,
            Access::ReadOnlySnapshot,
            &[Stmt {
                sql: RESOLVED_ALERTS,
                params: &[
                    (&tenant, Type::TEXT),
                    (&query.from, Type::TIMESTAMPTZ),
                    (&query.to, Type::TIMESTAMPTZ),
                    (&before, Type::TIMESTAMPTZ),
                    (&before_id, Type::UUID),
                    (&fetch, Type::INT8),
                ],
            }],
        )
        .await?;
    let mut rows = results.into_iter().next().unwrap_or_default();
    let mut next_cursor = None;
    if rows.len() as i64 > query.limit {
        rows.truncate(query.limit as usize);
        let last = rows.last().expect("limit is at least 1");
        let resolved_at: OffsetDateTime = last.try_get(column::RESOLVED_AT)?;
        next_cursor = Some(
            ResolvedCursor {
                resolved_at_micros: micros_of(resolved_at),
                id: last.try_get(column::ID)?,
            }
            .encode(),
        );
    }
    Ok(ResolvedPage {
        rows: rows.into_iter().map(AlertRow).collect(),
        next_cursor,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_cursor_round_trips_and_any_token_of_the_documented_form_is_one() {
        let cursor = ResolvedCursor {
            resolved_at_micros: 1_795_000_000_123_456,
            id: Uuid::from_u128(0x1234_5678_9abc_def0_1234_5678_9abc_def0),
        };
        let token = cursor.encode();
        assert_eq!(token.len(), 34);
        assert_eq!(ResolvedCursor::decode(&token), Some(cursor));
        // `^A[Q-Za-f][A-Za-z0-9_-]{32}$`, as docs/openapi.json says.
        for token in [
            format!("AQ{}", "_".repeat(32)),
            format!("Af{}", "A".repeat(32)),
        ] {
            assert!(ResolvedCursor::decode(&token).is_some(), "{token}");
        }
        for token in [
            "",
            "nope",
            &format!("AA{}", "A".repeat(32)),
            &"A".repeat(38),
        ] {
            assert_eq!(ResolvedCursor::decode(token), None, "{token}");
        }
    }
}
