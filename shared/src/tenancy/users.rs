//! Dashboard users: their signed tokens (HS256 JWTs whose claims carry the user and the tenant),
//! verified once per request without a database round trip.

use std::fmt;

use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation};
use serde::{Deserialize, Serialize};

use super::{Scope, TenantId};

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

    /// The user behind a token.
    pub fn verify(&self, token: &str) -> Result<User, TokenRefused> {
        let claims = jsonwebtoken::decode::<UserClaims>(token, &self.key, &self.validation)
            .map_err(|error| {
                tracing::info!(reason = ?error.kind(), "bearer token refused");
                TokenRefused
            })?
            .claims;
        let tenant = TenantId::parse(&claims.tenant).ok_or(TokenRefused)?;
        if claims.sub.is_empty() || claims.sub.len() > 200 {
            return Err(TokenRefused);
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

    #[test]
    fn short_secrets_are_refused() {
        assert!(JwtVerifier::hs256(b"short", None, None).is_err());
    }
}
