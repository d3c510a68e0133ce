//! Tenants and their API keys, as operators manage them.

use time::OffsetDateTime;
use tokio_postgres::Client;
use tokio_postgres::types::Type;
use uuid::Uuid;

use super::{AdminError, in_tenant};
use crate::tenancy::{ApiKey, Scope, TenantId};

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
    let info = register_key(client, &key, scopes, label).await?;
    Ok((text, info))
}

/// Stores a key's hash with its scopes.
pub async fn register_key(
    client: &mut Client,
    key: &ApiKey,
    scopes: &[Scope],
    label: Option<&str>,
) -> Result<KeyInfo, AdminError> {
    let scopes: Vec<&str> = scopes.iter().map(|scope| scope.as_str()).collect();
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
                    &key.hash(),
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
    if let Some(key) = ApiKey::parse(key_or_prefix) {
        let sql = format!(
            "UPDATE max_api_keys SET revoked_at = now() \
             WHERE tenant_id = $1 AND key_hash = $2 AND revoked_at IS NULL RETURNING {KEY_COLUMNS}"
        );
        return in_tenant(client, key.tenant(), async |tx| {
            Ok(tx
                .query(&sql, &[&key.tenant().as_str(), &key.hash()])
                .await?
                .iter()
                .map(key_info)
                .collect())
        })
        .await;
    }
    let tenant = ApiKey::parse_prefix(key_or_prefix).ok_or_else(|| {
        AdminError::new(
            "expected an API key (mxk_<tenant>_...) or a key prefix as list-keys shows it",
        )
    })?;
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
