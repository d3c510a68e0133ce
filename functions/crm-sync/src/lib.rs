//! The `crm-sync` function: on each scheduled event (EventBridge), the EspoCRM sync of every
//! tenant it is given (`CRM_TENANTS`), one after the other, each with its own connection secret
//! (see `shared::crm`). A CRM that fails is that tenant's report, never the others' run.

use lambda_runtime::{Error, LambdaEvent};
use serde_json::Value;
use shared::config::ConfigError;
use shared::crm::connection::Connections;
use shared::crm::sync::{Report, Settings, sync_tenant};
use shared::db::Db;
use shared::tenancy::TenantId;

/// What the function reads at cold start.
#[derive(Debug, Clone)]
pub struct CrmSync {
    /// `CRM_TENANTS`: the tenants to sync, comma-separated.
    pub tenants: Vec<TenantId>,
    pub connections: Connections,
    pub settings: Settings,
}

impl CrmSync {
    pub fn from_env() -> Result<Self, ConfigError> {
        Ok(Self {
            tenants: tenants(&std::env::var("CRM_TENANTS").unwrap_or_default())?,
            connections: Connections::from_env(),
            settings: Settings::default(),
        })
    }
}

/// `acme, macrea` into tenant ids; an empty list is no tenant.
pub fn tenants(list: &str) -> Result<Vec<TenantId>, ConfigError> {
    list.split(',')
        .map(str::trim)
        .filter(|name| !name.is_empty())
        .map(|name| TenantId::parse(name).ok_or(ConfigError::Invalid("CRM_TENANTS")))
        .collect()
}

/// Syncs every tenant and returns their reports. A database failure is an error, so that the
/// scheduler retries the invocation; a tenant's CRM failing, or its secret missing, is in its
/// report.
pub async fn handle(
    db: &Db,
    sync: &CrmSync,
    event: LambdaEvent<Value>,
) -> Result<Vec<Report>, Error> {
    let scheduled_at = event
        .payload
        .get("time")
        .and_then(Value::as_str)
        .unwrap_or("-");
    tracing::debug!(scheduled_at, request_id = %event.context.request_id, "crm sync triggered");
    let mut reports = Vec::with_capacity(sync.tenants.len());
    for tenant in &sync.tenants {
        let connection = match sync.connections.of(tenant).await {
            Ok(Some(connection)) => connection,
            Ok(None) | Err(_) => {
                tracing::warn!(%tenant, "crm sync: no connection for this tenant");
                reports.push(Report::not_configured(tenant));
                continue;
            }
        };
        match sync_tenant(db, tenant, &connection, &sync.settings, false, false).await {
            Ok(report) => reports.push(report),
            Err(error) => {
                tracing::error!(%tenant, %error, "crm sync failed");
                return Err("crm sync failed: the database is unavailable".into());
            }
        }
    }
    Ok(reports)
}
