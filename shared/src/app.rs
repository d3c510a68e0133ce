//! What a function builds once at cold start and lends to every request.

use crate::auth::{Caller, Credential, Scope};
use crate::db::{Access, ConfigError, Db, DbConfig, TenantScope};
use crate::error::ApiError;

/// The state of a running function: built in `main`, shared by every invocation.
#[derive(Clone)]
pub struct App {
    pub db: Db,
}

impl App {
    pub fn new(db: Db) -> Self {
        Self { db }
    }

    /// Reads the configuration from the environment and builds the pool (see [`DbConfig::from_env`]).
    pub fn from_env(function: &str) -> Result<Self, ConfigError> {
        let config = DbConfig::from_env(function)?;
        Ok(Self::new(Db::connect_lazily(&config)?))
    }

    /// The tenant scope under which a caller's work runs, for a scope of access.
    ///
    /// The key itself is checked by the database with the work. `X-Tenant` naming another
    /// tenant is a 403, but only for a valid key: that takes one round trip of its own, so that a
    /// bad key is still a 401.
    pub async fn authorize<'c>(
        &self,
        caller: &'c Caller,
        scope: Scope,
    ) -> Result<TenantScope<'c>, ApiError> {
        let tenant_scope = match &caller.credential {
            Credential::ApiKey(key) => TenantScope::ApiKey {
                tenant: key.tenant(),
                key_hash: key.hash(),
                scope,
            },
        };
        if caller.asks_for_another_tenant() {
            self.db
                .run(&tenant_scope, Access::ReadOnlySnapshot, &[])
                .await?;
            return Err(ApiError::forbidden(
                "X-Tenant names another tenant than the credential's.",
            ));
        }
        Ok(tenant_scope)
    }
}
