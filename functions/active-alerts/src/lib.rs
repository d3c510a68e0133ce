//! `GET /api/alerts/active`: the tenant's open alerts, most urgent first, with their counts.
//! Also answers `GET /health`.

use lambda_http::http::{Method, StatusCode};
use lambda_http::{Body, Request, RequestExt, Response};
use serde::Serialize;
use shared::alerts::{self, Alert, Stats};
use shared::http::{self, ApiError, App, health};
use shared::tenancy::{Credential, Scope};

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct ActiveAlerts<'a> {
    success: bool,
    stats: Stats,
    alerts: Vec<Alert<'a>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    next_cursor: Option<&'a str>,
}

pub async fn handle(app: &App, req: Request) -> Response<Body> {
    if http::route_key(&req) == "GET /health" {
        return http::respond(&req, health::check(&app.db)).await;
    }
    http::respond(&req, active_alerts(app, &req)).await
}

async fn active_alerts(app: &App, req: &Request) -> Result<Response<Body>, ApiError> {
    http::expect_method(req, &Method::GET, "GET")?;
    let caller = app.caller(req).await?;
    let input = http::alerts::list_query(req.query_string_parameters_ref())
        .and_then(|query| Ok((query, http::alerts::language(req)?)));
    let (scope, (query, language)) = app
        .authorize_input(&caller, Scope::ReadAlerts, input)
        .await?;
    // A user reading their alerts has opened the widget: counted for adoption, never in the way
    // of the reading.
    if let Credential::User(user) = &caller.credential
        && let Err(error) = app.visits.record(&app.db, &scope, &user.id).await
    {
        lambda_http::tracing::warn!(%error, "widget visit not recorded");
    }
    let page = alerts::list_active(&app.db, &scope, &query).await?;
    let alerts = page.alerts_in(language)?;
    // About 400 bytes of JSON per alert: one allocation instead of a growing buffer.
    let capacity = 256 + 512 * alerts.len();
    Ok(http::json_with_capacity(
        StatusCode::OK,
        &ActiveAlerts {
            success: true,
            stats: page.stats,
            alerts,
            next_cursor: page.next_cursor.as_deref(),
        },
        capacity,
    ))
}
