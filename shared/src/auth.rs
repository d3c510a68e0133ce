//! Who is calling: tenants, API keys, scopes, and the credential of a request.
//!
//! An API key reads `mxk_<tenant>_<32 random letters and digits>`. The tenant in it is only a
//! claim: the key is verified by the database (`max_authorize_key`) in the same transaction as the
//! work it authorises, so a check costs no extra round trip and a revoked key stops at once.
//! Only the key's SHA-256 is ever stored.

use std::fmt;

use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation};
use lambda_http::Request;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::error::ApiError;

const KEY_PREFIX: &str = "mxk_";
const SECRET_LEN: usize = 32;
/// How many characters of the secret a key's prefix shows.
pub const PREFIX_SECRET_CHARS: usize = 5;
const ALPHABET: &[u8; 62] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";

/// The key written in the sample requests of `events/`, for tenant `macrea`. It is public, so it
/// works only where an operator registers it on purpose (`max-local create-key --events-fixture`,
/// and the tests): never in production.
pub const EVENTS_FIXTURE_KEY: &str = "mxk_macrea_EventsFixtureKeyNotForProduction";

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
}

impl Scope {
    pub const ALL: [Scope; 3] = [
        Scope::LogActivities,
        Scope::ReadAlerts,
        Scope::ResolveAlerts,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Scope::LogActivities => "activities:write",
            Scope::ReadAlerts => "alerts:read",
            Scope::ResolveAlerts => "alerts:resolve",
        }
    }

    pub fn parse(value: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|scope| scope.as_str() == value)
    }
}

/// An API key as presented by a caller: the tenant it claims and the hash of the whole key.
#[derive(Clone, PartialEq, Eq)]
pub struct ApiKey {
    tenant: TenantId,
    hash: [u8; 32],
    prefix: String,
}

impl fmt::Debug for ApiKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // Never the key itself.
        f.debug_struct("ApiKey")
            .field("tenant", &self.tenant)
            .field("prefix", &self.prefix)
            .finish_non_exhaustive()
    }
}

impl ApiKey {
    /// Reads a key; `None` when it cannot be one of ours.
    pub fn parse(key: &str) -> Option<Self> {
        let rest = key.strip_prefix(KEY_PREFIX)?;
        if rest.len() < SECRET_LEN + 2 || !rest.is_char_boundary(rest.len() - SECRET_LEN - 1) {
            return None;
        }
        let (tenant, secret) = rest.split_at(rest.len() - SECRET_LEN - 1);
        let secret = secret.strip_prefix('_')?;
        if !secret.bytes().all(|b| b.is_ascii_alphanumeric()) {
            return None;
        }
        Some(Self {
            tenant: TenantId::parse(tenant)?,
            hash: Sha256::digest(key.as_bytes()).into(),
            prefix: key[..KEY_PREFIX.len() + tenant.len() + 1 + PREFIX_SECRET_CHARS].to_owned(),
        })
    }

    /// A new random key for a tenant: the key text (shown once) and its parsed form.
    pub fn generate(tenant: &TenantId) -> Result<(String, Self), getrandom::Error> {
        let mut secret = String::with_capacity(SECRET_LEN);
        let mut buf = [0u8; 64];
        while secret.len() < SECRET_LEN {
            getrandom::fill(&mut buf)?;
            // Rejection sampling keeps every letter equally likely: 248 = 4 * 62.
            secret.extend(
                buf.iter()
                    .filter(|b| **b < 248)
                    .map(|b| ALPHABET[usize::from(*b % 62)] as char)
                    .take(SECRET_LEN - secret.len()),
            );
        }
        let text = format!("{KEY_PREFIX}{tenant}_{secret}");
        let key = Self::parse(&text).expect("a generated key parses");
        Ok((text, key))
    }

    pub fn tenant(&self) -> &TenantId {
        &self.tenant
    }

    /// SHA-256 of the whole key, as stored.
    pub fn hash(&self) -> &[u8; 32] {
        &self.hash
    }

    /// The first characters of the key (`mxk_macrea_AbCd1`): enough for an operator to tell keys
    /// apart, useless to an attacker.
    pub fn prefix(&self) -> &str {
        &self.prefix
    }
}

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

/// Verifies dashboard users' tokens (HS256): signature, expiry, and audience and issuer where
/// configured. Built once at cold start.
#[derive(Clone)]
pub struct JwtVerifier {
    key: DecodingKey,
    validation: Validation,
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
        validation.set_required_spec_claims(&["exp", "sub"]);
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
        })
    }

    /// The user behind a token; any failure is the same 401, and its reason is logged.
    pub fn verify(&self, token: &str) -> Result<User, ApiError> {
        let claims = jsonwebtoken::decode::<UserClaims>(token, &self.key, &self.validation)
            .map_err(|error| {
                tracing::info!(reason = ?error.kind(), "bearer token refused");
                ApiError::unauthorized("Invalid or expired token.")
            })?
            .claims;
        let tenant = TenantId::parse(&claims.tenant)
            .ok_or_else(|| ApiError::unauthorized("Invalid or expired token."))?;
        if claims.sub.is_empty() || claims.sub.len() > 200 {
            return Err(ApiError::unauthorized("Invalid or expired token."));
        }
        let scopes = match &claims.scope {
            None => DEFAULT_USER_SCOPES.to_vec(),
            Some(scope) => scope.split_whitespace().filter_map(Scope::parse).collect(),
        };
        Ok(User {
            tenant,
            id: claims.sub,
            scopes,
        })
    }
}

/// Signs a token for a user of a tenant (for local use and tests; in production an identity
/// provider issues them).
pub fn sign_user_token(
    secret: &[u8],
    claims: &UserClaims,
) -> Result<String, jsonwebtoken::errors::Error> {
    jsonwebtoken::encode(
        &Header::new(Algorithm::HS256),
        claims,
        &EncodingKey::from_secret(secret),
    )
}

/// A dashboard user, verified.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct User {
    pub tenant: TenantId,
    pub id: String,
    pub scopes: Vec<Scope>,
}

/// The identity behind a request: an API key (verified by the database with the request's work)
/// or a user whose token was verified already.
#[derive(Debug, Clone)]
pub enum Credential {
    ApiKey(ApiKey),
    User(User),
}

/// The credential of a request, and the tenant the caller asked for with `X-Tenant`, if any.
#[derive(Debug, Clone)]
pub struct Caller {
    pub credential: Credential,
    pub requested_tenant: Option<String>,
}

impl Caller {
    /// Reads `Authorization: Bearer ...` and `X-Tenant`. No credential, or one that cannot be
    /// valid, is a 401; an API key's validity is decided with the request's work, a token's here.
    pub fn from_request(req: &Request, jwt: Option<&JwtVerifier>) -> Result<Self, ApiError> {
        let authorization = crate::http::header(req, "authorization")?.ok_or_else(|| {
            ApiError::unauthorized(
                "Missing credential: send Authorization: Bearer <API key or token>.",
            )
        })?;
        let token = authorization
            .split_once(' ')
            .filter(|(scheme, _)| scheme.eq_ignore_ascii_case("bearer"))
            .map(|(_, token)| token.trim())
            .ok_or_else(|| {
                ApiError::unauthorized(
                    "The Authorization header must read: Bearer <API key or token>.",
                )
            })?;
        let credential = if token.starts_with(KEY_PREFIX) {
            Credential::ApiKey(
                ApiKey::parse(token)
                    .ok_or_else(|| ApiError::unauthorized("Invalid or revoked credential."))?,
            )
        } else {
            let verifier =
                jwt.ok_or_else(|| ApiError::unauthorized("Invalid or revoked credential."))?;
            Credential::User(verifier.verify(token)?)
        };
        let requested_tenant = crate::http::header(req, "x-tenant")?.map(str::to_owned);
        Ok(Self {
            credential,
            requested_tenant,
        })
    }

    /// The tenant the credential claims.
    pub fn tenant(&self) -> &TenantId {
        match &self.credential {
            Credential::ApiKey(key) => key.tenant(),
            Credential::User(user) => &user.tenant,
        }
    }

    /// Who did it, as recorded on a resolved alert.
    pub fn actor(&self) -> String {
        match &self.credential {
            Credential::ApiKey(key) => format!("api-key:{}", key.prefix()),
            Credential::User(user) => format!("user:{}", user.id),
        }
    }

    /// Whether `X-Tenant`, when sent, names another tenant than the credential's.
    pub fn asks_for_another_tenant(&self) -> bool {
        self.requested_tenant
            .as_deref()
            .is_some_and(|requested| requested != self.tenant().as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_generated_key_parses_back_to_its_tenant_and_hash() {
        let tenant = TenantId::parse("macrea").unwrap();
        let (text, key) = ApiKey::generate(&tenant).unwrap();
        assert!(text.starts_with("mxk_macrea_"));
        assert_eq!(text.len(), "mxk_macrea_".len() + SECRET_LEN);
        let parsed = ApiKey::parse(&text).unwrap();
        assert_eq!(parsed, key);
        assert_eq!(parsed.tenant().as_str(), "macrea");
        assert_eq!(parsed.prefix(), &text[..16]);
    }

    #[test]
    fn two_generated_keys_differ() {
        let tenant = TenantId::parse("t1").unwrap();
        assert_ne!(
            ApiKey::generate(&tenant).unwrap().0,
            ApiKey::generate(&tenant).unwrap().0
        );
    }

    #[test]
    fn tenants_with_underscores_are_read_from_the_right() {
        let text = format!("mxk_acme_sales_{}", "a".repeat(SECRET_LEN));
        assert_eq!(
            ApiKey::parse(&text).unwrap().tenant().as_str(),
            "acme_sales"
        );
    }

    #[test]
    fn malformed_keys_are_refused() {
        let secret = "a".repeat(SECRET_LEN);
        for bad in [
            String::new(),
            "mxk_".into(),
            format!("mxk_{secret}"),
            format!("mxk__{secret}"),
            format!("mxk_Macrea_{secret}"),
            format!("xxx_macrea_{secret}"),
            format!("mxk_macrea_{}", "a".repeat(SECRET_LEN - 1)),
            format!("mxk_macrea_{}!", "a".repeat(SECRET_LEN - 1)),
            format!("mxk_macréa_{secret}"),
        ] {
            assert!(ApiKey::parse(&bad).is_none(), "{bad:?} should not parse");
        }
    }

    #[test]
    fn a_key_never_shows_in_debug_output() {
        let (text, key) = ApiKey::generate(&TenantId::parse("macrea").unwrap()).unwrap();
        let shown = format!("{key:?}");
        assert!(!shown.contains(&text[16..]), "{shown}");
    }

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
        let token = sign_user_token(SECRET, &user_claims("macrea", 600)).unwrap();
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
        assert!(
            verifier
                .verify(&sign_user_token(SECRET, &claims).unwrap())
                .is_ok()
        );
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
            sign_user_token(SECRET, &expired).unwrap(),
            sign_user_token(other_secret, &claims).unwrap(),
            sign_user_token(SECRET, &wrong_audience).unwrap(),
            sign_user_token(SECRET, &wrong_issuer).unwrap(),
            sign_user_token(SECRET, &bad_tenant).unwrap(),
            "eyJhbGciOiJub25lIn0.e30.".into(),
            "garbage".into(),
        ] {
            assert_eq!(verifier.verify(&token).unwrap_err().status, 401, "{token}");
        }
    }

    #[test]
    fn short_secrets_are_refused() {
        assert!(JwtVerifier::hs256(b"short", None, None).is_err());
    }

    #[test]
    fn tenant_ids_are_slugs() {
        assert!(TenantId::parse("macrea").is_some());
        assert!(TenantId::parse("a-b_c9").is_some());
        assert!(TenantId::parse("").is_none());
        assert!(TenantId::parse("-a").is_none());
        assert!(TenantId::parse("Macrea").is_none());
        assert!(TenantId::parse(&"a".repeat(64)).is_none());
    }
}
