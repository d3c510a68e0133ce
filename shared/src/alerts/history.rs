//! One alert with its history: every transition, oldest first, as the database recorded them
//! (`max_alert_events`, migrations/V10).

use serde::Serialize;
use time::OffsetDateTime;
use tokio_postgres::Row;
use tokio_postgres::types::Type;
use uuid::Uuid;

use super::{AlertRow, alert_columns, with_lead};
use crate::db::{Access, Db, DbError, Stmt};
use crate::tenancy::TenantScope;

/// One alert of the tenant, with its lead's directory entry.
pub const ALERT: &str = with_lead!(
    concat!(
        "SELECT ",
        alert_columns!(),
        " FROM max_alerts WHERE tenant_id = $1 AND id = $2"
    ),
    ""
);

/// An alert's transitions, in the order they were recorded (the primary key's order).
pub const HISTORY: &str = "\
SELECT at, kind, actor, comment, resolution, until, severity, message
  FROM max_alert_events
 WHERE tenant_id = $1 AND alert_id = $2
 ORDER BY id";

/// One transition of an alert.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Event<'a> {
    #[serde(with = "time::serde::rfc3339")]
    pub at: OffsetDateTime,
    /// `raised`, `reworded`, `escalated`, `acknowledged`, `snoozed`, `woken`, `resolved`.
    pub kind: &'a str,
    /// Who: `user:<id>` or `api-key:<prefix>`; `None` for the system.
    pub actor: Option<&'a str>,
    pub comment: Option<&'a str>,
    /// For `resolved`: `manual` or `auto`.
    pub resolution: Option<&'a str>,
    /// For `snoozed`: until when.
    #[serde(with = "time::serde::rfc3339::option")]
    pub until: Option<OffsetDateTime>,
    /// The alert's severity and message after the transition.
    pub severity: &'a str,
    pub message: &'a str,
}

/// A transition's row, as the database returned it.
#[derive(Debug)]
pub struct EventRow(Row);

impl EventRow {
    pub fn event(&self) -> Result<Event<'_>, DbError> {
        let row = &self.0;
        Ok(Event {
            at: row.try_get(0)?,
            kind: row.try_get(1)?,
            actor: row.try_get(2)?,
            comment: row.try_get(3)?,
            resolution: row.try_get(4)?,
            until: row.try_get(5)?,
            severity: row.try_get(6)?,
            message: row.try_get(7)?,
        })
    }
}

/// An alert of the tenant and its history, read from one snapshot in one round trip; `None` when
/// the tenant has no such alert.
pub async fn with_history(
    db: &Db,
    scope: &TenantScope<'_>,
    id: Uuid,
) -> Result<Option<(AlertRow, Vec<EventRow>)>, DbError> {
    let tenant = scope.tenant().as_str();
    let params: &[(&(dyn tokio_postgres::types::ToSql + Sync), Type)] =
        &[(&tenant, Type::TEXT), (&id, Type::UUID)];
    let results = db
        .run(
            scope,
            Access::ReadOnlySnapshot,
            &[
                Stmt { sql: ALERT, params },
                Stmt {
                    sql: HISTORY,
                    params,
                },
            ],
        )
        .await?;
    let mut results = results.into_iter();
    let Some(alert) = results.next().and_then(|rows| rows.into_iter().next()) else {
        return Ok(None);
    };
    let history = results
        .next()
        .unwrap_or_default()
        .into_iter()
        .map(EventRow)
        .collect();
    Ok(Some((AlertRow(alert), history)))
}
