//! Who is calling: the credential of a request (`Authorization: Bearer ...`) and the tenant it
//! asks for with `X-Tenant`, kept for compatibility with the seed's clients.

use lambda_http::Request;

use super::{ApiError, header};
use crate::tenancy::{ApiKey, Credential, JwtVerifier, TenantId};

/// The credential of a request, and the tenant the caller asked for with `X-Tenant`, if any.
#[derive(Debug, Clone)]
pub struct Caller {
    pub credential: Credential,
    pub requested_tenant: Option<String>,
}

impl Caller {
    /// Reads `Authorization: Bearer ...` and `X-Tenant`. No credential, or one that cannot be
    /// valid, is a 401; an API key's validity is decided with the request's work, a token's here.
    pub async fn from_request(req: &Request, jwt: Option<&JwtVerifier>) -> Result<Self, ApiError> {
        let authorization = header(req, "authorization")?.ok_or_else(|| {
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
        let refused = || ApiError::unauthorized("Invalid or revoked credential.");
        let credential = if ApiKey::looks_like_one(token) {
            Credential::ApiKey(ApiKey::parse(token).ok_or_else(refused)?)
        } else {
            Credential::User(jwt.ok_or_else(refused)?.verify(token).await?)
        };
        let requested_tenant = header(req, "x-tenant")?.map(str::to_owned);
        Ok(Self {
            credential,
            requested_tenant,
        })
    }

    /// The tenant the credential claims.
    pub fn tenant(&self) -> &TenantId {
        self.credential.tenant()
    }

    /// Who did it, as recorded on a resolved alert.
    pub fn actor(&self) -> String {
        self.credential.actor()
    }

    /// Whether `X-Tenant`, when sent, names another tenant than the credential's.
    pub fn asks_for_another_tenant(&self) -> bool {
        self.requested_tenant
            .as_deref()
            .is_some_and(|requested| requested != self.tenant().as_str())
    }
}
