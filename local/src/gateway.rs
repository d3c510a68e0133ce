//! The local stand-in for API Gateway, on axum: each route of `shared::http::routes` turns its
//! request into the HTTP API (payload v2) event the cloud would send, hands it to the same handler
//! the Lambda function runs, and turns the handler's response back into HTTP. CORS (tower-http)
//! as the gateway is configured, trailing slashes tolerated, and the demo dashboard served.

use std::collections::HashMap;
use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use axum::body::Body;
use axum::extract::{ConnectInfo, RawPathParams, Request, State};
use axum::http::{HeaderName, HeaderValue, Method, StatusCode, header};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{MethodFilter, get, on};
use axum::{Router, ServiceExt};
use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use lambda_http::aws_lambda_events::apigw::{
    ApiGatewayV2httpRequest, ApiGatewayV2httpRequestContext,
    ApiGatewayV2httpRequestContextHttpDescription,
};
use lambda_http::request::LambdaRequest;
use shared::http::routes::{self, ROUTES, Route, RouteMatch};
use shared::http::{ApiError, App};
use tokio::net::TcpListener;
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

/// Serves every route on `listener` until `shutdown` completes.
pub async fn serve(
    listener: TcpListener,
    app: Arc<App>,
    cors_origin: &str,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    // Around the router, so that `/health/` is routed as `/health`, and every answer (errors and
    // the dashboard too) carries the CORS headers.
    let service = tower::ServiceBuilder::new()
        .layer(NormalizePathLayer::trim_trailing_slash())
        .layer(middleware::from_fn(preflight_no_content))
        .layer(cors(cors_origin))
        .service(router(app));
    axum::serve(
        listener,
        ServiceExt::<Request>::into_make_service_with_connect_info::<SocketAddr>(service),
    )
    .with_graceful_shutdown(shutdown)
    .await
}

/// Every route of the system, the dashboard, and JSON answers for what matches no route.
fn router(app: Arc<App>) -> Router {
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
                      req: Request| forward(app, route, peer, params, req),
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
        .allow_methods([Method::GET, Method::POST, Method::OPTIONS])
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
) -> Response {
    let (parts, body) = req.into_parts();
    let body = match axum::body::to_bytes(body, MAX_FORWARDED_BODY).await {
        Ok(body) => body,
        Err(_) => {
            return into_axum(ApiError::payload_too_large(MAX_FORWARDED_BODY).into_response());
        }
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
        other => {
            tracing::error!(function = other, "route names an unknown function");
            ApiError::internal().into_response()
        }
    };
    into_axum(response)
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
