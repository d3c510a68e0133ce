//! The SQL that logs an activity, once.

use tokio_postgres::Row;
use tokio_postgres::types::{ToSql, Type};

use super::{Activity, NewActivity};
use crate::db::{Access, Db, DbError, Stmt};
use crate::tenancy::TenantScope;

/// Inserts the activity, or finds the one a retry with the same `Idempotency-Key` (or the same
/// `externalId` and `status`) already stored: `max_log_activity` (migrations/V5), which with an
/// API key also takes the role and checks the key, so that logging is one statement.
pub const LOG_ACTIVITY: &str = "SELECT * FROM max_log_activity(\
    $1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13)";

/// The outcome of logging: the activity, and whether it had been logged before (a retry).
#[derive(Debug, Clone, PartialEq)]
pub struct Logged {
    pub activity: Activity,
    pub replayed: bool,
}

/// Logs an activity for the tenant: one statement, nothing stored twice for a retried request.
///
/// With an API key the statement is the whole transaction (the database checks the key in it);
/// for a tenant the caller verified, it runs after the opening that sets that tenant.
pub async fn log(db: &Db, scope: &TenantScope<'_>, new: &NewActivity) -> Result<Logged, DbError> {
    let own = scope.own_opening();
    let lock_timeout = db.statement_timeout();
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
        (own.tenant, Type::TEXT),
        (&own.key_hash, Type::BYTEA),
        (own.scope, Type::TEXT),
        (&lock_timeout, Type::TEXT),
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
    let stmt = Stmt {
        sql: LOG_ACTIVITY,
        params,
    };
    let rows = match own.key_hash {
        Some(_) => db.run_alone(&stmt).await?,
        None => {
            let mut rows = db.run(scope, Access::ReadWrite, &[stmt]).await?;
            rows.pop().unwrap_or_default()
        }
    };
    match rows.first() {
        Some(row) => Ok(Logged {
            activity: activity(row)?,
            replayed: row.try_get("replayed")?,
        }),
        // The insert yields only to an activity that exists, which the lookup after it finds.
        None => Err(DbError::Unexpected("activity neither inserted nor found")),
    }
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
