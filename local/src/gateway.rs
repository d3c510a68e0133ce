//! The local stand-in for API Gateway: turns an HTTP request into the HTTP API (payload v2) event
//! the cloud would send, hands it to the same handler the Lambda function runs, and turns the
//! handler's response back into HTTP. Adds CORS, as the gateway is configured to.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{SystemTime, UNIX_EPOCH};

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use http_body_util::{BodyExt, Full, Limited};
use hyper::body::{Bytes, Incoming};
use hyper::header::HeaderValue;
use hyper::{Request, Response, StatusCode};
use lambda_http::Body;
use lambda_http::aws_lambda_events::apigw::{
    ApiGatewayV2httpRequest, ApiGatewayV2httpRequestContext,
    ApiGatewayV2httpRequestContextHttpDescription,
};
use lambda_http::request::LambdaRequest;
use shared::routes::{self, RouteMatch};
use shared::{ApiError, App};

/// The largest request body the gateway forwards (Lambda's own payload limit is 6 MB); routes
/// refuse anything over their own, much smaller, limit with a JSON 413.
const MAX_FORWARDED_BODY: usize = 6 * 1024 * 1024;

/// Headers a browser dashboard may send.
const CORS_ALLOW_HEADERS: &str = "authorization, content-type, idempotency-key, x-tenant";
const CORS_ALLOW_METHODS: &str = "GET, POST, OPTIONS";

static REQUEST_COUNTER: AtomicU64 = AtomicU64::new(0);

/// Serves one request through the handler of the function its route names.
pub async fn serve(
    app: &App,
    cors_origin: &str,
    peer: SocketAddr,
    req: Request<Incoming>,
) -> Response<Full<Bytes>> {
    let mut response = if req.method() == hyper::Method::OPTIONS {
        preflight()
    } else if let Some(response) = dashboard_file(&req) {
        response
    } else {
        forward(app, peer, req).await
    };
    let headers = response.headers_mut();
    if let Ok(origin) = HeaderValue::from_str(cors_origin) {
        headers.insert("access-control-allow-origin", origin);
    }
    headers.insert(
        "access-control-expose-headers",
        HeaderValue::from_static("retry-after"),
    );
    response
}

/// The demo dashboard and the widget, built into the binary so that it runs from anywhere.
const DASHBOARD_FILES: [(&str, &str, &str); 4] = [
    (
        "/dashboard",
        "text/html; charset=utf-8",
        include_str!("../../dashboard/index.html"),
    ),
    (
        "/dashboard/max-alerts.js",
        "text/javascript; charset=utf-8",
        include_str!("../../dashboard/max-alerts.js"),
    ),
    (
        "/dashboard/demo.js",
        "text/javascript; charset=utf-8",
        include_str!("../../dashboard/demo.js"),
    ),
    (
        "/dashboard/favicon.svg",
        "image/svg+xml",
        include_str!("../../dashboard/favicon.svg"),
    ),
];

fn dashboard_file(req: &Request<Incoming>) -> Option<Response<Full<Bytes>>> {
    if req.method() != hyper::Method::GET && req.method() != hyper::Method::HEAD {
        return None;
    }
    let path = req.uri().path();
    let path = if path == "/dashboard/" {
        "/dashboard"
    } else {
        path
    };
    let (_, content_type, body) = DASHBOARD_FILES.iter().find(|(p, _, _)| *p == path)?;
    let mut response = Response::new(Full::new(Bytes::from_static(body.as_bytes())));
    let headers = response.headers_mut();
    headers.insert("content-type", HeaderValue::from_static(content_type));
    headers.insert("cache-control", HeaderValue::from_static("no-cache"));
    headers.insert(
        "content-security-policy",
        HeaderValue::from_static(
            "default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data:",
        ),
    );
    Some(response)
}

fn preflight() -> Response<Full<Bytes>> {
    let mut response = Response::new(Full::new(Bytes::new()));
    *response.status_mut() = StatusCode::NO_CONTENT;
    let headers = response.headers_mut();
    headers.insert(
        "access-control-allow-methods",
        HeaderValue::from_static(CORS_ALLOW_METHODS),
    );
    headers.insert(
        "access-control-allow-headers",
        HeaderValue::from_static(CORS_ALLOW_HEADERS),
    );
    headers.insert("access-control-max-age", HeaderValue::from_static("600"));
    response
}

async fn forward(app: &App, peer: SocketAddr, req: Request<Incoming>) -> Response<Full<Bytes>> {
    let path = req.uri().path().to_owned();
    let (route, params) = match routes::find(req.method().as_str(), &path) {
        RouteMatch::Found(route, params) => (route, params),
        RouteMatch::MethodNotAllowed(allow) => {
            return into_hyper(ApiError::method_not_allowed(allow).into_response());
        }
        RouteMatch::NotFound => {
            return into_hyper(ApiError::not_found("No such route.").into_response());
        }
    };
    let (parts, body) = req.into_parts();
    let body = match Limited::new(body, MAX_FORWARDED_BODY).collect().await {
        Ok(collected) => collected.to_bytes(),
        Err(_) => {
            return into_hyper(ApiError::payload_too_large(MAX_FORWARDED_BODY).into_response());
        }
    };

    let mut http = ApiGatewayV2httpRequestContextHttpDescription::default();
    http.method = parts.method.clone();
    http.path = Some(path.clone());
    http.protocol = Some(format!("{:?}", parts.version));
    http.source_ip = Some(peer.ip().to_string());
    http.user_agent = parts
        .headers
        .get(hyper::header::USER_AGENT)
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned);

    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default();
    let mut context = ApiGatewayV2httpRequestContext::default();
    context.route_key = Some(route.key());
    context.account_id = Some("local".into());
    context.apiid = Some("max-local".into());
    context.stage = Some("$default".into());
    context.request_id = Some(format!(
        "local-{:x}-{}",
        now.as_millis(),
        REQUEST_COUNTER.fetch_add(1, Ordering::Relaxed)
    ));
    context.domain_name = parts
        .headers
        .get(hyper::header::HOST)
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned);
    context.time_epoch = now.as_millis() as i64;
    context.http = http;

    let mut event = ApiGatewayV2httpRequest::default();
    event.version = Some("2.0".into());
    event.route_key = Some(route.key());
    event.raw_path = Some(path);
    event.raw_query_string = Some(parts.uri.query().unwrap_or("").to_owned());
    event.headers = parts.headers;
    event.path_parameters = params
        .into_iter()
        .map(|(name, value)| (name.to_owned(), value))
        .collect::<HashMap<_, _>>();
    event.request_context = context;
    if !body.is_empty() {
        match std::str::from_utf8(&body) {
            Ok(text) => event.body = Some(text.to_owned()),
            Err(_) => {
                event.body = Some(STANDARD.encode(&body));
                event.is_base64_encoded = true;
            }
        }
    }

    let request: lambda_http::Request = LambdaRequest::ApiGatewayV2(event).into();
    let response = match route.function {
        "log-activity" => log_activity::handle(app, request).await,
        "active-alerts" => active_alerts::handle(app, request).await,
        "resolve-alert" => resolve_alert::handle(app, request).await,
        other => {
            tracing::error!(function = other, "route names an unknown function");
            ApiError::internal().into_response()
        }
    };
    into_hyper(response)
}

fn into_hyper(response: lambda_http::Response<Body>) -> Response<Full<Bytes>> {
    let (parts, body) = response.into_parts();
    let bytes = match body {
        Body::Empty => Bytes::new(),
        Body::Text(text) => Bytes::from(text),
        Body::Binary(bytes) => Bytes::from(bytes),
        _ => Bytes::new(),
    };
    let mut out = Response::new(Full::new(bytes));
    *out.status_mut() = parts.status;
    *out.headers_mut() = parts.headers;
    out
}
