//! Listing a tenant's active alerts: one page straight off an index, in urgency order, with the
//! tenant's counts.

use base64::alphabet;
use base64::engine::general_purpose::{GeneralPurpose, GeneralPurposeConfig, URL_SAFE_NO_PAD};
use base64::engine::{DecodePaddingMode, Engine};
use time::OffsetDateTime;
use tokio_postgres::Row;
use tokio_postgres::types::{ToSql, Type};
use uuid::Uuid;

use super::{Alert, AlertRow, Severity, Stats, alert_columns, column, with_lead};
use crate::db::{Access, Db, DbError, Stmt};
use crate::leads::LeadId;
use crate::tenancy::TenantScope;

/// Alerts per page unless `limit` says otherwise.
pub const DEFAULT_LIMIT: i64 = 50;
/// The largest `limit` accepted.
pub const MAX_LIMIT: i64 = 200;

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

    /// A position, for tests.
    #[cfg(test)]
    pub(crate) fn at(
        severity_rank: i16,
        not_escalated: bool,
        created_at_micros: i64,
        id: Uuid,
    ) -> Self {
        Self {
            severity_rank,
            not_escalated,
            created_at_micros,
            id,
        }
    }

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

    /// Reads a token: 28 bytes, URL-safe base64, of this version. Any such token is a position
    /// (one past every alert reads an empty page), so that what `docs/openapi.json` allows is what
    /// is accepted.
    pub fn decode(token: &str) -> Option<Self> {
        let bytes = token_bytes(token, 28, Self::VERSION)?;
        Some(Self {
            severity_rank: i16::from_be_bytes(bytes[1..3].try_into().ok()?),
            not_escalated: bytes[3] != 0,
            created_at_micros: i64::from_be_bytes(bytes[4..12].try_into().ok()?),
            id: Uuid::from_slice(&bytes[12..28]).ok()?,
        })
    }

    fn after(row: &Row) -> Result<Self, tokio_postgres::Error> {
        let created_at: OffsetDateTime = row.try_get(column::CREATED_AT)?;
        Ok(Self {
            severity_rank: row.try_get(column::SEVERITY_RANK)?,
            not_escalated: row.try_get(column::NOT_ESCALATED)?,
            created_at_micros: micros_of(created_at),
            id: row.try_get(column::ID)?,
        })
    }

    /// The position's creation time, within what any alert can have (and PostgreSQL can hold): a
    /// token further out reads as before or after every alert.
    fn created_at(&self) -> OffsetDateTime {
        time_of_micros(self.created_at_micros)
    }
}

/// The bytes of a cursor token: `len` bytes of URL-safe base64 (trailing bits allowed, no
/// padding) starting with `version`.
pub(super) fn token_bytes(token: &str, len: usize, version: u8) -> Option<Vec<u8>> {
    const LENIENT: GeneralPurpose = GeneralPurpose::new(
        &alphabet::URL_SAFE,
        GeneralPurposeConfig::new()
            .with_encode_padding(false)
            .with_decode_allow_trailing_bits(true)
            .with_decode_padding_mode(DecodePaddingMode::RequireNone),
    );
    let bytes = LENIENT.decode(token).ok()?;
    (bytes.len() == len && bytes[0] == version).then_some(bytes)
}

/// A cursor's time, within what any alert can have (and PostgreSQL can hold): a token further out
/// reads as before or after every alert.
pub(super) fn time_of_micros(micros: i64) -> OffsetDateTime {
    const FIRST: OffsetDateTime = time::macros::datetime!(1900-01-01 0:00 UTC);
    const LAST: OffsetDateTime = time::macros::datetime!(9999-12-31 23:59:59.999999 UTC);
    OffsetDateTime::from_unix_timestamp_nanos(i128::from(micros) * 1000)
        .map_or(if micros < 0 { FIRST } else { LAST }, |at| {
            at.clamp(FIRST, LAST)
        })
}

/// A time as a cursor holds it: microseconds since 1970.
pub(super) fn micros_of(at: OffsetDateTime) -> i64 {
    (at.unix_timestamp_nanos() / 1000) as i64
}

/// Which active alerts to list: a page of at most `limit` (1 to [`MAX_LIMIT`]), after `cursor`,
/// of one severity or one lead if asked.
#[derive(Debug, Clone, PartialEq)]
pub struct ListQuery {
    pub severity: Option<Severity>,
    pub lead_id: Option<LeadId>,
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
    pub fn alerts(&self) -> Result<Vec<Alert<'_>>, DbError> {
        self.alerts_in(super::Language::French)
    }

    /// The page's alerts, in `language` (see [`AlertRow::alert_in`]).
    pub fn alerts_in(&self, language: super::Language) -> Result<Vec<Alert<'_>>, DbError> {
        self.rows.iter().map(|row| row.alert_in(language)).collect()
    }
}

/// The counts kept by the `max_alert_counters` triggers (one row, not a count over every alert),
/// less the alerts snoozed now, which are counted apart (a few rows of `max_alerts_snoozed`).
pub const STATS: &str = "\
SELECT coalesce(c.high, 0) - s.high, coalesce(c.medium, 0) - s.medium, coalesce(c.low, 0) - s.low,
       coalesce(c.escalated, 0) - s.escalated, s.high + s.medium + s.low
  FROM (SELECT count(*) FILTER (WHERE severity = 'high') AS high,
               count(*) FILTER (WHERE severity = 'medium') AS medium,
               count(*) FILTER (WHERE severity = 'low') AS low,
               count(*) FILTER (WHERE escalated_at IS NOT NULL) AS escalated
          FROM max_alerts
         WHERE tenant_id = $1 AND resolved_at IS NULL AND snoozed_until > now()) AS s
  LEFT JOIN max_alert_counters AS c ON c.tenant_id = $1";

/// A page of active alerts in urgency order, read straight off `max_alerts_active_by_urgency`:
/// the row comparison resumes after the cursor and `LIMIT` stops the index scan, so a page costs
/// the same with 10 or 10,000 open alerts. `$open` says "still open" the way the index wanted
/// says it (migrations/V6: the listing's index is the only one whose condition names both).
/// Alerts snoozed now are left out (read, then filtered: a tenant has few).
/// The page's leads are then read from the directory, one row by primary key per alert shown.
macro_rules! active_alerts_sql {
    ($open:literal, $lead_filter:literal) => {
        with_lead!(
            concat!(
                "SELECT ",
                alert_columns!(),
                " FROM max_alerts ",
                "WHERE tenant_id = $1 AND ",
                $open,
                " ",
                "AND (snoozed_until IS NULL OR snoozed_until <= now()) ",
                "AND severity_rank BETWEEN $2 AND $3 ",
                "AND (severity_rank, not_escalated, created_at, id) > ($4, $5, $6, $7) ",
                $lead_filter,
                "ORDER BY severity_rank, not_escalated, created_at, id ",
                "LIMIT $8"
            ),
            "ORDER BY a.severity_rank, a.not_escalated, a.created_at, a.id"
        )
    };
}
pub const ACTIVE_ALERTS: &str =
    active_alerts_sql!("resolved_at IS NULL AND resolution IS NULL", "");
/// The same for one lead, which has few alerts: `idx_max_alerts_unique_active` (tenant, lead,
/// type of the open alerts) finds them.
pub const ACTIVE_ALERTS_OF_LEAD: &str =
    active_alerts_sql!("resolved_at IS NULL", "AND lead_id = $9 ");

/// Lists the tenant's active alerts: counts and one page, from one consistent snapshot, in one
/// round trip.
pub async fn list_active(
    db: &Db,
    scope: &TenantScope<'_>,
    query: &ListQuery,
) -> Result<Page, DbError> {
    let tenant = scope.tenant().as_str();
    let (min_rank, max_rank) = query
        .severity
        .map_or((0, 2), |severity| (severity.rank(), severity.rank()));
    let cursor = query.cursor.unwrap_or(Cursor::START);
    let created_at = cursor.created_at();
    let fetch = query.limit + 1;
    let lead_id = query.lead_id.as_ref().map(LeadId::as_str);
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
    let page_sql = match &lead_id {
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
    let mut results = results.into_iter();
    let stats = match results.next().unwrap_or_default().first() {
        None => Stats::default(),
        Some(row) => {
            let (high, medium, low, escalated, snoozed) = (
                row.try_get(0)?,
                row.try_get(1)?,
                row.try_get(2)?,
                row.try_get(3)?,
                row.try_get(4)?,
            );
            Stats {
                total: high + medium + low,
                high,
                medium,
                low,
                escalated,
                snoozed,
            }
        }
    };
    let mut rows = results.next().unwrap_or_default();
    let mut next_cursor = None;
    if rows.len() as i64 > query.limit {
        rows.truncate(query.limit as usize);
        let last = rows.last().expect("limit is at least 1");
        next_cursor = Some(Cursor::after(last)?.encode());
    }
    Ok(Page {
        stats,
        rows: rows.into_iter().map(AlertRow).collect(),
        next_cursor,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

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
        let token = Cursor::START.encode();
        assert_eq!(Cursor::decode(&format!(" {token}")), None);
        assert_eq!(Cursor::decode(&token[..37]), None);
    }

    #[test]
    fn a_position_far_out_reads_as_before_or_after_every_alert() {
        let far = |micros| {
            Cursor::at(0, false, micros, Uuid::nil())
                .created_at()
                .year()
        };
        assert_eq!(far(i64::MIN), 1900);
        assert_eq!(far(-62_000_000_000_000_000), 1900);
        assert_eq!(far(i64::MAX), 9999);
        assert_eq!(far(0), 1970);
    }

    #[test]
    fn any_token_of_the_documented_form_is_a_position() {
        // `^A[Q-Za-f][A-Za-z0-9_-]{36}$`, as docs/openapi.json says: a version byte of 1, then
        // anything.
        for token in [
            format!("AQ{}", "_".repeat(36)),
            format!("Af{}", "A".repeat(36)),
            format!("AZ{}", "z9-".repeat(12)),
        ] {
            assert!(Cursor::decode(&token).is_some(), "{token}");
        }
    }

    #[test]
    fn the_query_has_defaults() {
        assert_eq!(ListQuery::default().limit, DEFAULT_LIMIT);
        assert_eq!(ListQuery::default().cursor, None);
    }
}
