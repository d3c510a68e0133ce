//! Resolving an alert by hand.

use tokio_postgres::types::Type;
use uuid::Uuid;

use super::{AlertRow, alert_columns};
use crate::db::{Access, Db, DbError, Stmt};
use crate::tenancy::TenantScope;

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

/// Resolves an alert of the tenant, as `actor` (`user:<id>`, `api-key:<prefix>`). Resolving again
/// changes nothing and returns the alert as first resolved; two concurrent resolutions agree, as
/// the second waits for the first's row lock and then keeps its values. `None` when the tenant
/// has no such alert.
pub async fn resolve(
    db: &Db,
    scope: &TenantScope<'_>,
    id: Uuid,
    actor: &str,
) -> Result<Option<AlertRow>, DbError> {
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
