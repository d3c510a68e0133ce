//! A tenant's WhatsApp through Green-API, as operators manage it: the webhook token of its
//! instance (created, rotated, revoked; shown once, stored as its hash), the numbers of its leads,
//! and the messages of numbers no lead has yet.

use time::OffsetDateTime;
use tokio_postgres::Client;
use tokio_postgres::types::Type;

use super::{AdminError, ensure_tenant, in_tenant};
use crate::leads::{LeadId, LeadName, Phone};
use crate::tenancy::{TenantId, WebhookToken};
use crate::whatsapp::InstanceId;

/// A webhook token as an operator sees it (never the token itself).
#[derive(Debug, Clone)]
pub struct WebhookTokenInfo {
    pub tenant: String,
    pub instance: i64,
    pub prefix: String,
    pub created_at: OffsetDateTime,
    pub revoked_at: Option<OffsetDateTime>,
}

const TOKEN_COLUMNS: &str = "tenant_id, instance_id, prefix, created_at, revoked_at";

fn token_info(row: &tokio_postgres::Row) -> WebhookTokenInfo {
    WebhookTokenInfo {
        tenant: row.get("tenant_id"),
        instance: row.get("instance_id"),
        prefix: row.get("prefix"),
        created_at: row.get("created_at"),
        revoked_at: row.get("revoked_at"),
    }
}

/// What to do with the live token of the instance, if there is one, when making a new one.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Existing {
    /// Refuse: the instance already has a live token.
    Refuse,
    /// Revoke it in the same transaction (a rotation).
    Revoke,
}

/// Makes a webhook token for the tenant's Green-API instance (creating the tenant if needed) and
/// returns it, shown once and stored only as its hash.
pub async fn create_webhook_token(
    client: &mut Client,
    tenant: &TenantId,
    instance: InstanceId,
    existing: Existing,
) -> Result<(String, WebhookTokenInfo), AdminError> {
    ensure_tenant(client, tenant, tenant.as_str()).await?;
    let (text, token) = WebhookToken::generate(tenant)
        .map_err(|error| AdminError::new(format!("no randomness available: {error}")))?;
    let info = register_webhook_token(client, &token, instance, existing).await?;
    Ok((text, info))
}

/// Stores a token's hash for the instance.
pub async fn register_webhook_token(
    client: &mut Client,
    token: &WebhookToken,
    instance: InstanceId,
    existing: Existing,
) -> Result<WebhookTokenInfo, AdminError> {
    let tenant = token.tenant();
    let revoke = "UPDATE max_webhook_tokens SET revoked_at = now() \
                  WHERE tenant_id = $1 AND instance_id = $2 AND revoked_at IS NULL";
    let insert = format!(
        "INSERT INTO max_webhook_tokens (tenant_id, instance_id, token_hash, prefix) \
         VALUES ($1, $2, $3, $4) RETURNING {TOKEN_COLUMNS}"
    );
    let result = in_tenant(client, tenant, async |tx| {
        if existing == Existing::Revoke {
            tx.execute(revoke, &[&tenant.as_str(), &instance.0]).await?;
        }
        let row = tx
            .query_one(
                &insert,
                &[
                    &tenant.as_str(),
                    &instance.0,
                    &token.hash(),
                    &token.prefix(),
                ],
            )
            .await?;
        Ok(token_info(&row))
    })
    .await;
    match result {
        Err(error) if error.sqlstate() == Some("23505") => Err(AdminError::new(format!(
            "Green-API instance {} already has a live webhook token{}",
            instance.0,
            match existing {
                Existing::Refuse => " (rotate it, or revoke it first)",
                Existing::Revoke => ", of another tenant",
            }
        ))),
        other => other,
    }
}

/// Revokes the tenant's live tokens, of one instance or of all; returns them.
pub async fn revoke_webhook_tokens(
    client: &mut Client,
    tenant: &TenantId,
    instance: Option<InstanceId>,
) -> Result<Vec<WebhookTokenInfo>, AdminError> {
    let sql = format!(
        "UPDATE max_webhook_tokens SET revoked_at = now() \
         WHERE tenant_id = $1 AND ($2::int8 IS NULL OR instance_id = $2) AND revoked_at IS NULL \
         RETURNING {TOKEN_COLUMNS}"
    );
    let instance = instance.map(|id| id.0);
    in_tenant(client, tenant, async |tx| {
        Ok(tx
            .query_typed(
                &sql,
                &[(&tenant.as_str(), Type::TEXT), (&instance, Type::INT8)],
            )
            .await?
            .iter()
            .map(token_info)
            .collect())
    })
    .await
}

/// The tenant's webhook tokens, oldest first.
pub async fn list_webhook_tokens(
    client: &mut Client,
    tenant: &TenantId,
) -> Result<Vec<WebhookTokenInfo>, AdminError> {
    let sql = format!(
        "SELECT {TOKEN_COLUMNS} FROM max_webhook_tokens WHERE tenant_id = $1 ORDER BY created_at, id"
    );
    in_tenant(client, tenant, async |tx| {
        Ok(tx
            .query(&sql, &[&tenant.as_str()])
            .await?
            .iter()
            .map(token_info)
            .collect())
    })
    .await
}

/// Maps a number to a lead of the tenant (or moves it to another lead), and brings the number's
/// unmatched messages into the lead's activities with their own times. Returns how many joined.
pub async fn map_phone(
    client: &mut Client,
    tenant: &TenantId,
    phone: &Phone,
    lead: &LeadId,
    name: Option<&LeadName>,
) -> Result<i32, AdminError> {
    let name = name.map(LeadName::as_str);
    in_tenant(client, tenant, async |tx| {
        Ok(tx
            .query_one(
                "SELECT max_map_phone($1, $2, $3, $4)",
                &[&tenant.as_str(), &phone.as_str(), &lead.as_str(), &name],
            )
            .await?
            .get(0))
    })
    .await
}

/// A number that wrote or was written to, that no lead has yet.
#[derive(Debug, Clone, PartialEq)]
pub struct UnmatchedNumber {
    pub phone: String,
    /// The latest name WhatsApp showed for it.
    pub sender_name: Option<String>,
    pub messages: i64,
    pub first_at: OffsetDateTime,
    pub last_at: OffsetDateTime,
}

/// The tenant's numbers with unmatched messages, most recent first.
pub async fn unmatched(
    client: &mut Client,
    tenant: &TenantId,
) -> Result<Vec<UnmatchedNumber>, AdminError> {
    let sql = "SELECT phone::text, \
                      (array_agg(sender_name::text ORDER BY occurred_at DESC) \
                         FILTER (WHERE sender_name IS NOT NULL))[1] AS sender_name, \
                      count(*) AS messages, min(occurred_at) AS first_at, \
                      max(occurred_at) AS last_at \
                 FROM max_unmatched_messages WHERE tenant_id = $1 \
                GROUP BY phone ORDER BY last_at DESC, phone";
    in_tenant(client, tenant, async |tx| {
        Ok(tx
            .query(sql, &[&tenant.as_str()])
            .await?
            .iter()
            .map(|row| UnmatchedNumber {
                phone: row.get("phone"),
                sender_name: row.get("sender_name"),
                messages: row.get("messages"),
                first_at: row.get("first_at"),
                last_at: row.get("last_at"),
            })
            .collect())
    })
    .await
}
