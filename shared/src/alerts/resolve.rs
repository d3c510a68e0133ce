//! Resolving an alert by hand.

use tokio_postgres::types::Type;
use uuid::Uuid;

use super::{AlertRow, change_one, write_one};
use crate::db::{Db, DbError};
use crate::tenancy::TenantScope;

/// Marks an alert resolved unless it already is, and returns it as stored: an alert already
/// resolved is only read (no new row version), and read with a lock, so that a resolution
/// committed meanwhile by another request is the one returned.
pub const RESOLVE: &str = change_one!(
    "resolved_at = now(), resolved_by = $3, resolution = 'manual'",
    "resolved_at IS NULL"
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
