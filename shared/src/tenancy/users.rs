//! Dashboard users: their signed tokens (HS256 JWTs whose claims carry the user and the tenant),
//! verified once per request without a database round trip. Which claims say who and for which
//! tenant is configuration ([`ClaimMapping`]): by default this system's own tokens (`sub`,
//! `tenant`, `scope`) and the M.A.X. platform's login (`userId`, `tenantId`, `role`).

use std::fmt;

use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation};
use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::{Scope, TenantId};
use crate::config::{ConfigError, TokenSettings};

/// The shortest HS256 secret accepted (RFC 7518: at least the hash size).
pub const MIN_JWT_SECRET_BYTES: usize = 32;

/// What a dashboard user may do unless the token's `scope` claim says otherwise.
const DEFAULT_USER_SCOPES: [Scope; 2] = [Scope::ReadAlerts, Scope::ResolveAlerts];

/// The claims of a dashboard user's token: the user (`sub`), the tenant, and optionally the scopes
/// (space-separated, as OAuth writes them).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct UserClaims {
    pub sub: String,
    pub tenant: String,
    pub exp: u64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub iat: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub scope: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub aud: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub iss: Option<String>,
}

impl UserClaims {
    /// Signs these claims (for local use and tests; in production an identity provider issues
    /// tokens).
    pub fn sign(&self, secret: &[u8]) -> Result<String, jsonwebtoken::errors::Error> {
        jsonwebtoken::encode(
            &Header::new(Algorithm::HS256),
            self,
            &EncodingKey::from_secret(secret),
        )
    }
}

/// Where a token's claims say who the user is, for which tenant, and what they may do. Each
/// claim is a path (`tenant`, `app_metadata.tenant_id`, `custom:tenant`); the first of a list that
/// a token holds is taken.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClaimMapping {
    tenant: Vec<String>,
    user: Vec<String>,
    role: Vec<String>,
    /// What each role may do; a role not listed may do nothing.
    role_scopes: Vec<(String, Vec<Scope>)>,
}

/// The M.A.X. platform's roles, all of which may read and resolve their tenant's alerts.
const MAX_ROLES: [&str; 3] = ["owner", "admin", "user"];

impl Default for ClaimMapping {
    /// This system's tokens (`sub`, `tenant`, `scope`) and the M.A.X. login's (`userId`,
    /// `tenantId`, `role`: `owner`, `admin` and `user` read and resolve alerts).
    fn default() -> Self {
        Self {
            tenant: vec!["tenant".into(), "tenantId".into()],
            user: vec!["sub".into(), "userId".into()],
            role: vec!["role".into()],
            role_scopes: MAX_ROLES
                .iter()
                .map(|role| (role.to_string(), DEFAULT_USER_SCOPES.to_vec()))
                .collect(),
        }
    }
}

impl ClaimMapping {
    /// The mapping the configuration asks for: each of `JWT_TENANT_CLAIM`, `JWT_USER_CLAIM`,
    /// `JWT_ROLE_CLAIM` replaces its default; `JWT_ROLE_SCOPES` (`owner=alerts:read
    /// alerts:resolve;viewer=alerts:read`) replaces the roles' scopes.
    pub fn from_settings(settings: &TokenSettings) -> Result<Self, ConfigError> {
        let mut mapping = Self::default();
        let path = |value: &str, name| {
            let value = value.trim();
            let valid = !value.is_empty() && value.split('.').all(|part| !part.is_empty());
            valid
                .then(|| vec![value.to_owned()])
                .ok_or(ConfigError::Invalid(name))
        };
        if let Some(claim) = &settings.tenant_claim {
            mapping.tenant = path(claim, "JWT_TENANT_CLAIM")?;
        }
        if let Some(claim) = &settings.user_claim {
            mapping.user = path(claim, "JWT_USER_CLAIM")?;
        }
        if let Some(claim) = &settings.role_claim {
            mapping.role = path(claim, "JWT_ROLE_CLAIM")?;
        }
        if let Some(roles) = &settings.role_scopes {
            let invalid = || ConfigError::Invalid("JWT_ROLE_SCOPES (role=scope scope;role=scope)");
            mapping.role_scopes = roles
                .split(';')
                .filter(|entry| !entry.trim().is_empty())
                .map(|entry| {
                    let (role, scopes) = entry.split_once('=').ok_or_else(invalid)?;
                    let scopes = scopes
                        .split_whitespace()
                        .map(|scope| Scope::parse(scope).ok_or_else(invalid))
                        .collect::<Result<Vec<_>, _>>()?;
                    Ok((role.trim().to_owned(), scopes))
                })
                .collect::<Result<_, ConfigError>>()?;
        }
        Ok(mapping)
    }

    /// The value at the first path the claims hold.
    fn find<'c>(claims: &'c Value, paths: &[String]) -> Option<&'c Value> {
        paths.iter().find_map(|path| {
            // A claim whose own name has dots (`https://example.com/tenant`) is tried whole first.
            claims.get(path.as_str()).or_else(|| {
                path.split('.')
                    .try_fold(claims, |value, part| value.get(part))
            })
        })
    }

    /// A claim as text: a string, or a whole number (some logins number their users).
    fn text(value: &Value) -> Option<String> {
        match value {
            Value::String(text) => Some(text.clone()),
            Value::Number(number) if number.is_i64() || number.is_u64() => Some(number.to_string()),
            _ => None,
        }
    }

    /// The user the claims describe.
    fn user(&self, claims: &Value) -> Result<User, TokenRefused> {
        let refused = |what: &'static str| {
            tracing::info!(reason = what, "bearer token refused");
            TokenRefused
        };
        let tenant = Self::find(claims, &self.tenant)
            .and_then(Self::text)
            .ok_or_else(|| refused("no tenant claim"))?;
        let tenant = TenantId::parse(&tenant).ok_or_else(|| refused("malformed tenant claim"))?;
        let id = Self::find(claims, &self.user)
            .and_then(Self::text)
            .filter(|id| !id.is_empty() && id.chars().count() <= 200)
            .ok_or_else(|| refused("no user claim"))?;
        // Scopes the token states win; else its roles say; a token with neither may read and
        // resolve (this system's own tokens).
        let scopes = match claims.get("scope") {
            Some(Value::String(scope)) => {
                scope.split_whitespace().filter_map(Scope::parse).collect()
            }
            _ => match Self::find(claims, &self.role) {
                None => DEFAULT_USER_SCOPES.to_vec(),
                Some(roles) => {
                    let roles: Vec<&str> = match roles {
                        Value::String(role) => vec![role.as_str()],
                        Value::Array(roles) => roles.iter().filter_map(Value::as_str).collect(),
                        _ => Vec::new(),
                    };
                    let mut scopes: Vec<Scope> = Vec::new();
                    for (role, granted) in &self.role_scopes {
                        if roles.contains(&role.as_str()) {
                            for scope in granted {
                                if !scopes.contains(scope) {
                                    scopes.push(*scope);
                                }
                            }
                        }
                    }
                    scopes
                }
            },
        };
        Ok(User { tenant, id, scopes })
    }
}

/// A dashboard user, verified.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct User {
    pub tenant: TenantId,
    pub id: String,
    pub scopes: Vec<Scope>,
}

/// Verifies dashboard users' tokens (HS256): signature, expiry, and audience and issuer where
/// configured. Built once at cold start.
#[derive(Clone)]
pub struct JwtVerifier {
    key: DecodingKey,
    validation: Validation,
    claims: ClaimMapping,
}

impl fmt::Debug for JwtVerifier {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("JwtVerifier").finish_non_exhaustive()
    }
}

/// A secret too short to sign tokens safely.
#[derive(Debug)]
pub struct WeakSecret;

impl fmt::Display for WeakSecret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "the JWT secret must be at least {MIN_JWT_SECRET_BYTES} bytes long"
        )
    }
}

impl std::error::Error for WeakSecret {}

/// A token that is not a valid user token (the reason is logged where it is found).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TokenRefused;

impl JwtVerifier {
    pub fn hs256(
        secret: &[u8],
        audience: Option<&str>,
        issuer: Option<&str>,
    ) -> Result<Self, WeakSecret> {
        if secret.len() < MIN_JWT_SECRET_BYTES {
            return Err(WeakSecret);
        }
        let mut validation = Validation::new(Algorithm::HS256);
        // Who the user is comes from the claim mapping (`sub` or `userId`, by default).
        validation.set_required_spec_claims(&["exp"]);
        match audience {
            Some(audience) => validation.set_audience(&[audience]),
            None => validation.validate_aud = false,
        }
        if let Some(issuer) = issuer {
            validation.set_issuer(&[issuer]);
        }
        Ok(Self {
            key: DecodingKey::from_secret(secret),
            validation,
            claims: ClaimMapping::default(),
        })
    }

    /// The same verifier, reading its users with this mapping.
    pub fn with_claims(self, claims: ClaimMapping) -> Self {
        Self { claims, ..self }
    }

    /// The user behind a token.
    pub fn verify(&self, token: &str) -> Result<User, TokenRefused> {
        let claims = jsonwebtoken::decode::<Value>(token, &self.key, &self.validation)
            .map_err(|error| {
                tracing::info!(reason = ?error.kind(), "bearer token refused");
                TokenRefused
            })?
            .claims;
        self.claims.user(&claims)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn user_claims(tenant: &str, exp_from_now: i64) -> UserClaims {
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_secs() as i64;
        UserClaims {
            sub: "alice".into(),
            tenant: tenant.into(),
            exp: (now + exp_from_now) as u64,
            iat: Some(now as u64),
            scope: None,
            aud: Some("max-dashboard".into()),
            iss: None,
        }
    }

    const SECRET: &[u8] = b"0123456789abcdef0123456789abcdef";

    #[test]
    fn a_signed_token_verifies_to_its_user_and_tenant() {
        let verifier = JwtVerifier::hs256(SECRET, Some("max-dashboard"), None).unwrap();
        let token = user_claims("macrea", 600).sign(SECRET).unwrap();
        let user = verifier.verify(&token).unwrap();
        assert_eq!(user.tenant.as_str(), "macrea");
        assert_eq!(user.id, "alice");
        assert_eq!(user.scopes, DEFAULT_USER_SCOPES.to_vec());
    }

    #[test]
    fn expired_forged_or_misaddressed_tokens_are_refused() {
        let verifier = JwtVerifier::hs256(SECRET, Some("max-dashboard"), Some("max")).unwrap();
        let mut claims = user_claims("macrea", 600);
        claims.iss = Some("max".into());
        assert!(verifier.verify(&claims.sign(SECRET).unwrap()).is_ok());
        let expired = UserClaims {
            exp: claims.exp - 3600,
            ..claims.clone()
        };
        let other_secret = b"another secret, long enough to be accepted";
        let wrong_audience = UserClaims {
            aud: Some("elsewhere".into()),
            ..claims.clone()
        };
        let wrong_issuer = UserClaims {
            iss: Some("evil".into()),
            ..claims.clone()
        };
        let bad_tenant = UserClaims {
            tenant: "Not A Tenant".into(),
            ..claims.clone()
        };
        for token in [
            expired.sign(SECRET).unwrap(),
            claims.sign(other_secret).unwrap(),
            wrong_audience.sign(SECRET).unwrap(),
            wrong_issuer.sign(SECRET).unwrap(),
            bad_tenant.sign(SECRET).unwrap(),
            "eyJhbGciOiJub25lIn0.e30.".into(),
            "garbage".into(),
        ] {
            assert_eq!(verifier.verify(&token), Err(TokenRefused), "{token}");
        }
    }

    fn now() -> u64 {
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_secs()
    }

    fn sign(claims: serde_json::Value) -> String {
        jsonwebtoken::encode(
            &Header::new(Algorithm::HS256),
            &claims,
            &EncodingKey::from_secret(SECRET),
        )
        .unwrap()
    }

    #[test]
    fn a_token_of_the_max_login_is_its_user_in_its_tenant_with_its_roles_scopes() {
        let verifier = JwtVerifier::hs256(SECRET, None, None).unwrap();
        for role in MAX_ROLES {
            // The claims the platform's login signs: no `sub`, no `tenant`.
            let token = sign(serde_json::json!({
                "userId": "42", "email": "sophie@macrea.fr", "role": role,
                "tenantId": "macrea", "iat": now(), "exp": now() + 600,
            }));
            let user = verifier.verify(&token).unwrap();
            assert_eq!((user.tenant.as_str(), user.id.as_str()), ("macrea", "42"));
            assert_eq!(user.scopes, DEFAULT_USER_SCOPES.to_vec(), "{role}");
        }
        let numbered = sign(
            serde_json::json!({"userId": 7, "tenantId": "macrea", "role": "user", "exp": now() + 600}),
        );
        assert_eq!(verifier.verify(&numbered).unwrap().id, "7");
        // A role the mapping does not know may do nothing; a token without a tenant is refused.
        let guest = sign(
            serde_json::json!({"userId": "9", "tenantId": "macrea", "role": "guest", "exp": now() + 600}),
        );
        assert!(verifier.verify(&guest).unwrap().scopes.is_empty());
        for claims in [
            serde_json::json!({"userId": "9", "role": "user", "exp": now() + 600}),
            serde_json::json!({"userId": "9", "tenantId": "Ma Crea", "exp": now() + 600}),
            serde_json::json!({"userId": "", "tenantId": "macrea", "exp": now() + 600}),
            serde_json::json!({"tenantId": "macrea", "exp": now() + 600}),
            serde_json::json!({"userId": "9", "tenantId": "macrea"}),
        ] {
            assert_eq!(
                verifier.verify(&sign(claims.clone())),
                Err(TokenRefused),
                "{claims}"
            );
        }
    }

    #[test]
    fn the_claims_are_mapped_as_configured_with_nested_paths_and_roles() {
        let settings = TokenSettings {
            tenant_claim: Some("app_metadata.tenant_id".into()),
            user_claim: Some("email".into()),
            role_claim: Some("cognito:groups".into()),
            role_scopes: Some("managers=alerts:read alerts:resolve; viewers=alerts:read".into()),
            ..TokenSettings::default()
        };
        let verifier = JwtVerifier::hs256(SECRET, None, None)
            .unwrap()
            .with_claims(ClaimMapping::from_settings(&settings).unwrap());
        let token = sign(serde_json::json!({
            "sub": "0f9c", "email": "sophie@acme.test", "app_metadata": {"tenant_id": "acme"},
            "cognito:groups": ["viewers"], "exp": now() + 600,
        }));
        let user = verifier.verify(&token).unwrap();
        assert_eq!(
            (user.tenant.as_str(), user.id.as_str()),
            ("acme", "sophie@acme.test")
        );
        assert_eq!(user.scopes, vec![Scope::ReadAlerts]);
        let bad = |settings: TokenSettings| ClaimMapping::from_settings(&settings).is_err();
        assert!(bad(TokenSettings {
            tenant_claim: Some("a..b".into()),
            ..TokenSettings::default()
        }));
        assert!(bad(TokenSettings {
            role_scopes: Some("x=alerts:write".into()),
            ..TokenSettings::default()
        }));
        assert!(bad(TokenSettings {
            role_scopes: Some("x".into()),
            ..TokenSettings::default()
        }));
    }

    #[test]
    fn short_secrets_are_refused() {
        assert!(JwtVerifier::hs256(b"short", None, None).is_err());
    }
}
