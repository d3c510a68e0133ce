//! Dashboard users: their signed tokens (HS256 JWTs whose claims carry the user and the tenant),
//! verified once per request without a database round trip. Which claims say who and for which
//! tenant is configuration ([`ClaimMapping`]): by default this system's own tokens (`sub`,
//! `tenant`, `scope`) and the M.A.X. platform's login (`userId`, `tenantId`, `role`).

use std::fmt;

use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation};
use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::jwks::{KeySet, KeySource, KeyTiming};
use super::{Scope, TenantId};
use crate::config::{ClaimSettings, ConfigError, IssuerSettings, TokenSettings};

/// The shortest HS256 secret accepted (RFC 7518: at least the hash size).
pub const MIN_JWT_SECRET_BYTES: usize = 32;

/// What a dashboard user may do unless the token's `scope` claim or roles say otherwise; also all
/// a user may ever do (logging activities and writing leads are for other systems' API keys).
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
    /// Whether roles were configured: then a token without roles may do nothing (an identity
    /// provider leaves the claim out for a user in no group), where by default it may read and
    /// resolve (this system's own tokens carry no role).
    roles_required: bool,
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
            roles_required: false,
        }
    }
}

impl ClaimMapping {
    /// The mapping the environment asks for: each of `JWT_TENANT_CLAIM`, `JWT_USER_CLAIM`,
    /// `JWT_ROLE_CLAIM` replaces its default; `JWT_ROLE_SCOPES` (`owner=alerts:read
    /// alerts:resolve;viewer=alerts:read`) replaces the roles' scopes.
    pub fn from_settings(settings: &ClaimSettings) -> Result<Self, ConfigError> {
        Self::parse(settings).map_err(|field| {
            ConfigError::Invalid(match field {
                ClaimField::Tenant => "JWT_TENANT_CLAIM",
                ClaimField::User => "JWT_USER_CLAIM",
                ClaimField::Role => "JWT_ROLE_CLAIM",
                ClaimField::RoleScopes => {
                    "JWT_ROLE_SCOPES (role=scope scope;role=scope, with alerts:read and alerts:resolve only)"
                }
            })
        })
    }

    /// The mapping `settings` describe, or the setting that is not valid.
    pub fn parse(settings: &ClaimSettings) -> Result<Self, ClaimField> {
        let mut mapping = Self::default();
        let path = |value: &str, field| {
            let value = value.trim();
            let valid = !value.is_empty() && value.split('.').all(|part| !part.is_empty());
            valid.then(|| vec![value.to_owned()]).ok_or(field)
        };
        if let Some(claim) = &settings.tenant {
            mapping.tenant = path(claim, ClaimField::Tenant)?;
        }
        if let Some(claim) = &settings.user {
            mapping.user = path(claim, ClaimField::User)?;
        }
        if let Some(claim) = &settings.role {
            mapping.role = path(claim, ClaimField::Role)?;
            mapping.roles_required = true;
        }
        if let Some(roles) = &settings.role_scopes {
            let invalid = || ClaimField::RoleScopes;
            mapping.role_scopes = roles
                .split(';')
                .filter(|entry| !entry.trim().is_empty())
                .map(|entry| {
                    let (role, scopes) = entry.split_once('=').ok_or_else(invalid)?;
                    let scopes = scopes
                        .split_whitespace()
                        .map(|scope| {
                            Scope::parse(scope)
                                .filter(|scope| DEFAULT_USER_SCOPES.contains(scope))
                                .ok_or_else(invalid)
                        })
                        .collect::<Result<Vec<_>, _>>()?;
                    Ok((role.trim().to_owned(), scopes))
                })
                .collect::<Result<_, ClaimField>>()?;
            mapping.roles_required = true;
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

    /// What a token's roles (one, or a list) may do.
    fn scopes_of(&self, roles: &Value) -> Vec<Scope> {
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
        // This system's scopes, when the token states some, win (an OAuth `scope` such as
        // "openid email" states none); else its roles say; a token with neither may read and
        // resolve, unless roles were configured.
        let stated: Vec<Scope> = match claims.get("scope") {
            Some(Value::String(scope)) => scope
                .split_whitespace()
                .filter_map(Scope::parse)
                .filter(|scope| DEFAULT_USER_SCOPES.contains(scope))
                .collect(),
            _ => Vec::new(),
        };
        let scopes = if !stated.is_empty() {
            stated
        } else {
            match Self::find(claims, &self.role) {
                None if self.roles_required => Vec::new(),
                None => DEFAULT_USER_SCOPES.to_vec(),
                Some(roles) => self.scopes_of(roles),
            }
        };
        Ok(User { tenant, id, scopes })
    }
}

/// A claim setting that is not valid.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ClaimField {
    Tenant,
    User,
    Role,
    RoleScopes,
}

impl fmt::Display for ClaimField {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            ClaimField::Tenant => "tenantClaim is not a claim path",
            ClaimField::User => "userClaim is not a claim path",
            ClaimField::Role => "roleClaim is not a claim path",
            ClaimField::RoleScopes => {
                "roleScopes must read role=scope scope;role=scope, with users' scopes only (alerts:read, alerts:resolve)"
            }
        })
    }
}

/// A dashboard user, verified.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct User {
    pub tenant: TenantId,
    pub id: String,
    pub scopes: Vec<Scope>,
}

/// Verifies dashboard users' tokens: those signed with the HS256 secret (the M.A.X. login, local
/// use) and those of the identity providers of `JWT_ISSUERS`, each read with its own claim
/// mapping. Built once at cold start; cheap to clone.
#[derive(Clone, Default)]
pub struct JwtVerifier {
    secret: Option<SecretIssuer>,
    published: Vec<PublishedIssuer>,
}

/// Tokens signed with a shared secret (HS256).
#[derive(Clone)]
struct SecretIssuer {
    key: DecodingKey,
    validation: Validation,
    claims: ClaimMapping,
}

/// An identity provider signing with the keys it publishes (RS256, ES256...).
#[derive(Clone)]
struct PublishedIssuer {
    issuer: String,
    audiences: Vec<String>,
    keys: KeySet,
    claims: ClaimMapping,
}

/// How far a token's `exp` and `nbf` may be off: the clocks of the issuer and of the function.
pub const CLOCK_LEEWAY_SECS: u64 = 30;

impl fmt::Debug for JwtVerifier {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("JwtVerifier")
            .field("hs256", &self.secret.is_some())
            .field(
                "issuers",
                &self
                    .published
                    .iter()
                    .map(|issuer| issuer.issuer.as_str())
                    .collect::<Vec<_>>(),
            )
            .finish()
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
    /// The verifier the configuration describes, its issuers' keys fetched (an issuer that cannot
    /// be reached now is tried again when a token needs it); `None` when neither an HS256 secret
    /// nor an issuer is configured, so that only API keys are accepted.
    pub async fn from_settings(
        settings: &TokenSettings,
        secret: Option<&[u8]>,
    ) -> Result<Option<Self>, ConfigError> {
        let mut verifier = match secret {
            Some(secret) => Self::hs256(
                secret,
                settings.audience.as_deref(),
                settings.issuer.as_deref(),
            )
            .map_err(|_| ConfigError::Invalid("JWT_SECRET (at least 32 bytes)"))?
            .with_claims(ClaimMapping::from_settings(&settings.claims)?),
            None => Self::default(),
        };
        for issuer in &settings.issuers {
            verifier = verifier.add_issuer(issuer, KeyTiming::default())?;
        }
        // All issuers at once, so that the cold start waits for the slowest only.
        futures_util::future::join_all(
            verifier
                .published
                .iter()
                .map(|issuer| issuer.keys.fetch_at_start()),
        )
        .await;
        Ok((verifier.secret.is_some() || !verifier.published.is_empty()).then_some(verifier))
    }

    /// A verifier of HS256 tokens signed with `secret`, with the `aud` and `iss` they must carry
    /// where given.
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
        validation.validate_nbf = true;
        validation.leeway = CLOCK_LEEWAY_SECS;
        match audience {
            Some(audience) => validation.set_audience(&[audience]),
            None => validation.validate_aud = false,
        }
        if let Some(issuer) = issuer {
            validation.set_issuer(&[issuer]);
        }
        Ok(Self {
            secret: Some(SecretIssuer {
                key: DecodingKey::from_secret(secret),
                validation,
                claims: ClaimMapping::default(),
            }),
            published: Vec::new(),
        })
    }

    /// The same verifier, reading the HS256 tokens' users with this mapping.
    pub fn with_claims(mut self, claims: ClaimMapping) -> Self {
        if let Some(secret) = &mut self.secret {
            secret.claims = claims;
        }
        self
    }

    /// The same verifier, also accepting the tokens of an identity provider, whose keys are
    /// fetched now.
    pub async fn with_issuer(
        self,
        settings: &IssuerSettings,
        timing: KeyTiming,
    ) -> Result<Self, ConfigError> {
        let verifier = self.add_issuer(settings, timing)?;
        if let Some(issuer) = verifier.published.last() {
            issuer.keys.fetch_at_start().await;
        }
        Ok(verifier)
    }

    /// The same verifier, also accepting the tokens of an identity provider (keys not fetched).
    fn add_issuer(
        mut self,
        settings: &IssuerSettings,
        timing: KeyTiming,
    ) -> Result<Self, ConfigError> {
        let malformed = |reason: String| ConfigError::Malformed {
            name: "JWT_ISSUERS",
            reason: format!("{}: {reason}", settings.issuer),
        };
        let claims =
            ClaimMapping::parse(&settings.claims).map_err(|field| malformed(field.to_string()))?;
        let source = match &settings.jwks_url {
            Some(url) => KeySource::jwks(url),
            None => KeySource::discovery(&settings.issuer),
        }
        .map_err(|error| malformed(error.to_string()))?;
        let keys = KeySet::new(&settings.issuer, source, timing);
        self.published.push(PublishedIssuer {
            issuer: settings.issuer.clone(),
            audiences: settings.audiences.clone(),
            keys,
            claims,
        });
        Ok(self)
    }

    /// The user behind a token. A token naming (`iss`) one of the identity providers is verified
    /// with that provider's keys only; any other, with the HS256 secret.
    pub async fn verify(&self, token: &str) -> Result<User, TokenRefused> {
        let header = jsonwebtoken::decode_header(token).map_err(|error| refused(&error))?;
        match self.issuer_named_by(token) {
            Some(issuer) => issuer.verify(token, &header).await,
            None => {
                let secret = self.secret.as_ref().ok_or_else(|| {
                    tracing::info!(reason = "unknown issuer", "bearer token refused");
                    TokenRefused
                })?;
                let claims = jsonwebtoken::decode::<Value>(token, &secret.key, &secret.validation)
                    .map_err(|error| refused(&error))?
                    .claims;
                secret.claims.user(&claims)
            }
        }
    }

    /// The identity provider a token says it comes from (before anything is verified: this only
    /// chooses the keys that will verify it).
    fn issuer_named_by(&self, token: &str) -> Option<&PublishedIssuer> {
        #[derive(Deserialize)]
        struct Issuer {
            iss: Option<String>,
        }
        if self.published.is_empty() {
            return None;
        }
        let iss = jsonwebtoken::dangerous::insecure_decode_claims::<Issuer>(token)
            .ok()?
            .iss?;
        self.published.iter().find(|issuer| issuer.issuer == iss)
    }
}

impl PublishedIssuer {
    /// Verifies a token with the key its `kid` names, and that key's own algorithm only.
    async fn verify(&self, token: &str, header: &Header) -> Result<User, TokenRefused> {
        let refuse = |reason: &'static str| {
            tracing::info!(reason, issuer = %self.issuer, "bearer token refused");
            TokenRefused
        };
        if !is_asymmetric(header.alg) {
            return Err(refuse("algorithm not allowed for this issuer"));
        }
        let key = self
            .keys
            .find(header.kid.as_deref())
            .await
            .ok_or_else(|| refuse("unknown key"))?;
        if key.algorithm != header.alg {
            return Err(refuse("algorithm is not the key's"));
        }
        let mut validation = Validation::new(key.algorithm);
        validation.set_required_spec_claims(&["exp", "iss", "aud"]);
        validation.set_issuer(&[&self.issuer]);
        validation.set_audience(&self.audiences);
        validation.validate_nbf = true;
        validation.leeway = CLOCK_LEEWAY_SECS;
        let claims = jsonwebtoken::decode::<Value>(token, &key.key, &validation)
            .map_err(|error| refused(&error))?
            .claims;
        self.claims.user(&claims)
    }
}

/// Whether an algorithm signs with a private key (so that its public key can be published).
pub(crate) fn is_asymmetric(algorithm: Algorithm) -> bool {
    !matches!(
        algorithm,
        Algorithm::HS256 | Algorithm::HS384 | Algorithm::HS512
    )
}

/// Logs why a token was refused (the kind of failure, never the token).
fn refused(error: &jsonwebtoken::errors::Error) -> TokenRefused {
    tracing::info!(reason = ?error.kind(), "bearer token refused");
    TokenRefused
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

    #[tokio::test]
    async fn a_signed_token_verifies_to_its_user_and_tenant() {
        let verifier = JwtVerifier::hs256(SECRET, Some("max-dashboard"), None).unwrap();
        let token = user_claims("macrea", 600).sign(SECRET).unwrap();
        let user = verifier.verify(&token).await.unwrap();
        assert_eq!(user.tenant.as_str(), "macrea");
        assert_eq!(user.id, "alice");
        assert_eq!(user.scopes, DEFAULT_USER_SCOPES.to_vec());
    }

    #[tokio::test]
    async fn expired_forged_or_misaddressed_tokens_are_refused() {
        let verifier = JwtVerifier::hs256(SECRET, Some("max-dashboard"), Some("max")).unwrap();
        let mut claims = user_claims("macrea", 600);
        claims.iss = Some("max".into());
        assert!(verifier.verify(&claims.sign(SECRET).unwrap()).await.is_ok());
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
            assert_eq!(verifier.verify(&token).await, Err(TokenRefused), "{token}");
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

    #[tokio::test]
    async fn a_token_of_the_max_login_is_its_user_in_its_tenant_with_its_roles_scopes() {
        let verifier = JwtVerifier::hs256(SECRET, None, None).unwrap();
        for role in MAX_ROLES {
            // The claims the platform's login signs: no `sub`, no `tenant`.
            let token = sign(serde_json::json!({
                "userId": "42", "email": "sophie@macrea.fr", "role": role,
                "tenantId": "macrea", "iat": now(), "exp": now() + 600,
            }));
            let user = verifier.verify(&token).await.unwrap();
            assert_eq!((user.tenant.as_str(), user.id.as_str()), ("macrea", "42"));
            assert_eq!(user.scopes, DEFAULT_USER_SCOPES.to_vec(), "{role}");
        }
        let numbered = sign(
            serde_json::json!({"userId": 7, "tenantId": "macrea", "role": "user", "exp": now() + 600}),
        );
        assert_eq!(verifier.verify(&numbered).await.unwrap().id, "7");
        // A role the mapping does not know may do nothing; a token without a tenant is refused.
        let guest = sign(
            serde_json::json!({"userId": "9", "tenantId": "macrea", "role": "guest", "exp": now() + 600}),
        );
        assert!(verifier.verify(&guest).await.unwrap().scopes.is_empty());
        for claims in [
            serde_json::json!({"userId": "9", "role": "user", "exp": now() + 600}),
            serde_json::json!({"userId": "9", "tenantId": "Ma Crea", "exp": now() + 600}),
            serde_json::json!({"userId": "", "tenantId": "macrea", "exp": now() + 600}),
            serde_json::json!({"tenantId": "macrea", "exp": now() + 600}),
            serde_json::json!({"userId": "9", "tenantId": "macrea"}),
        ] {
            assert_eq!(
                verifier.verify(&sign(claims.clone())).await,
                Err(TokenRefused),
                "{claims}"
            );
        }
    }

    #[tokio::test]
    async fn the_claims_are_mapped_as_configured_with_nested_paths_and_roles() {
        let settings = ClaimSettings {
            tenant: Some("app_metadata.tenant_id".into()),
            user: Some("email".into()),
            role: Some("cognito:groups".into()),
            role_scopes: Some("managers=alerts:read alerts:resolve; viewers=alerts:read".into()),
        };
        let verifier = JwtVerifier::hs256(SECRET, None, None)
            .unwrap()
            .with_claims(ClaimMapping::from_settings(&settings).unwrap());
        let token = sign(serde_json::json!({
            "sub": "0f9c", "email": "sophie@acme.test", "app_metadata": {"tenant_id": "acme"},
            "cognito:groups": ["viewers"], "exp": now() + 600,
        }));
        let user = verifier.verify(&token).await.unwrap();
        assert_eq!(
            (user.tenant.as_str(), user.id.as_str()),
            ("acme", "sophie@acme.test")
        );
        assert_eq!(user.scopes, vec![Scope::ReadAlerts]);
        let verifier = &verifier;
        let scopes = |claims: serde_json::Value| async move {
            let mut token = serde_json::json!({
                "email": "li@acme.test", "app_metadata": {"tenant_id": "acme"}, "exp": now() + 600,
            });
            token
                .as_object_mut()
                .unwrap()
                .extend(claims.as_object().unwrap().clone());
            verifier.verify(&sign(token)).await.unwrap().scopes
        };
        // With roles configured, a user in no group may do nothing (the provider leaves the
        // claim out); an OAuth scope naming none of this system's scopes leaves the roles to say;
        // a user is never granted more than reading and resolving.
        assert_eq!(scopes(serde_json::json!({})).await, []);
        assert_eq!(
            scopes(serde_json::json!({"scope": "openid email", "cognito:groups": ["managers"]}))
                .await,
            DEFAULT_USER_SCOPES
        );
        assert_eq!(
            scopes(serde_json::json!({"scope": "alerts:read activities:write leads:write", "cognito:groups": ["managers"]}))
                .await,
            [Scope::ReadAlerts]
        );
        let bad = |settings: ClaimSettings| ClaimMapping::from_settings(&settings).is_err();
        assert!(bad(ClaimSettings {
            tenant: Some("a..b".into()),
            ..ClaimSettings::default()
        }));
        assert!(bad(ClaimSettings {
            role_scopes: Some("x=alerts:write".into()),
            ..ClaimSettings::default()
        }));
        assert!(bad(ClaimSettings {
            role_scopes: Some("x".into()),
            ..ClaimSettings::default()
        }));
        for scope in ["activities:write", "leads:write"] {
            assert!(bad(ClaimSettings {
                role_scopes: Some(format!("admin=alerts:read {scope}")),
                ..ClaimSettings::default()
            }));
        }
    }

    #[test]
    fn short_secrets_are_refused() {
        assert!(JwtVerifier::hs256(b"short", None, None).is_err());
    }
}
