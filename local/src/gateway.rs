//! The local stand-in for API Gateway, on axum: each route of `shared::http::routes` turns its
//! request into the HTTP API (payload v2) event the cloud would send, hands it to the same handler
//! the Lambda function runs, and turns the handler's response back into HTTP. CORS (tower-http)
//! as the gateway is configured, trailing slashes tolerated, and the demo dashboard served.
//!
//! What API Gateway does before a function sees a request is done here too: an HTTP/1.1 request
//! without exactly one `Host` is a 400, a body that does not arrive within its bound is a 408, and
//! every request gets one log line (the handlers log their own; the gateway logs the rest:
//! dashboard files, unknown routes, refusals) with method, route, status and duration, never
//! headers, query values or bodies.

use std::collections::HashMap;
use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use axum::Router;
use axum::body::Body;
use axum::extract::{ConnectInfo, MatchedPath, RawPathParams, Request, State};
use axum::http::{HeaderName, HeaderValue, Method, StatusCode, Version, header};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{MethodFilter, get, on};
use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use lambda_http::aws_lambda_events::apigw::{
    ApiGatewayV2httpRequest, ApiGatewayV2httpRequestContext,
    ApiGatewayV2httpRequestContextHttpDescription,
};
use lambda_http::request::LambdaRequest;
use shared::http::routes::{self, ROUTES, Route, RouteMatch};
use shared::http::{ApiError, App};
use tower::Service;
use tower_http::cors::{AllowOrigin, CorsLayer};
use tower_http::normalize_path::NormalizePathLayer;

/// The largest request body the gateway forwards (Lambda's own payload limit is 6 MB); routes
/// refuse anything over their own, much smaller, limit with a JSON 413.
const MAX_FORWARDED_BODY: usize = 6 * 1024 * 1024;

/// Headers a browser dashboard may send.
const CORS_ALLOW_HEADERS: [HeaderName; 4] = [
    header::AUTHORIZATION,
    header::CONTENT_TYPE,
    HeaderName::from_static("idempotency-key"),
    HeaderName::from_static("x-tenant"),
];

static REQUEST_COUNTER: AtomicU64 = AtomicU64::new(0);

/// Marks a response whose handler logged the request itself (`shared::http::respond`).
#[derive(Clone, Copy)]
struct LoggedByHandler;

/// The route a response answered, for the gateway's log line.
#[derive(Clone)]
struct AnsweredRoute(MatchedPath);

/// Every route, as one service for `server::run`: `body_timeout` bounds reading a request's body.
pub fn service(
    app: Arc<App>,
    cors_origin: &str,
    body_timeout: Duration,
) -> impl Service<Request, Response = Response, Error = Infallible, Future: Send> + Clone + Send + 'static
{
    // Outermost the log line and the Host check, which see every request; then, around the
    // router, so that `/health/` is routed as `/health`, and every answer (errors and the
    // dashboard too) carries the CORS headers.
    tower::ServiceBuilder::new()
        .layer(middleware::from_fn(log_request))
        .layer(middleware::from_fn(require_host))
        .layer(NormalizePathLayer::trim_trailing_slash())
        .layer(middleware::from_fn(preflight_no_content))
        .layer(cors(cors_origin))
        .service(router(app, body_timeout))
}

/// One log line for a request its handler did not log (the dashboard, an unknown route, a
/// refusal), like the handlers' own: route, status and duration.
async fn log_request(req: Request, next: Next) -> Response {
    let started = Instant::now();
    let method = req.method().clone();
    let response = next.run(req).await;
    if response.extensions().get::<LoggedByHandler>().is_none() {
        let route = match response.extensions().get::<AnsweredRoute>() {
            Some(AnsweredRoute(path)) => format!("{method} {}", path.as_str()),
            None => format!("{method} (no route)"),
        };
        let status = response.status().as_u16();
        let elapsed_ms = started.elapsed().as_secs_f64() * 1000.0;
        if status >= 500 {
            tracing::warn!(%route, status, elapsed_ms, "request failed");
        } else {
            tracing::info!(%route, status, elapsed_ms, "request");
        }
    }
    response
}

/// Notes which route answered, for `log_request` (outside the router, it cannot see it).
async fn note_route(path: Option<MatchedPath>, req: Request, next: Next) -> Response {
    let mut response = next.run(req).await;
    if let Some(path) = path {
        response.extensions_mut().insert(AnsweredRoute(path));
    }
    response
}

/// An HTTP/1.1 request must name its host once (RFC 9112, section 3.2): otherwise a 400, and the
/// connection is closed.
async fn require_host(req: Request, next: Next) -> Response {
    if req.version() == Version::HTTP_11 && req.headers().get_all(header::HOST).iter().count() != 1
    {
        let error = ApiError::bad_request(
            "missing_host",
            "An HTTP/1.1 request must carry one Host header.",
        );
        return closing(into_axum(error.into_response()));
    }
    next.run(req).await
}

/// `response`, after which the server closes the connection.
fn closing(mut response: Response) -> Response {
    response
        .headers_mut()
        .insert(header::CONNECTION, HeaderValue::from_static("close"));
    response
}

/// Every route of the system, the dashboard, and JSON answers for what matches no route.
fn router(app: Arc<App>, body_timeout: Duration) -> Router {
    let mut router = Router::new();
    for route in &ROUTES {
        let method = Method::from_bytes(route.method.as_bytes()).expect("a route's method");
        let filter = MethodFilter::try_from(method).expect("a method axum routes");
        router = router.route(
            route.path,
            on(
                filter,
                move |State(app): State<Arc<App>>,
                      ConnectInfo(peer): ConnectInfo<SocketAddr>,
                      params: RawPathParams,
                      req: Request| {
                    forward(app, route, peer, params, req, body_timeout)
                },
            ),
        );
    }
    for (path, content_type, body) in DASHBOARD_FILES {
        router = router.route(
            path,
            get(move || async move { dashboard_file(content_type, body) }),
        );
    }
    router
        .fallback(|| async { into_axum(ApiError::not_found("No such route.").into_response()) })
        .method_not_allowed_fallback(|req: Request| async move {
            let error = match routes::find(req.method().as_str(), req.uri().path()) {
                RouteMatch::MethodNotAllowed(allow) => ApiError::method_not_allowed(allow),
                _ => ApiError::not_found("No such route."),
            };
            into_axum(error.into_response())
        })
        .layer(middleware::from_fn(note_route))
        .with_state(app)
}

/// CORS as the gateway is configured: the dashboard's origin may call the API, send its headers,
/// and read `Retry-After`.
fn cors(origin: &str) -> CorsLayer {
    let allow_origin = match HeaderValue::from_str(origin) {
        Ok(value) if origin != "*" => AllowOrigin::exact(value),
        _ => AllowOrigin::any(),
    };
    CorsLayer::new()
        .allow_origin(allow_origin)
        .allow_methods([Method::GET, Method::POST, Method::DELETE, Method::OPTIONS])
        .allow_headers(CORS_ALLOW_HEADERS)
        .expose_headers([header::RETRY_AFTER])
        .max_age(Duration::from_secs(600))
}

/// tower-http answers a preflight with 200 and no body; 204 says the same more exactly.
async fn preflight_no_content(req: Request, next: Next) -> Response {
    let preflight = req.method() == Method::OPTIONS;
    let mut response = next.run(req).await;
    if preflight && response.status() == StatusCode::OK {
        *response.status_mut() = StatusCode::NO_CONTENT;
    }
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

fn dashboard_file(content_type: &'static str, body: &'static str) -> Response {
    (
        [
            (header::CONTENT_TYPE, content_type),
            (header::CACHE_CONTROL, "no-cache"),
            (
                header::CONTENT_SECURITY_POLICY,
                "default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data:",
            ),
        ],
        body,
    )
        .into_response()
}

/// Hands a request to the handler of the function its route names, as API Gateway would.
async fn forward(
    app: Arc<App>,
    route: &'static Route,
    peer: SocketAddr,
    params: RawPathParams,
    req: Request,
    body_timeout: Duration,
) -> Response {
    let (parts, body) = req.into_parts();
    let body =
        match tokio::time::timeout(body_timeout, axum::body::to_bytes(body, MAX_FORWARDED_BODY))
            .await
        {
            Ok(Ok(body)) => body,
            Ok(Err(_)) => {
                return into_axum(ApiError::payload_too_large(MAX_FORWARDED_BODY).into_response());
            }
            Err(_) => return closing(into_axum(body_timed_out().into_response())),
        };
    let path = parts.uri.path().to_owned();

    let mut http = ApiGatewayV2httpRequestContextHttpDescription::default();
    http.method = parts.method.clone();
    http.path = Some(path.clone());
    http.protocol = Some(format!("{:?}", parts.version));
    http.source_ip = Some(peer.ip().to_string());
    http.user_agent = parts
        .headers
        .get(header::USER_AGENT)
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
        .get(header::HOST)
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
        .iter()
        .map(|(name, value)| (name.to_owned(), value.to_owned()))
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
        "log-activity" => log_activity::handle(&app, request).await,
        "active-alerts" => active_alerts::handle(&app, request).await,
        "resolve-alert" => resolve_alert::handle(&app, request).await,
        "acknowledge-alert" => acknowledge_alert::handle(&app, request).await,
        "alert-history" => alert_history::handle(&app, request).await,
        "snooze-alert" => snooze_alert::handle(&app, request).await,
        "resolved-alerts" => resolved_alerts::handle(&app, request).await,
        "alert-metrics" => alert_metrics::handle(&app, request).await,
        "whatsapp-webhook" => whatsapp_webhook::handle(&app, request).await,
        "upsert-leads" => upsert_leads::handle(&app, request).await,
        other => {
            tracing::error!(function = other, "route names an unknown function");
            return into_axum(ApiError::internal().into_response());
        }
    };
    let mut response = into_axum(response);
    response.extensions_mut().insert(LoggedByHandler);
    response
}

/// 408: the body did not arrive within the gateway's bound.
fn body_timed_out() -> ApiError {
    let mut error = ApiError::bad_request(
        "request_timeout",
        "The request body did not arrive in time.",
    );
    error.status = StatusCode::REQUEST_TIMEOUT;
    error
}

/// A handler's response, as HTTP.
fn into_axum(response: lambda_http::Response<lambda_http::Body>) -> Response {
    let (parts, body) = response.into_parts();
    let body = match body {
        lambda_http::Body::Text(text) => Body::from(text),
        lambda_http::Body::Binary(bytes) => Body::from(bytes),
        _ => Body::empty(),
    };
    Response::from_parts(parts, body)
}
