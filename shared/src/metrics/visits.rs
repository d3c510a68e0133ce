//! The widget's users, for adoption: a user who reads the active alerts with their own token has
//! opened the widget that day (the tenant's day). Each function instance writes a user's visit
//! at most once every [`RECORD_EVERY`]; the database keeps one row per user and day.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use tokio_postgres::types::Type;

use crate::db::{Access, Db, DbError, Stmt};
use crate::tenancy::TenantScope;

/// How often an instance writes the visit of a user who keeps reading: a day boundary passed in
/// between is seen within this time.
pub const RECORD_EVERY: Duration = Duration::from_secs(10 * 60);

/// The most users an instance remembers; past it, it forgets them all (and writes again).
const REMEMBERED: usize = 10_000;

/// Records a visit (`$1` the tenant, `$2` the user) on the tenant's day.
pub const RECORD_VISIT: &str = "INSERT INTO max_widget_visits (tenant_id, day, user_id) \
     VALUES ($1, (now() AT TIME ZONE max_tenant_time_zone($1))::date, $2) ON CONFLICT DO NOTHING";

/// Which users an instance has recorded lately. Cheap to clone (shared).
#[derive(Clone, Default)]
pub struct Visits {
    recorded: Arc<Mutex<HashMap<(String, String), Instant>>>,
}

impl Visits {
    /// Whether the visit of `user` of `tenant` should be written now; if so, it counts as written.
    fn due(&self, tenant: &str, user: &str, now: Instant) -> bool {
        let mut recorded = self.recorded.lock().unwrap_or_else(|e| e.into_inner());
        let key = (tenant.to_owned(), user.to_owned());
        if recorded
            .get(&key)
            .is_some_and(|at| now.duration_since(*at) < RECORD_EVERY)
        {
            return false;
        }
        if recorded.len() >= REMEMBERED {
            recorded.clear();
        }
        recorded.insert(key, now);
        true
    }

    /// Records that `user` opened the widget, unless this instance did lately. A failure is
    /// forgotten, so that the next read tries again.
    pub async fn record(
        &self,
        db: &Db,
        scope: &TenantScope<'_>,
        user: &str,
    ) -> Result<(), DbError> {
        let tenant = scope.tenant().as_str();
        if !self.due(tenant, user, Instant::now()) {
            return Ok(());
        }
        let written = db
            .run(
                scope,
                Access::ReadWrite,
                &[Stmt {
                    sql: RECORD_VISIT,
                    params: &[(&tenant, Type::TEXT), (&user, Type::TEXT)],
                }],
            )
            .await;
        if written.is_err() {
            let mut recorded = self.recorded.lock().unwrap_or_else(|e| e.into_inner());
            recorded.remove(&(tenant.to_owned(), user.to_owned()));
        }
        written.map(drop)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_user_is_written_once_per_interval() {
        let visits = Visits::default();
        let start = Instant::now();
        assert!(visits.due("macrea", "u1", start));
        assert!(!visits.due("macrea", "u1", start + Duration::from_secs(60)));
        assert!(visits.due("macrea", "u2", start + Duration::from_secs(60)));
        assert!(visits.due("other", "u1", start + Duration::from_secs(60)));
        assert!(visits.due("macrea", "u1", start + RECORD_EVERY));
    }
}
