//! What an HTTP function builds once at cold start and lends to every request.

use lambda_http::Request;

use super::{ApiError, Caller};
use crate::config::{Config, ConfigError};
use crate::db::{Access, Db};
use crate::metrics::visits::Visits;
use crate::tenancy::{Credential, JwtVerifier, Scope, TenantScope};

/// The state of a running function: built in `main`, shared by every invocation.
#[derive(Clone)]
pub struct App {
    pub db: Db,
    /// Verifies dashboard users' tokens; `None`: only API keys are accepted.
    pub jwt: Option<JwtVerifier>,
    /// The widget's users this instance recorded lately (adoption, `crate::metrics`).
    pub visits: Visits,
}

impl App {
    pub fn new(db: Db, jwt: Option<JwtVerifier>) -> Self {
        Self {
            db,
            jwt,
            visits: Visits::default(),
        }
    }

    /// Cold start of the function `name`: reads the configuration and the secrets, builds the
    /// pool and the token verifier (fetching the identity providers' keys).
    pub async fn load(name: &str) -> Result<Self, ConfigError> {
        let config = Config::from_env()?;
        let secrets = crate::secrets::load(&config).await?;
        let jwt = JwtVerifier::from_settings(
            &config.tokens,
            secrets
                .jwt_secret
                .as_ref()
                .map(|secret| secret.expose().as_slice()),
        )
        .await?;
        let db = Db::connect_lazily(secrets.database, &config.pool, name)?;
        Ok(Self::new(db, jwt))
    }

    /// The caller of a request (401 when it has no usable credential).
    pub async fn caller(&self, req: &Request) -> Result<Caller, ApiError> {
        Caller::from_request(req, self.jwt.as_ref()).await
    }

    /// The tenant scope under which a caller's work on `input` runs, and the input. The caller is
    /// judged before what it sent: when the input is not valid, an API key is checked on its own
    /// first (one round trip, on that error path only), so that a bad credential is always a 401
    /// and only a caller who may do this learns what is wrong with its request.
    pub async fn authorize_input<'c, T>(
        &self,
        caller: &'c Caller,
        scope: Scope,
        input: Result<T, ApiError>,
    ) -> Result<(TenantScope<'c>, T), ApiError> {
        let tenant_scope = self.authorize(caller, scope).await?;
        match input {
            Ok(input) => Ok((tenant_scope, input)),
            Err(error) => {
                if let TenantScope::ApiKey { .. } = tenant_scope {
                    self.db
                        .run(&tenant_scope, Access::ReadOnlySnapshot, &[])
                        .await?;
                }
                Err(error)
            }
        }
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
                let tenant_scope = TenantScope::ApiKey { key, scope };
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
