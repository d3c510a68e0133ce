//! What a function builds once at cold start and lends to every request.

use lambda_http::Request;

use crate::auth::{Caller, Credential, JwtVerifier, Scope};
use crate::db::{Access, ConfigError, Db, DbConfig, TenantScope};
use crate::error::ApiError;

/// The state of a running function: built in `main`, shared by every invocation.
#[derive(Clone)]
pub struct App {
    pub db: Db,
    /// Verifies dashboard users' tokens; `None`: only API keys are accepted.
    pub jwt: Option<JwtVerifier>,
}

impl App {
    pub fn new(db: Db, jwt: Option<JwtVerifier>) -> Self {
        Self { db, jwt }
    }

    /// Cold start: reads the secrets (Secrets Manager or environment, see [`crate::secrets`]),
    /// builds the pool (see [`DbConfig::from_env`]) and the token verifier (at least 32 bytes,
    /// with the optional `JWT_AUDIENCE` and `JWT_ISSUER`).
    pub async fn load(function: &str) -> Result<Self, ConfigError> {
        let secrets = crate::secrets::load().await?;
        let config = DbConfig::from_env(secrets.database_url, function)?;
        let non_empty = |name| std::env::var(name).ok().filter(|v: &String| !v.is_empty());
        let jwt = match secrets.jwt_secret {
            None => None,
            Some(secret) => Some(
                JwtVerifier::hs256(
                    &secret,
                    non_empty("JWT_AUDIENCE").as_deref(),
                    non_empty("JWT_ISSUER").as_deref(),
                )
                .map_err(|_| ConfigError::Invalid("JWT_SECRET"))?,
            ),
        };
        Ok(Self::new(Db::connect_lazily(&config)?, jwt))
    }

    /// The caller of a request (401 when it has no usable credential).
    pub fn caller(&self, req: &Request) -> Result<Caller, ApiError> {
        Caller::from_request(req, self.jwt.as_ref())
    }

    /// The tenant scope under which a caller's work runs, for a scope of access.
    ///
    /// An API key is checked by the database with the work; `X-Tenant` naming another tenant is a
    /// 403, but only for a valid key: that takes one round trip of its own, so that a bad key is
    /// still a 401. A user's token was verified already.
    pub async fn authorize<'c>(
        &self,
        caller: &'c Caller,
        scope: Scope,
    ) -> Result<TenantScope<'c>, ApiError> {
        let forbidden_tenant =
            || ApiError::forbidden("X-Tenant names another tenant than the credential's.");
        match &caller.credential {
            Credential::ApiKey(key) => {
                let tenant_scope = TenantScope::ApiKey {
                    tenant: key.tenant(),
                    key_hash: key.hash(),
                    scope,
                };
                if caller.asks_for_another_tenant() {
                    self.db
                        .run(&tenant_scope, Access::ReadOnlySnapshot, &[])
                        .await?;
                    return Err(forbidden_tenant());
                }
                Ok(tenant_scope)
            }
            Credential::User(user) => {
                if !user.scopes.contains(&scope) {
                    return Err(ApiError::forbidden(
                        "This credential may not perform this operation.",
                    ));
                }
                if caller.asks_for_another_tenant() {
                    return Err(forbidden_tenant());
                }
                Ok(TenantScope::Verified(&user.tenant))
            }
        }
    }
}
