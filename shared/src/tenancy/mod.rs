//! Who acts, for which tenant: tenant ids, scopes, API keys, users' tokens (and their issuers'
//! published keys, `jwks`), and how a transaction
//! gets its tenant.
//!
//! Every transaction of a request first switches to the role `max_app` (which Row Level Security
//! binds), bounds the statement time, and sets the tenant (`app.tenant_id`, transaction-local):
//! - for an API key, `max_authorize_key` verifies the key in the database, in the same pipeline as
//!   the work, and sets its tenant; it raises [`UNKNOWN_KEY`] or [`MISSING_SCOPE`], which aborts
//!   the transaction, so a revoked key stops working at once and the check costs no round trip;
//! - for a tenant already verified (a signed token, an operator command), the tenant is set
//!   directly.
//!
//! [`TenantScope`] is that choice; `crate::db` sends its opening statement first.

pub mod jwks;
mod keys;
mod users;

use std::fmt;

use tokio_postgres::types::{ToSql, Type};

pub use keys::{
    ApiKey, EVENTS_FIXTURE_INSTANCE, EVENTS_FIXTURE_KEY, EVENTS_FIXTURE_WEBHOOK_TOKEN,
    PREFIX_SECRET_CHARS, WebhookToken,
};
pub use users::{
    CLOCK_LEEWAY_SECS, ClaimField, ClaimMapping, JwtVerifier, MIN_JWT_SECRET_BYTES, TokenRefused,
    User, UserClaims, WeakSecret,
};

use crate::db::{DbError, Opening, OpeningStmt};

/// A tenant id: 1 to 63 lowercase letters, digits, `_` or `-`, starting with a letter or digit.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct TenantId(String);

impl TenantId {
    pub fn parse(value: &str) -> Option<Self> {
        let bytes = value.as_bytes();
        let valid = (1..=63).contains(&bytes.len())
            && bytes[0].is_ascii_alphanumeric()
            && bytes
                .iter()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || *b == b'_' || *b == b'-');
        valid.then(|| Self(value.to_owned()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for TenantId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// What a credential may do.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scope {
    /// `POST /api/activities/log`
    LogActivities,
    /// `GET /api/alerts/active`
    ReadAlerts,
    /// `POST /api/alerts/{id}/resolve`
    ResolveAlerts,
    /// `POST /api/leads`: other systems keep the lead directory.
    WriteLeads,
}

impl Scope {
    pub const ALL: [Scope; 4] = [
        Scope::LogActivities,
        Scope::ReadAlerts,
        Scope::ResolveAlerts,
        Scope::WriteLeads,
    ];

    pub fn as_str(self) -> &'static str {
        self.name()
    }

    /// The name, as a value the opening statement can bind.
    fn name(self) -> &'static &'static str {
        match self {
            Scope::LogActivities => &"activities:write",
            Scope::ReadAlerts => &"alerts:read",
            Scope::ResolveAlerts => &"alerts:resolve",
            Scope::WriteLeads => &"leads:write",
        }
    }

    pub fn parse(value: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|scope| scope.as_str() == value)
    }
}

/// The identity behind a request: an API key (verified by the database with the request's work)
/// or a user whose token was verified already.
#[derive(Debug, Clone)]
pub enum Credential {
    ApiKey(ApiKey),
    User(User),
}

impl Credential {
    /// The tenant the credential claims.
    pub fn tenant(&self) -> &TenantId {
        match self {
            Credential::ApiKey(key) => key.tenant(),
            Credential::User(user) => &user.tenant,
        }
    }

    /// Who did it, as recorded on a resolved alert.
    pub fn actor(&self) -> String {
        match self {
            Credential::ApiKey(key) => format!("api-key:{}", key.prefix()),
            Credential::User(user) => format!("user:{}", user.id),
        }
    }
}

/// The tenant a transaction works for, and how it was established.
#[derive(Debug, Clone)]
pub enum TenantScope<'a> {
    /// An API key, verified by the database inside the transaction, for a scope.
    ApiKey { key: &'a ApiKey, scope: Scope },
    /// A tenant already verified by the caller (a signed token, an operator command).
    Verified(&'a TenantId),
}

impl TenantScope<'_> {
    pub fn tenant(&self) -> &TenantId {
        match self {
            TenantScope::ApiKey { key, .. } => key.tenant(),
            TenantScope::Verified(tenant) => tenant,
        }
    }

    /// What a statement that opens its own scope is given (`max_log_activity`).
    pub fn own_opening(&self) -> OwnOpening<'_> {
        match self {
            TenantScope::ApiKey { key, scope } => OwnOpening {
                tenant: &key.tenant().0,
                key_hash: Some(key.stored_hash()),
                scope: scope.name(),
            },
            TenantScope::Verified(tenant) => OwnOpening {
                tenant: &tenant.0,
                key_hash: None,
                scope: &"",
            },
        }
    }
}

/// The parameters of a statement that opens its own scope: the tenant and, for an API key, the
/// key's stored hash and the scope it must have, checked by the database as `max_authorize_key`
/// does (such a statement runs alone: [`crate::db::Db::run_alone`]). A tenant the caller verified
/// has no key: the statement then runs after the opening of [`crate::db::Db::run`], which sets
/// that tenant, and the database checks it is the same.
pub struct OwnOpening<'a> {
    pub tenant: &'a String,
    pub key_hash: Option<&'a Vec<u8>>,
    pub scope: &'static &'static str,
}

/// The opening statement for an API key: the role, the statement timeout, and the key check that
/// sets the tenant (or raises [`UNKNOWN_KEY`] / [`MISSING_SCOPE`]).
const AUTHORIZE_KEY: &str = "SELECT set_config('role', 'max_app', true), \
                                    set_config('statement_timeout', $4, true), \
                                    max_authorize_key($1, $2, $3)";
/// The opening statement for a tenant the caller already verified.
const SET_TENANT: &str = "SELECT set_config('role', 'max_app', true), \
                                 set_config('statement_timeout', $2, true), \
                                 set_config('app.tenant_id', $1, true)";

/// SQLSTATE raised by `max_authorize_key` for an unknown or revoked key.
pub const UNKNOWN_KEY: &str = "MX401";
/// SQLSTATE raised by `max_authorize_key` for a key that lacks the scope.
pub const MISSING_SCOPE: &str = "MX403";

impl Opening for TenantScope<'_> {
    fn statement<'a>(&'a self, statement_timeout: &'a (dyn ToSql + Sync)) -> OpeningStmt<'a> {
        match self {
            TenantScope::ApiKey { key, scope } => OpeningStmt {
                sql: AUTHORIZE_KEY,
                params: vec![
                    (&key.tenant().0, Type::TEXT),
                    (key.stored_hash(), Type::BYTEA),
                    (scope.name(), Type::TEXT),
                    (statement_timeout, Type::TEXT),
                ],
            },
            TenantScope::Verified(tenant) => OpeningStmt {
                sql: SET_TENANT,
                params: vec![(&tenant.0, Type::TEXT), (statement_timeout, Type::TEXT)],
            },
        }
    }
}

/// Why the database refused a transaction's credential.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refusal {
    /// The key is unknown, revoked, or not the tenant's.
    UnknownKey,
    /// The key may not do this.
    MissingScope,
}

impl Refusal {
    /// Whether `error` is the key check refusing the credential.
    pub fn of(error: &DbError) -> Option<Self> {
        match error.sqlstate() {
            Some(UNKNOWN_KEY) => Some(Refusal::UnknownKey),
            Some(MISSING_SCOPE) => Some(Refusal::MissingScope),
            _ => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tenant_ids_are_slugs() {
        assert!(TenantId::parse("macrea").is_some());
        assert!(TenantId::parse("a-b_c9").is_some());
        assert!(TenantId::parse("").is_none());
        assert!(TenantId::parse("-a").is_none());
        assert!(TenantId::parse("Macrea").is_none());
        assert!(TenantId::parse(&"a".repeat(64)).is_none());
    }

    #[test]
    fn scopes_read_back_from_their_names() {
        for scope in Scope::ALL {
            assert_eq!(Scope::parse(scope.as_str()), Some(scope));
        }
        assert_eq!(Scope::parse("alerts:write"), None);
    }
}
