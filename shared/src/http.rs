//! HTTP helpers shared by the functions: JSON responses, body and header parsing, and the wrapper
//! that turns a handler's `Result` into a response and logs one line per request.

use std::future::Future;
use std::time::Instant;

use lambda_http::http::{HeaderValue, Method, Response, StatusCode, header};
use lambda_http::request::RequestContext;
use lambda_http::{Body, Request, RequestExt};
use serde::Serialize;
use serde_json::{Map, Value};

use crate::error::ApiError;

/// The largest JSON body a route accepts.
pub const MAX_BODY_BYTES: usize = 64 * 1024;

/// A JSON response with the given status.
pub fn json<T: Serialize + ?Sized>(status: StatusCode, body: &T) -> Response<Body> {
    json_with_capacity(status, body, 512)
}

/// A JSON response, written into a buffer of `capacity` bytes to begin with (a large body then
/// costs one allocation rather than a buffer that grows by doubling).
pub fn json_with_capacity<T: Serialize + ?Sized>(
    status: StatusCode,
    body: &T,
    capacity: usize,
) -> Response<Body> {
    let mut buffer = Vec::with_capacity(capacity);
    let written = serde_json::to_writer(&mut buffer, body)
        // serde_json writes UTF-8 only.
        .map(|()| String::from_utf8(buffer).unwrap_or_default());
    let (status, text) = match written {
        Ok(text) => (status, text),
        Err(error) => {
            // Our own types always serialise; this is a defect, not a client error.
            tracing::error!(%error, "response did not serialise");
            (
                StatusCode::INTERNAL_SERVER_ERROR,
                r#"{"success":false,"error":{"code":"internal_error","message":"An unexpected error occurred. It has been logged."}}"#.to_owned(),
            )
        }
    };
    // Text, not binary: API Gateway passes it through instead of base64-decoding it.
    let mut response = Response::new(Body::Text(text));
    *response.status_mut() = status;
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    response
}

/// The route a request was sent to, as API Gateway names it (`"POST /api/alerts/{id}/resolve"`).
///
/// Taken from the request context where the gateway sets it, else rebuilt from the method and the
/// raw path (as `cargo lambda watch` function URLs do not set it).
pub fn route_key(req: &Request) -> String {
    if let Some(RequestContext::ApiGatewayV2(context)) = req.request_context_ref()
        && let Some(key) = context.route_key.as_deref()
        && key != "$default"
        && !key.is_empty()
    {
        return key.to_owned();
    }
    format!("{} {}", req.method(), req.raw_http_path())
}

/// The gateway's id of a request, for logs.
fn request_id(req: &Request) -> Option<&str> {
    match req.request_context_ref() {
        Some(RequestContext::ApiGatewayV2(context)) => context.request_id.as_deref(),
        _ => None,
    }
}

/// Runs a handler body and logs one line per request: route, status, duration, request id.
///
/// An `ApiError` becomes its JSON error response; 5xx errors were already logged with their cause
/// where they were created.
pub async fn respond<F>(req: &Request, handler: F) -> Response<Body>
where
    F: Future<Output = Result<Response<Body>, ApiError>>,
{
    let started = Instant::now();
    let response = handler.await.unwrap_or_else(ApiError::into_response);
    let status = response.status().as_u16();
    let route = route_key(req);
    let elapsed_ms = started.elapsed().as_secs_f64() * 1000.0;
    let request_id = request_id(req).unwrap_or("-");
    if status >= 500 {
        tracing::warn!(%route, status, elapsed_ms, request_id, "request failed");
    } else {
        tracing::info!(%route, status, elapsed_ms, request_id, "request");
    }
    response
}

/// The value of a header as text; a header that is not valid text is a 400.
pub fn header<'r>(req: &'r Request, name: &'static str) -> Result<Option<&'r str>, ApiError> {
    match req.headers().get(name) {
        None => Ok(None),
        Some(value) => value.to_str().map(Some).map_err(|_| {
            ApiError::bad_request("invalid_header", format!("The {name} header must be text."))
        }),
    }
}

/// Whether a Content-Type names JSON (`application/json`, with parameters, or `application/*+json`).
fn is_json_media_type(value: &str) -> bool {
    let essence = value.split(';').next().unwrap_or("").trim();
    let Some((kind, subtype)) = essence.split_once('/') else {
        return false;
    };
    kind.eq_ignore_ascii_case("application")
        && (subtype.eq_ignore_ascii_case("json") || subtype.to_ascii_lowercase().ends_with("+json"))
}

/// The request body, checked for size (413).
pub fn body_bytes(req: &Request) -> Result<&[u8], ApiError> {
    let bytes: &[u8] = req.body().as_ref();
    if bytes.len() > MAX_BODY_BYTES {
        return Err(ApiError::payload_too_large(MAX_BODY_BYTES));
    }
    Ok(bytes)
}

/// The request body as a JSON object: 413 when too large, 415 when not sent as JSON, 400 when not
/// valid JSON or not an object.
pub fn json_object(req: &Request) -> Result<Map<String, Value>, ApiError> {
    let bytes = body_bytes(req)?;
    match header(req, "content-type")? {
        Some(content_type) if is_json_media_type(content_type) => {}
        _ => return Err(ApiError::unsupported_media_type()),
    }
    if bytes.iter().all(u8::is_ascii_whitespace) {
        return Err(ApiError::bad_request(
            "invalid_json",
            "The request body is empty; a JSON object is expected.",
        ));
    }
    match serde_json::from_slice::<Value>(bytes) {
        Ok(Value::Object(object)) => Ok(object),
        Ok(_) => Err(ApiError::bad_request(
            "invalid_json",
            "The request body must be a JSON object.",
        )),
        Err(error) => Err(ApiError::bad_request(
            "invalid_json",
            format!(
                "The request body is not valid JSON (line {}, column {}).",
                error.line(),
                error.column()
            ),
        )),
    }
}

/// Checks an optional body, where a route reads none: absent, or valid JSON sent as JSON (415 for
/// another type, 400 for malformed JSON).
pub fn optional_json_body(req: &Request) -> Result<(), ApiError> {
    let bytes = body_bytes(req)?;
    if bytes.iter().all(u8::is_ascii_whitespace) {
        return Ok(());
    }
    match header(req, "content-type")? {
        Some(content_type) if is_json_media_type(content_type) => {}
        _ => return Err(ApiError::unsupported_media_type()),
    }
    serde_json::from_slice::<serde::de::IgnoredAny>(bytes)
        .map(|_| ())
        .map_err(|_| ApiError::bad_request("invalid_json", "The request body is not valid JSON."))
}

/// 405 unless the request uses `method`.
pub fn expect_method(req: &Request, method: &Method, allow: &'static str) -> Result<(), ApiError> {
    if req.method() == method {
        Ok(())
    } else {
        Err(ApiError::method_not_allowed(allow))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn request(content_type: Option<&str>, body: &str) -> Request {
        let mut builder = lambda_http::http::Request::builder()
            .method("POST")
            .uri("/x");
        if let Some(content_type) = content_type {
            builder = builder.header("content-type", content_type);
        }
        builder.body(Body::from(body.to_owned())).unwrap()
    }

    #[test]
    fn json_media_types_are_recognised() {
        assert!(is_json_media_type("application/json"));
        assert!(is_json_media_type("Application/JSON; charset=utf-8"));
        assert!(is_json_media_type("application/vnd.max+json"));
        assert!(!is_json_media_type("text/plain"));
        assert!(!is_json_media_type("application/x-www-form-urlencoded"));
        assert!(!is_json_media_type("json"));
    }

    #[test]
    fn a_body_that_is_not_an_object_is_rejected() {
        let error = json_object(&request(Some("application/json"), "[1,2]")).unwrap_err();
        assert_eq!(error.status, StatusCode::BAD_REQUEST);
        assert_eq!(error.code, "invalid_json");
    }

    #[test]
    fn malformed_json_is_a_400_with_its_position() {
        let error = json_object(&request(Some("application/json"), "{\"a\":")).unwrap_err();
        assert_eq!(error.code, "invalid_json");
        assert!(error.message.contains("line 1"), "{}", error.message);
    }

    #[test]
    fn a_body_without_json_content_type_is_a_415() {
        let error = json_object(&request(Some("text/plain"), "{}")).unwrap_err();
        assert_eq!(error.status, StatusCode::UNSUPPORTED_MEDIA_TYPE);
        let error = json_object(&request(None, "{}")).unwrap_err();
        assert_eq!(error.status, StatusCode::UNSUPPORTED_MEDIA_TYPE);
    }

    #[test]
    fn a_body_over_64_kib_is_a_413_whatever_its_type() {
        let big = "x".repeat(MAX_BODY_BYTES + 1);
        let error = json_object(&request(Some("text/plain"), &big)).unwrap_err();
        assert_eq!(error.status, StatusCode::PAYLOAD_TOO_LARGE);
    }

    #[test]
    fn an_empty_optional_body_needs_no_content_type() {
        assert!(optional_json_body(&request(None, "")).is_ok());
        assert!(optional_json_body(&request(Some("application/json"), "{}")).is_ok());
        assert_eq!(
            optional_json_body(&request(Some("application/json"), "{"))
                .unwrap_err()
                .code,
            "invalid_json"
        );
        assert_eq!(
            optional_json_body(&request(Some("text/plain"), "hi"))
                .unwrap_err()
                .status,
            StatusCode::UNSUPPORTED_MEDIA_TYPE
        );
    }
}
