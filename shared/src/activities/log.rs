//! The SQL that logs an activity, once.

use tokio_postgres::Row;
use tokio_postgres::types::{ToSql, Type};

use super::{Activity, NewActivity};
use crate::db::{Access, Db, DbError, Stmt};
use crate::tenancy::TenantScope;

/// Inserts the activity, or finds the one a retry with the same `Idempotency-Key` (or the same
/// `externalId` and `status`) already stored. Both halves run in one statement.
pub const LOG_ACTIVITY: &str = "\
WITH inserted AS (
    INSERT INTO lead_activities AS a
           (tenant_id, lead_id, lead_name, channel, direction, status, message_snippet,
            external_id, idempotency_key, occurred_at)
    VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, coalesce($10, now()))
    ON CONFLICT DO NOTHING
    RETURNING a.id, a.lead_id, a.lead_name, a.channel, a.direction, a.status, a.message_snippet,
              a.external_id, a.occurred_at, a.created_at, false AS replayed
)
SELECT * FROM inserted
UNION ALL
(SELECT id, lead_id, lead_name, channel, direction, status, message_snippet,
        external_id, occurred_at, created_at, true AS replayed
   FROM lead_activities
  WHERE tenant_id = $1
    AND NOT EXISTS (SELECT FROM inserted)
    AND (idempotency_key = $9 OR (external_id = $8 AND status = $6))
  ORDER BY created_at
  LIMIT 1)";

/// The outcome of logging: the activity, and whether it had been logged before (a retry).
#[derive(Debug, Clone, PartialEq)]
pub struct Logged {
    pub activity: Activity,
    pub replayed: bool,
}

/// Logs an activity for the tenant: one round trip, nothing stored twice for a retried request.
pub async fn log(db: &Db, scope: &TenantScope<'_>, new: &NewActivity) -> Result<Logged, DbError> {
    let tenant = scope.tenant().as_str();
    let lead_id = new.lead_id.as_str();
    let lead_name = new.lead_name.as_ref().map(|name| name.as_str());
    let (channel, direction, status) = (
        new.channel.as_str(),
        new.direction.as_str(),
        new.status.as_str(),
    );
    let snippet = new.message_snippet.as_ref().map(|snippet| snippet.as_str());
    let external_id = new.external_id.as_ref().map(|id| id.as_str());
    let idempotency_key = new.idempotency_key.as_ref().map(|key| key.as_str());
    let params: &[(&(dyn ToSql + Sync), Type)] = &[
        (&tenant, Type::TEXT),
        (&lead_id, Type::TEXT),
        (&lead_name, Type::TEXT),
        (&channel, Type::TEXT),
        (&direction, Type::TEXT),
        (&status, Type::TEXT),
        (&snippet, Type::TEXT),
        (&external_id, Type::TEXT),
        (&idempotency_key, Type::TEXT),
        (&new.occurred_at, Type::TIMESTAMPTZ),
    ];
    // A concurrent first attempt that commits while this statement runs is invisible to its
    // snapshot: the insert yields to it and the lookup finds nothing. The next statement sees it.
    for _ in 0..3 {
        let rows = db
            .run(
                scope,
                Access::ReadWrite,
                &[Stmt {
                    sql: LOG_ACTIVITY,
                    params,
                }],
            )
            .await?;
        if let Some(row) = rows.first().and_then(|rows| rows.first()) {
            return Ok(Logged {
                activity: activity(row)?,
                replayed: row.try_get("replayed")?,
            });
        }
    }
    Err(DbError::Unexpected(
        "activity neither inserted nor found after retries",
    ))
}

fn activity(row: &Row) -> Result<Activity, DbError> {
    let text_enum = |column: &str| -> Result<&str, DbError> { Ok(row.try_get(column)?) };
    let unexpected = |_| DbError::Unexpected("an activity's channel, direction or status");
    Ok(Activity {
        id: row.try_get("id")?,
        lead_id: row.try_get("lead_id")?,
        lead_name: row.try_get("lead_name")?,
        channel: text_enum("channel")?.parse().map_err(unexpected)?,
        direction: text_enum("direction")?.parse().map_err(unexpected)?,
        status: text_enum("status")?.parse().map_err(unexpected)?,
        message_snippet: row.try_get("message_snippet")?,
        external_id: row.try_get("external_id")?,
        occurred_at: row.try_get("occurred_at")?,
        created_at: row.try_get("created_at")?,
    })
}
