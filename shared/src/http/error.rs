//! The one place where an expected failure becomes an HTTP status and a JSON error body.
//!
//! Every error a client sees is `{"success": false, "error": {"code", "message"}}` with a stable
//! `code` and a message that is safe to show: never SQL, a stack or a connection string. Domain
//! failures ([`DbError`], [`TokenRefused`], a field that is not [`Invalid`]) become `ApiError`s
//! here; a 5xx is logged with its whole cause where it is made.

use std::borrow::Cow;

use lambda_http::Body;
use lambda_http::http::{HeaderValue, Response, StatusCode, header};
use serde::Serialize;

use crate::db::DbError;
use crate::parse::Invalid;
use crate::tenancy::{Refusal, TokenRefused};

/// How long a client should wait before retrying when the database is unavailable.
pub const RETRY_AFTER_SECONDS: u32 = 2;

/// An expected failure of a request, carried as a value up to the handler's response.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApiError {
    pub status: StatusCode,
    pub code: &'static str,
    pub message: Cow<'static, str>,
    /// The request field at fault, for 400s about one field.
    pub field: Option<&'static str>,
    retry_after: Option<u32>,
    allow: Option<&'static str>,
}

impl ApiError {
    fn new(status: StatusCode, code: &'static str, message: impl Into<Cow<'static, str>>) -> Self {
        Self {
            status,
            code,
            message: message.into(),
            field: None,
            retry_after: None,
            allow: None,
        }
    }

    /// 400: a request that could not be understood at all (bad JSON, bad query parameter).
    pub fn bad_request(code: &'static str, message: impl Into<Cow<'static, str>>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, code, message)
    }

    /// 400: one field of the request is missing or wrong.
    pub fn invalid_field(field: &'static str, message: impl Into<Cow<'static, str>>) -> Self {
        Self {
            field: Some(field),
            ..Self::new(StatusCode::BAD_REQUEST, "invalid_field", message)
        }
    }

    /// 400: a field is not what it must be ("leadId must not be empty.").
    pub fn field_is(field: &'static str, invalid: Invalid) -> Self {
        Self::invalid_field(field, format!("{field} {invalid}"))
    }

    /// 400: a required field is missing; `expected` says what it must be, when that helps.
    pub fn field_required(field: &'static str, expected: Option<Invalid>) -> Self {
        match expected {
            Some(expected) => {
                Self::invalid_field(field, format!("{field} is required; {field} {expected}"))
            }
            None => Self::invalid_field(field, format!("{field} is required.")),
        }
    }

    /// 401: no credential, or one that is malformed, unknown, expired or revoked.
    pub fn unauthorized(message: impl Into<Cow<'static, str>>) -> Self {
        Self::new(StatusCode::UNAUTHORIZED, "unauthorized", message)
    }

    /// 403: a valid credential that may not do this (scope), or for another tenant (`X-Tenant`).
    pub fn forbidden(message: impl Into<Cow<'static, str>>) -> Self {
        Self::new(StatusCode::FORBIDDEN, "forbidden", message)
    }

    /// 404: nothing here, or something that belongs to another tenant (never 403, so that ids
    /// cannot be probed).
    pub fn not_found(message: impl Into<Cow<'static, str>>) -> Self {
        Self::new(StatusCode::NOT_FOUND, "not_found", message)
    }

    /// 405: the path exists, the method does not.
    pub fn method_not_allowed(allow: &'static str) -> Self {
        Self {
            allow: Some(allow),
            ..Self::new(
                StatusCode::METHOD_NOT_ALLOWED,
                "method_not_allowed",
                format!("This route only accepts {allow}."),
            )
        }
    }

    /// 413: the body is larger than the route accepts.
    pub fn payload_too_large(limit_bytes: usize) -> Self {
        Self::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            "payload_too_large",
            format!(
                "The request body must not exceed {} KiB.",
                limit_bytes / 1024
            ),
        )
    }

    /// 415: a body that is not JSON.
    pub fn unsupported_media_type() -> Self {
        Self::new(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "unsupported_media_type",
            "The request body must be JSON, sent with Content-Type: application/json.",
        )
    }

    /// 503: the database cannot be reached or is overloaded; the client may retry shortly.
    pub fn unavailable() -> Self {
        Self {
            retry_after: Some(RETRY_AFTER_SECONDS),
            ..Self::new(
                StatusCode::SERVICE_UNAVAILABLE,
                "database_unavailable",
                "The service is temporarily unavailable. Please retry shortly.",
            )
        }
    }

    /// 500: a defect. The cause has been logged; the client learns nothing more.
    pub fn internal() -> Self {
        Self::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "internal_error",
            "An unexpected error occurred. It has been logged.",
        )
    }

    pub fn into_response(self) -> Response<Body> {
        #[derive(Serialize)]
        struct Envelope<'a> {
            success: bool,
            error: Detail<'a>,
        }
        #[derive(Serialize)]
        struct Detail<'a> {
            code: &'a str,
            message: &'a str,
            #[serde(skip_serializing_if = "Option::is_none")]
            field: Option<&'a str>,
        }
        let mut response = super::json(
            self.status,
            &Envelope {
                success: false,
                error: Detail {
                    code: self.code,
                    message: &self.message,
                    field: self.field,
                },
            },
        );
        if let Some(seconds) = self.retry_after {
            response
                .headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from(seconds));
        }
        if let Some(allow) = self.allow {
            response
                .headers_mut()
                .insert(header::ALLOW, HeaderValue::from_static(allow));
        }
        response
    }
}

impl From<DbError> for ApiError {
    fn from(error: DbError) -> Self {
        match Refusal::of(&error) {
            Some(Refusal::UnknownKey) => ApiError::unauthorized("Invalid or revoked credential."),
            Some(Refusal::MissingScope) => {
                ApiError::forbidden("This credential may not perform this operation.")
            }
            None if error.is_unavailable() => {
                tracing::warn!(%error, "database unavailable");
                ApiError::unavailable()
            }
            None => {
                tracing::error!(%error, "database error");
                ApiError::internal()
            }
        }
    }
}

impl From<TokenRefused> for ApiError {
    fn from(TokenRefused: TokenRefused) -> Self {
        ApiError::unauthorized("Invalid or expired token.")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn body_json(response: &Response<Body>) -> serde_json::Value {
        serde_json::from_slice(response.body().as_ref()).unwrap()
    }

    #[test]
    fn an_error_response_has_the_seed_shape() {
        let response = ApiError::not_found("No such alert.").into_response();
        assert_eq!(response.status(), StatusCode::NOT_FOUND);
        assert_eq!(
            body_json(&response),
            serde_json::json!({"success": false, "error": {"code": "not_found", "message": "No such alert."}})
        );
        assert_eq!(response.headers()[header::CONTENT_TYPE], "application/json");
    }

    #[test]
    fn unavailable_tells_the_client_when_to_retry() {
        let response = ApiError::unavailable().into_response();
        assert_eq!(response.status(), StatusCode::SERVICE_UNAVAILABLE);
        assert_eq!(response.headers()[header::RETRY_AFTER], "2");
    }

    #[test]
    fn a_field_error_names_the_field() {
        let response = ApiError::field_required("leadId", None).into_response();
        assert_eq!(body_json(&response)["error"]["field"], "leadId");
        assert_eq!(
            body_json(&response)["error"]["message"],
            "leadId is required."
        );
    }

    #[test]
    fn a_refused_token_is_a_401() {
        assert_eq!(ApiError::from(TokenRefused).status, 401);
    }
}
