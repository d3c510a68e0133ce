//! Alerts: a tenant's open alerts, listed most urgent first ([`list_active`]), one alert with its
//! history ([`with_history`]), acknowledging one ([`acknowledge`]), snoozing and waking one
//! ([`snooze`], [`wake`]), resolving one by hand ([`resolve`]), and the resolved ones of a period
//! ([`list_resolved`]). The rules that raise and clear them are in `crate::rules`; the history is
//! written by the database (migrations/V10).

mod acknowledge;
mod history;
mod list;
mod resolve;
mod resolved;
mod snooze;

use serde::Serialize;
use serde_json::value::RawValue;
use strum::{EnumString, IntoStaticStr, VariantNames};
use time::OffsetDateTime;
use tokio_postgres::Row;
use tokio_postgres::types::Json;
use uuid::Uuid;

pub use acknowledge::{ACKNOWLEDGE, Comment, MAX_COMMENT_CHARS, acknowledge};
pub use history::{ALERT, Event, EventRow, HISTORY, with_history};
pub use list::{
    ACTIVE_ALERTS, ACTIVE_ALERTS_OF_LEAD, Cursor, DEFAULT_LIMIT, ListQuery, MAX_LIMIT, Page, STATS,
    list_active,
};
pub use resolve::{RESOLVE, resolve};
pub use resolved::{RESOLVED_ALERTS, ResolvedCursor, ResolvedPage, ResolvedQuery, list_resolved};
pub use snooze::{
    MAX_SNOOZE, MIN_SNOOZE, SNOOZE, SnoozeEnd, SnoozeLength, SnoozeRefused, WAKE, snooze, wake,
};

use crate::db::DbError;
use crate::parse::{self, Invalid, Parse};

/// How urgent an alert is, most urgent first: its position is the `severity_rank` column.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, EnumString, IntoStaticStr, VariantNames,
)]
#[strum(serialize_all = "lowercase", ascii_case_insensitive)]
pub enum Severity {
    High,
    Medium,
    Low,
}

impl Severity {
    pub fn as_str(self) -> &'static str {
        self.into()
    }

    /// The position in urgency order (`max_alerts.severity_rank`): 0 is the most urgent.
    pub fn rank(self) -> i16 {
        self as i16
    }
}

impl Parse for Severity {
    fn parse(text: &str) -> Result<Self, Invalid> {
        parse::one_of(text)
    }

    const EXPECTED: Option<Invalid> = Some(Invalid::NotOneOf(Severity::VARIANTS));
}

/// An alert, as the API shows it: read in place from the row the database returned (the texts
/// and the JSON of `suggestedAction` are not copied, nor parsed into a tree), then serialised.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Alert<'a> {
    pub id: Uuid,
    pub lead_id: &'a str,
    /// The name the lead's activities gave, else the directory's.
    pub lead_name: Option<&'a str>,
    /// The lead's page in the CRM, from the directory.
    pub lead_url: Option<&'a str>,
    #[serde(rename = "type")]
    pub kind: &'a str,
    pub severity: &'a str,
    pub message: &'a str,
    pub suggested_action: Option<SuggestedAction<'a>>,
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
    /// When someone said they are on it, who, and their comment; the alert stays active.
    #[serde(with = "time::serde::rfc3339::option")]
    pub acknowledged_at: Option<OffsetDateTime>,
    pub acknowledged_by: Option<&'a str>,
    pub acknowledgement: Option<&'a str>,
    /// Until when the alert is snoozed (out of the list and the counts), and who snoozed it;
    /// both `None` unless it is snoozed now.
    #[serde(with = "time::serde::rfc3339::option")]
    pub snoozed_until: Option<OffsetDateTime>,
    pub snoozed_by: Option<&'a str>,
}

/// JSON passed through as the database stored it (`jsonb`, read by `postgres-types`).
#[derive(Debug, Clone, Copy, Serialize)]
#[serde(transparent)]
pub struct RawJson<'a>(pub &'a RawValue);

impl PartialEq for RawJson<'_> {
    fn eq(&self, other: &Self) -> bool {
        self.0.get() == other.0.get()
    }
}

/// The columns every alert query returns, in this order (see [`column`]).
macro_rules! alert_columns {
    () => {
        "id, lead_id, lead_name, type, severity, message, suggested_action, created_at, \
         resolved_at, resolved_by, resolution, escalated_at, severity_rank, not_escalated, \
         acknowledged_at, acknowledged_by, acknowledgement, snoozed_until, snoozed_by, message_en"
    };
}
use alert_columns;

/// An alert query (`$1` the tenant, its columns [`alert_columns`]) with its lead's directory
/// entry: the name and the CRM link, read by primary key for each row the query returns.
macro_rules! with_lead {
    ($alerts:expr, $order:literal) => {
        concat!(
            "SELECT a.*, l.name::text, l.crm_url::text FROM (",
            $alerts,
            ") AS a LEFT JOIN max_leads AS l ON l.tenant_id = $1 AND l.lead_id = a.lead_id ",
            $order
        )
    };
}
use with_lead;

/// A statement changing one alert of the tenant (`$1`, id `$2`) with `SET $set` where `$when`
/// holds, and returning it as stored: an alert the change does not apply to is only read (no new
/// row version), with a lock, so that a change committed meanwhile by another request is the one
/// returned. A data-modifying WITH stays at the top level: the lead's directory entry is joined
/// here.
macro_rules! change_one {
    ($set:literal, $when:literal) => {
        concat!(
            "WITH changed AS (UPDATE max_alerts SET ",
            $set,
            " WHERE tenant_id = $1 AND id = $2 AND ",
            $when,
            " RETURNING ",
            $crate::alerts::alert_columns!(),
            "), already AS (SELECT ",
            $crate::alerts::alert_columns!(),
            " FROM max_alerts WHERE tenant_id = $1 AND id = $2 ",
            "AND NOT EXISTS (SELECT FROM changed) FOR SHARE), ",
            "alert AS (SELECT * FROM changed UNION ALL SELECT * FROM already) ",
            $crate::alerts::with_lead!("SELECT * FROM alert", "")
        )
    };
}
use change_one;

/// The positions of the columns of [`alert_columns`]: read by index, not by name, as a page reads
/// 22 columns of up to 200 rows.
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
    pub const ACKNOWLEDGED_AT: usize = 14;
    pub const ACKNOWLEDGED_BY: usize = 15;
    pub const ACKNOWLEDGEMENT: usize = 16;
    pub const SNOOZED_UNTIL: usize = 17;
    pub const SNOOZED_BY: usize = 18;
    pub const MESSAGE_EN: usize = 19;
    /// The directory's columns, after the alert's (see `with_lead`).
    pub const DIRECTORY_NAME: usize = 20;
    pub const LEAD_URL: usize = 21;
}

/// The language an alert is read in: French (the seed's, and the default) or English. An alert's
/// message and suggested action are answered in it when the alert has them in it (the rules'
/// alerts do; an alert written by someone else is answered as written).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum Language {
    #[default]
    French,
    English,
}

impl Language {
    /// The first of the languages named that is French or English: language tags (`en-GB`, `fr`,
    /// `EN`), most wanted first.
    pub fn first_of<'t>(tags: impl IntoIterator<Item = &'t str>) -> Option<Self> {
        tags.into_iter().find_map(|tag| {
            let primary = tag.trim().split(['-', '_']).next().unwrap_or_default();
            if primary.eq_ignore_ascii_case("fr") {
                Some(Self::French)
            } else if primary.eq_ignore_ascii_case("en") {
                Some(Self::English)
            } else {
                None
            }
        })
    }
}

/// A suggested action, as stored (`jsonb`, passed through), or with its label in the reader's
/// language (a rule's default label, read in English).
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
#[serde(untagged)]
pub enum SuggestedAction<'a> {
    Stored(RawJson<'a>),
    Translated {
        label: &'static str,
        action: &'static str,
    },
}

impl<'a> SuggestedAction<'a> {
    /// The stored action in `language`: a rule's action whose label is the rule's own (French)
    /// default gets the rule's label in `language`; any other is answered as stored.
    fn read(stored: &'a RawValue, language: Language) -> Self {
        #[derive(serde::Deserialize)]
        struct Stored<'s> {
            #[serde(borrow)]
            label: Option<std::borrow::Cow<'s, str>>,
            #[serde(borrow)]
            action: Option<std::borrow::Cow<'s, str>>,
        }
        if language == Language::English
            && let Ok(Stored {
                label: Some(label),
                action: Some(action),
            }) = serde_json::from_str::<Stored>(stored.get())
            && let Some(rule) = crate::rules::ALL
                .into_iter()
                .find(|rule| rule.defaults.action == action && rule.defaults.action_label == label)
        {
            return Self::Translated {
                label: rule.defaults.action_label_en,
                action: rule.defaults.action,
            };
        }
        Self::Stored(RawJson(stored))
    }
}

/// An alert's row, as the database returned it; [`AlertRow::alert`] reads it.
#[derive(Debug)]
pub struct AlertRow(Row);

impl AlertRow {
    /// The alert, in French (as stored).
    pub fn alert(&self) -> Result<Alert<'_>, DbError> {
        self.alert_in(Language::French)
    }

    /// The alert, its message and suggested action in `language` when it has them in it.
    pub fn alert_in(&self, language: Language) -> Result<Alert<'_>, DbError> {
        let row = &self.0;
        let escalated_at: Option<OffsetDateTime> = row.try_get(column::ESCALATED_AT)?;
        let suggested_action: Option<Json<&RawValue>> = row.try_get(column::SUGGESTED_ACTION)?;
        // A snooze whose time has come is over, whether or not a pass has cleared it yet.
        let snoozed_until: Option<OffsetDateTime> = row
            .try_get::<_, Option<OffsetDateTime>>(column::SNOOZED_UNTIL)?
            .filter(|until| *until > OffsetDateTime::now_utc());
        Ok(Alert {
            id: row.try_get(column::ID)?,
            lead_id: row.try_get(column::LEAD_ID)?,
            lead_name: row
                .try_get::<_, Option<&str>>(column::LEAD_NAME)?
                .or(row.try_get(column::DIRECTORY_NAME)?),
            lead_url: row.try_get(column::LEAD_URL)?,
            kind: row.try_get(column::TYPE)?,
            severity: row.try_get(column::SEVERITY)?,
            message: match language {
                Language::English => row.try_get::<_, Option<&str>>(column::MESSAGE_EN)?,
                Language::French => None,
            }
            .map_or_else(|| row.try_get(column::MESSAGE), Ok)?,
            suggested_action: suggested_action
                .map(|Json(value)| SuggestedAction::read(value, language)),
            created_at: row.try_get(column::CREATED_AT)?,
            resolved_at: row.try_get(column::RESOLVED_AT)?,
            resolved_by: row.try_get(column::RESOLVED_BY)?,
            resolution: row.try_get(column::RESOLUTION)?,
            escalated: escalated_at.is_some(),
            escalated_at,
            acknowledged_at: row.try_get(column::ACKNOWLEDGED_AT)?,
            acknowledged_by: row.try_get(column::ACKNOWLEDGED_BY)?,
            acknowledgement: row.try_get(column::ACKNOWLEDGEMENT)?,
            snoozed_by: match snoozed_until {
                Some(_) => row.try_get(column::SNOOZED_BY)?,
                None => None,
            },
            snoozed_until,
        })
    }
}

/// Runs one statement that writes (or only reads) one alert of the tenant and returns it; `None`
/// when the tenant has no such alert.
async fn write_one(
    db: &crate::db::Db,
    scope: &crate::tenancy::TenantScope<'_>,
    sql: &str,
    params: &[(
        &(dyn tokio_postgres::types::ToSql + Sync),
        tokio_postgres::types::Type,
    )],
) -> Result<Option<AlertRow>, DbError> {
    let results = db
        .run(
            scope,
            crate::db::Access::ReadWrite,
            &[crate::db::Stmt { sql, params }],
        )
        .await?;
    Ok(results
        .into_iter()
        .next()
        .and_then(|rows| rows.into_iter().next())
        .map(AlertRow))
}

/// Counts of a tenant's active alerts; the snoozed ones are counted apart (`snoozed`), not in the
/// others.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct Stats {
    pub total: i64,
    pub high: i64,
    pub medium: i64,
    pub low: i64,
    pub escalated: i64,
    pub snoozed: i64,
}

#[cfg(test)]
mod tests {
    use super::*;

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
            ("acknowledged_at", column::ACKNOWLEDGED_AT),
            ("acknowledged_by", column::ACKNOWLEDGED_BY),
            ("acknowledgement", column::ACKNOWLEDGEMENT),
            ("snoozed_until", column::SNOOZED_UNTIL),
            ("snoozed_by", column::SNOOZED_BY),
            ("message_en", column::MESSAGE_EN),
        ];
        assert_eq!(names.len(), positions.len());
        for (name, position) in positions {
            assert_eq!(names[position], name);
        }
    }

    #[test]
    fn severities_rank_most_urgent_first_as_the_schema_does() {
        assert_eq!(Severity::VARIANTS, ["high", "medium", "low"]);
        assert_eq!(
            [Severity::High, Severity::Medium, Severity::Low].map(Severity::rank),
            [0, 1, 2]
        );
        assert_eq!(Severity::parse(" HIGH"), Ok(Severity::High));
        assert_eq!(
            Severity::parse("med").unwrap_err().to_string(),
            "must be one of: high, medium, low."
        );
    }
}
