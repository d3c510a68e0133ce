//! The HTTP layer, between API Gateway's requests and the domain: it reads requests into domain
//! values (`body`, `activities`, `alerts`, `leads`, `greenapi`), finds the caller (`caller`), renders answers as JSON,
//! and maps every failure to a status in one place (`error`). The functions' handlers sit on it,
//! and so does `max-local`'s gateway (`routes`).

pub mod activities;
pub mod alerts;
mod app;
pub mod body;
mod caller;
pub mod error;
pub mod greenapi;
pub mod health;
pub mod leads;
pub mod routes;

use std::future::Future;
use std::time::Instant;

use lambda_http::http::{HeaderValue, Method, Response, StatusCode, header};
use lambda_http::request::RequestContext;
use lambda_http::{Body, Request, RequestExt};
use serde::Serialize;

pub use app::App;
pub use caller::Caller;
pub use error::ApiError;

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

/// 405 unless the request uses `method`.
pub fn expect_method(req: &Request, method: &Method, allow: &'static str) -> Result<(), ApiError> {
    if req.method() == method {
        Ok(())
    } else {
        Err(ApiError::method_not_allowed(allow))
    }
}
