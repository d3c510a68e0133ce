//! `GET /api/alerts/metrics`: what became of the tenant's alerts, day by day, over a period of its
//! days (the last 30 unless `from`/`to` say otherwise): raised, resolved by a person and
//! automatically, open at the end of each day, time to acknowledge and to resolve, share resolved
//! within 24 hours, by rule and by severity, and the widget's users.

use lambda_http::http::{Method, StatusCode};
use lambda_http::{Body, Request, RequestExt, Response};
use serde::Serialize;
use shared::http::{self, ApiError, App};
use shared::metrics::{self, Metrics};
use shared::tenancy::Scope;

#[derive(Serialize)]
struct AlertMetrics {
    success: bool,
    #[serde(flatten)]
    metrics: Metrics,
}

pub async fn handle(app: &App, req: Request) -> Response<Body> {
    http::respond(&req, alert_metrics(app, &req)).await
}

async fn alert_metrics(app: &App, req: &Request) -> Result<Response<Body>, ApiError> {
    http::expect_method(req, &Method::GET, "GET")?;
    let caller = app.caller(req).await?;
    let query = http::alerts::metrics_query(req.query_string_parameters_ref());
    let (scope, query) = app
        .authorize_input(&caller, Scope::ReadAlerts, query)
        .await?;
    let (time_zone, today) = metrics::tenant_today(&app.db, &scope).await?;
    let (from, to) = query.period(today).map_err(http::alerts::period_refused)?;
    let metrics = metrics::read(&app.db, &scope, time_zone, from, to).await?;
    Ok(http::json(
        StatusCode::OK,
        &AlertMetrics {
            success: true,
            metrics,
        },
    ))
}
