//! Resolving an alert by hand.

use tokio_postgres::types::Type;
use uuid::Uuid;

use super::{AlertRow, alert_columns, with_lead, write_one};
use crate::db::{Db, DbError};
use crate::tenancy::TenantScope;

/// Marks an alert resolved unless it already is, and returns it as stored: an alert already
/// resolved is only read (no new row version), and read with a lock, so that a resolution
/// committed meanwhile by another request is the one returned.
pub const RESOLVE: &str = concat!(
    "WITH resolved AS (",
    "UPDATE max_alerts SET resolved_at = now(), resolved_by = $3, resolution = 'manual' ",
    "WHERE tenant_id = $1 AND id = $2 AND resolved_at IS NULL ",
    "RETURNING ",
    alert_columns!(),
    "), ",
    "already AS (",
    "SELECT ",
    alert_columns!(),
    " FROM max_alerts ",
    "WHERE tenant_id = $1 AND id = $2 AND NOT EXISTS (SELECT FROM resolved) ",
    "FOR SHARE), ",
    // A data-modifying WITH stays at the top level: the lead's directory entry is joined here.
    "alert AS (SELECT * FROM resolved UNION ALL SELECT * FROM already) ",
    with_lead!("SELECT * FROM alert", "")
);

/// Resolves an alert of the tenant, as `actor` (`user:<id>`, `api-key:<prefix>`). Resolving again
/// writes nothing and returns the alert as first resolved; two concurrent resolutions agree, as
/// the second waits for the first's row lock and then reads what it committed. `None` when the
/// tenant has no such alert.
pub async fn resolve(
    db: &Db,
    scope: &TenantScope<'_>,
    id: Uuid,
    actor: &str,
) -> Result<Option<AlertRow>, DbError> {
    let tenant = scope.tenant().as_str();
    write_one(
        db,
        scope,
        RESOLVE,
        &[
            (&tenant, Type::TEXT),
            (&id, Type::UUID),
            (&actor, Type::TEXT),
        ],
    )
    .await
}
