//! Operator work: creating the database, migrating it, tenants and API keys. Used by the local
//! runner (`max-local`) and tests; never by the functions, which cannot even reach these tables.
//!
//! These run as the tables' owner. Where the owner is subject to Row Level Security (on a managed
//! PostgreSQL the owner is often not a superuser), each transaction names its tenant first.

use std::fmt;

use time::OffsetDateTime;
use tokio_postgres::types::Type;
use tokio_postgres::{Client, NoTls};
use uuid::Uuid;

use crate::auth::{ApiKey, Scope, TenantId};

mod embedded {
    refinery::embed_migrations!("../migrations");
}

/// Any failure of an operator command, with a message fit for a terminal (never a password).
#[derive(Debug)]
pub struct AdminError(String);

impl fmt::Display for AdminError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for AdminError {}

impl AdminError {
    pub fn new(message: impl Into<String>) -> Self {
        Self(message.into())
    }
}

impl From<tokio_postgres::Error> for AdminError {
    fn from(error: tokio_postgres::Error) -> Self {
        match error.as_db_error() {
            Some(db) => Self(format!(
                "database error {}: {}",
                db.code().code(),
                db.message()
            )),
            None => Self(format!("database connection error: {error}")),
        }
    }
}

/// Opens one connection, with its driver task running in the background.
pub async fn connect(url: &str) -> Result<Client, AdminError> {
    let (client, connection) = tokio_postgres::connect(url, NoTls).await?;
    tokio::spawn(async move {
        if let Err(error) = connection.await {
            tracing::debug!(%error, "admin connection closed");
        }
    });
    Ok(client)
}

/// The same URL with another database name (`postgres://u@h:5432/<name>?...`).
pub fn with_database(url: &str, name: &str) -> Result<String, AdminError> {
    let invalid =
        || AdminError::new("DATABASE_URL must be a URL: postgres://user@host:port/database");
    let (scheme, rest) = url.split_once("://").ok_or_else(invalid)?;
    let (before_query, query) = match rest.split_once('?') {
        Some((before, query)) => (before, Some(query)),
        None => (rest, None),
    };
    let authority = before_query.split('/').next().ok_or_else(invalid)?;
    let mut out = format!("{scheme}://{authority}/{name}");
    if let Some(query) = query {
        out.push('?');
        out.push_str(query);
    }
    Ok(out)
}

/// The database name of a URL.
pub fn database_name(url: &str) -> Option<String> {
    let rest = url.split_once("://")?.1;
    let path = rest.split('?').next()?.split_once('/')?.1;
    (!path.is_empty()).then(|| path.to_owned())
}

/// Creates the database of `url` if it does not exist yet (connecting to `postgres` to do so).
/// Returns whether it was created.
pub async fn ensure_database(url: &str) -> Result<bool, AdminError> {
    let name =
        database_name(url).ok_or_else(|| AdminError::new("DATABASE_URL names no database"))?;
    match connect(url).await {
        Ok(_) => return Ok(false),
        Err(error) if !error.0.contains("3D000") => return Err(error),
        Err(_) => {}
    }
    let admin = connect(&with_database(url, "postgres")?).await?;
    let quoted = format!("\"{}\"", name.replace('"', "\"\""));
    match admin
        .batch_execute(&format!("CREATE DATABASE {quoted}"))
        .await
    {
        Ok(()) => Ok(true),
        // Created meanwhile by someone else.
        Err(error)
            if error
                .as_db_error()
                .is_some_and(|db| db.code().code() == "42P04") =>
        {
            Ok(false)
        }
        Err(error) => Err(error.into()),
    }
}

/// Applies the migrations that have not run yet, in order, and returns their names. Safe to run
/// twice, and by two processes at once (they take turns on an advisory lock).
pub async fn migrate(url: &str) -> Result<Vec<String>, AdminError> {
    let mut client = connect(url).await?;
    const MIGRATION_LOCK: i64 = 0x004d_4158_5f4d_4947; // "MAX_MIG"
    client
        .query("SELECT pg_advisory_lock($1)", &[&MIGRATION_LOCK])
        .await?;
    let report = embedded::migrations::runner()
        .run_async(&mut client)
        .await
        .map_err(|error| AdminError::new(format!("migration failed: {error}")));
    client
        .query("SELECT pg_advisory_unlock($1)", &[&MIGRATION_LOCK])
        .await?;
    Ok(report?
        .applied_migrations()
        .iter()
        .map(|migration| format!("V{}__{}", migration.version(), migration.name()))
        .collect())
}

/// Runs `work` in a transaction where `app.tenant_id` names the tenant, so that Row Level Security
/// lets an owner who is not a superuser reach that tenant's rows.
async fn in_tenant<T>(
    client: &mut Client,
    tenant: &TenantId,
    work: impl AsyncFnOnce(&tokio_postgres::Transaction<'_>) -> Result<T, tokio_postgres::Error>,
) -> Result<T, AdminError> {
    let tx = client.transaction().await?;
    tx.query_typed(
        "SELECT set_config('app.tenant_id', $1, true)",
        &[(&tenant.as_str(), Type::TEXT)],
    )
    .await?;
    let result = work(&tx).await?;
    tx.commit().await?;
    Ok(result)
}

/// Creates a tenant unless it exists; returns whether it was created.
pub async fn ensure_tenant(
    client: &mut Client,
    tenant: &TenantId,
    name: &str,
) -> Result<bool, AdminError> {
    in_tenant(client, tenant, async |tx| {
        let rows = tx
            .query_typed(
                "INSERT INTO max_tenants (id, name) VALUES ($1, $2) ON CONFLICT (id) DO NOTHING RETURNING id",
                &[(&tenant.as_str(), Type::TEXT), (&name, Type::TEXT)],
            )
            .await?;
        Ok(!rows.is_empty())
    })
    .await
}

/// A key as an operator sees it (never the key itself).
#[derive(Debug, Clone)]
pub struct KeyInfo {
    pub id: Uuid,
    pub tenant: String,
    pub prefix: String,
    pub scopes: Vec<String>,
    pub label: Option<String>,
    pub created_at: OffsetDateTime,
    pub revoked_at: Option<OffsetDateTime>,
}

const KEY_COLUMNS: &str = "id, tenant_id, prefix, scopes, label, created_at, revoked_at";

fn key_info(row: &tokio_postgres::Row) -> KeyInfo {
    KeyInfo {
        id: row.get("id"),
        tenant: row.get("tenant_id"),
        prefix: row.get("prefix"),
        scopes: row.get("scopes"),
        label: row.get("label"),
        created_at: row.get("created_at"),
        revoked_at: row.get("revoked_at"),
    }
}

/// Creates a key for a tenant (creating the tenant if needed). Returns the key, which is shown
/// once and stored only as its hash.
pub async fn create_key(
    client: &mut Client,
    tenant: &TenantId,
    scopes: &[Scope],
    label: Option<&str>,
) -> Result<(String, KeyInfo), AdminError> {
    if scopes.is_empty() {
        return Err(AdminError::new("a key needs at least one scope"));
    }
    ensure_tenant(client, tenant, tenant.as_str()).await?;
    let (text, key) = ApiKey::generate(tenant)
        .map_err(|error| AdminError::new(format!("no randomness available: {error}")))?;
    let scopes: Vec<&str> = scopes.iter().map(|scope| scope.as_str()).collect();
    let info = register_key(client, &key, &scopes, label).await?;
    Ok((text, info))
}

/// Stores a key's hash with its scopes.
pub async fn register_key(
    client: &mut Client,
    key: &ApiKey,
    scopes: &[&str],
    label: Option<&str>,
) -> Result<KeyInfo, AdminError> {
    let hash: &[u8] = key.hash();
    let sql = format!(
        "INSERT INTO max_api_keys (tenant_id, key_hash, prefix, scopes, label) \
         VALUES ($1, $2, $3, $4, $5) RETURNING {KEY_COLUMNS}"
    );
    in_tenant(client, key.tenant(), async |tx| {
        let row = tx
            .query_one(
                &sql,
                &[
                    &key.tenant().as_str(),
                    &hash,
                    &key.prefix(),
                    &scopes,
                    &label,
                ],
            )
            .await?;
        Ok(key_info(&row))
    })
    .await
}

/// Revokes a key given whole or by its prefix (as `list-keys` shows it). Returns the keys revoked
/// now; a key already revoked is left as it was.
pub async fn revoke_key(
    client: &mut Client,
    key_or_prefix: &str,
) -> Result<Vec<KeyInfo>, AdminError> {
    let key_or_prefix = key_or_prefix.trim();
    let not_a_key = || {
        AdminError::new(
            "expected an API key (mxk_<tenant>_...) or a key prefix as list-keys shows it",
        )
    };
    if let Some(key) = ApiKey::parse(key_or_prefix) {
        let hash: &[u8] = key.hash();
        let sql = format!(
            "UPDATE max_api_keys SET revoked_at = now() \
             WHERE tenant_id = $1 AND key_hash = $2 AND revoked_at IS NULL RETURNING {KEY_COLUMNS}"
        );
        return in_tenant(client, key.tenant(), async |tx| {
            Ok(tx
                .query(&sql, &[&key.tenant().as_str(), &hash])
                .await?
                .iter()
                .map(key_info)
                .collect())
        })
        .await;
    }
    // A prefix: `mxk_<tenant>_` and five characters of the secret.
    let rest = key_or_prefix.strip_prefix("mxk_").ok_or_else(not_a_key)?;
    let (tenant, secret_start) = rest.rsplit_once('_').ok_or_else(not_a_key)?;
    let tenant = TenantId::parse(tenant).ok_or_else(not_a_key)?;
    if secret_start.len() != crate::auth::PREFIX_SECRET_CHARS
        || !secret_start.bytes().all(|b| b.is_ascii_alphanumeric())
    {
        return Err(not_a_key());
    }
    let sql = format!(
        "SELECT {KEY_COLUMNS} FROM max_api_keys WHERE tenant_id = $1 AND prefix = $2 AND revoked_at IS NULL"
    );
    let update = format!(
        "UPDATE max_api_keys SET revoked_at = now() WHERE tenant_id = $1 AND id = $2 RETURNING {KEY_COLUMNS}"
    );
    in_tenant(client, &tenant, async |tx| {
        let matches = tx.query(&sql, &[&tenant.as_str(), &key_or_prefix]).await?;
        if matches.len() != 1 {
            // None, or ambiguous: revoke nothing.
            return Ok(Vec::new());
        }
        let id: Uuid = matches[0].get("id");
        Ok(tx
            .query(&update, &[&tenant.as_str(), &id])
            .await?
            .iter()
            .map(key_info)
            .collect())
    })
    .await
}

/// The keys of a tenant, oldest first.
pub async fn list_keys(client: &mut Client, tenant: &TenantId) -> Result<Vec<KeyInfo>, AdminError> {
    let sql = format!(
        "SELECT {KEY_COLUMNS} FROM max_api_keys WHERE tenant_id = $1 ORDER BY created_at, id"
    );
    in_tenant(client, tenant, async |tx| {
        Ok(tx
            .query(&sql, &[&tenant.as_str()])
            .await?
            .iter()
            .map(key_info)
            .collect())
    })
    .await
}

/// Revokes every active key of a tenant that carries `label`; returns how many.
pub async fn revoke_labelled(
    client: &mut Client,
    tenant: &TenantId,
    label: &str,
) -> Result<u64, AdminError> {
    in_tenant(client, tenant, async |tx| {
        tx.execute(
            "UPDATE max_api_keys SET revoked_at = now() WHERE tenant_id = $1 AND label = $2 AND revoked_at IS NULL",
            &[&tenant.as_str(), &label],
        )
        .await
    })
    .await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_url_can_name_another_database() {
        assert_eq!(
            with_database("postgres://u:p@h:5432/max?sslmode=disable", "postgres").unwrap(),
            "postgres://u:p@h:5432/postgres?sslmode=disable"
        );
        assert_eq!(
            with_database("postgresql://h", "x").unwrap(),
            "postgresql://h/x"
        );
        assert_eq!(
            database_name("postgres://h:1/max_local?x=1").as_deref(),
            Some("max_local")
        );
        assert_eq!(database_name("postgres://h:1"), None);
    }
}

/// A rule as it applies to a tenant: its default, or the tenant's override.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RuleSetting {
    pub rule: String,
    pub enabled: bool,
    pub threshold_seconds: i64,
    pub severity: String,
    /// Whether the tenant overrides any of the defaults.
    pub overridden: bool,
    pub description: String,
}

/// A change to one rule for one tenant; `None` leaves a setting as it is.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RuleChange {
    pub enabled: Option<bool>,
    /// A threshold as `parse_threshold` reads it.
    pub threshold_seconds: Option<i64>,
    pub severity: Option<String>,
}

/// Reads a threshold: `0`, or a whole number followed by `m` (minutes), `h` (hours) or `d` (days).
pub fn parse_threshold(text: &str) -> Option<i64> {
    let text = text.trim();
    if text == "0" {
        return Some(0);
    }
    let (number, unit) = text.split_at(text.len().checked_sub(1)?);
    let number: i64 = number.parse().ok().filter(|n| *n >= 0)?;
    let seconds = match unit {
        "m" => 60,
        "h" => 3600,
        "d" => 86_400,
        _ => return None,
    };
    number.checked_mul(seconds)
}

/// `7d`, `4h`, `90m`, `0`: a threshold as an operator writes it.
pub fn format_threshold(seconds: i64) -> String {
    match seconds {
        0 => "0".into(),
        s if s % 86_400 == 0 => format!("{}d", s / 86_400),
        s if s % 3600 == 0 => format!("{}h", s / 3600),
        s if s % 60 == 0 => format!("{}m", s / 60),
        s => format!("{s}s"),
    }
}

/// The effective rule settings of a tenant, in priority order.
pub async fn rules(client: &mut Client, tenant: &TenantId) -> Result<Vec<RuleSetting>, AdminError> {
    in_tenant(client, tenant, async |tx| {
        let rows = tx
            .query(
                "SELECT d.rule, coalesce(o.enabled, d.enabled),
                        extract(epoch FROM coalesce(o.threshold, d.threshold))::bigint,
                        coalesce(o.severity, d.severity), o.rule IS NOT NULL, d.description
                   FROM max_alert_rule_defaults d
                   LEFT JOIN max_alert_rules o ON o.tenant_id = $1 AND o.rule = d.rule
                  ORDER BY d.priority",
                &[&tenant.as_str()],
            )
            .await?;
        Ok(rows
            .iter()
            .map(|row| RuleSetting {
                rule: row.get(0),
                enabled: row.get(1),
                threshold_seconds: row.get(2),
                severity: row.get(3),
                overridden: row.get(4),
                description: row.get(5),
            })
            .collect())
    })
    .await
}

/// Changes one rule for a tenant (`reset`: back to the defaults), and has the evaluator look at
/// every lead of the tenant again at its next pass.
pub async fn set_rule(
    client: &mut Client,
    tenant: &TenantId,
    rule: &str,
    change: &RuleChange,
    reset: bool,
) -> Result<(), AdminError> {
    let known: bool = client
        .query_one(
            "SELECT EXISTS (SELECT FROM max_alert_rule_defaults WHERE rule = $1)",
            &[&rule],
        )
        .await?
        .get(0);
    if !known {
        return Err(AdminError::new(format!(
            "unknown rule {rule:?}: use UnansweredInbound, DeliveryFailed, NoContact7d or NoReply3d"
        )));
    }
    if let Some(severity) = &change.severity
        && !["high", "medium", "low"].contains(&severity.as_str())
    {
        return Err(AdminError::new("severity must be high, medium or low"));
    }
    in_tenant(client, tenant, async |tx| {
        if reset {
            tx.execute(
                "DELETE FROM max_alert_rules WHERE tenant_id = $1 AND rule = $2",
                &[&tenant.as_str(), &rule],
            )
            .await?;
        }
        if change != &RuleChange::default() {
            tx.execute(
                "INSERT INTO max_alert_rules AS r (tenant_id, rule, enabled, threshold, severity)
                 VALUES ($1, $2, $3, make_interval(secs => $4::bigint), $5)
                 ON CONFLICT (tenant_id, rule) DO UPDATE SET
                     enabled = coalesce(excluded.enabled, r.enabled),
                     threshold = coalesce(excluded.threshold, r.threshold),
                     severity = coalesce(excluded.severity, r.severity),
                     updated_at = now()",
                &[
                    &tenant.as_str(),
                    &rule,
                    &change.enabled,
                    &change.threshold_seconds,
                    &change.severity,
                ],
            )
            .await?;
        }
        tx.execute(
            "UPDATE max_lead_states SET next_check_at = now() WHERE tenant_id = $1",
            &[&tenant.as_str()],
        )
        .await?;
        Ok(())
    })
    .await
}

#[cfg(test)]
mod rule_tests {
    use super::*;

    #[test]
    fn thresholds_read_and_print_alike() {
        assert_eq!(parse_threshold("7d"), Some(7 * 86_400));
        assert_eq!(parse_threshold("4h"), Some(4 * 3600));
        assert_eq!(parse_threshold("90m"), Some(90 * 60));
        assert_eq!(parse_threshold("0"), Some(0));
        for bad in ["", "d", "7", "-1d", "7w", "1.5d"] {
            assert_eq!(parse_threshold(bad), None, "{bad}");
        }
        assert_eq!(format_threshold(7 * 86_400), "7d");
        assert_eq!(format_threshold(4 * 3600), "4h");
        assert_eq!(format_threshold(90 * 60), "90m");
        assert_eq!(format_threshold(0), "0");
    }
}
