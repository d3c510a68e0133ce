//! Migrating the database: the versioned migrations of `migrations/` (refinery), then the rules'
//! database side (`crate::rules::install_script`) whenever the rules changed.

use super::{AdminError, connect};
use crate::rules;

mod embedded {
    refinery::embed_migrations!("../migrations");
}

/// Applies the migrations that have not run yet, in order, then installs the rules if the
/// database holds another version of them; returns what it applied (`V1__core`, ...,
/// `rules <version>`). Safe to run twice, and by two processes at once (they take turns on an
/// advisory lock).
pub async fn migrate(url: &str) -> Result<Vec<String>, AdminError> {
    let mut client = connect(url).await?;
    const MIGRATION_LOCK: i64 = 0x004d_4158_5f4d_4947; // "MAX_MIG"
    client
        .query("SELECT pg_advisory_lock($1)", &[&MIGRATION_LOCK])
        .await?;
    let applied = async {
        let report = embedded::migrations::runner()
            .run_async(&mut client)
            .await
            .map_err(|error| AdminError::new(format!("migration failed: {error}")))?;
        let mut applied: Vec<String> = report
            .applied_migrations()
            .iter()
            .map(|migration| format!("V{}__{}", migration.version(), migration.name()))
            .collect();
        applied.extend(install_rules(&mut client).await?);
        Ok::<_, AdminError>(applied)
    }
    .await;
    client
        .query("SELECT pg_advisory_unlock($1)", &[&MIGRATION_LOCK])
        .await?;
    applied
}

/// Installs the rules' defaults and clearing function, unless the database has this version.
async fn install_rules(client: &mut tokio_postgres::Client) -> Result<Option<String>, AdminError> {
    let script = rules::install_script(&rules::ALL);
    let version = rules::version(&script);
    let installed: Option<String> = client
        .query_one(
            &format!(
                "SELECT obj_description('{}'::regprocedure, 'pg_proc')",
                rules::CLEARED_SIGNATURE
            ),
            &[],
        )
        .await?
        .get(0);
    if installed.as_deref() == Some(version.as_str()) {
        return Ok(None);
    }
    let tx = client.transaction().await?;
    tx.batch_execute(&script).await?;
    tx.batch_execute(&format!(
        "COMMENT ON FUNCTION {} IS '{version}'",
        rules::CLEARED_SIGNATURE
    ))
    .await?;
    tx.commit().await?;
    Ok(Some(version))
}
