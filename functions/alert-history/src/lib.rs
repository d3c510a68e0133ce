//! `GET /api/alerts/{id}`: one alert, resolved or not, with its history (every transition, who
//! and when, oldest first).

use lambda_http::http::{Method, StatusCode};
use lambda_http::{Body, Request, Response};
use serde::Serialize;
use shared::alerts::{self, Alert, Event};
use shared::http::{self, ApiError, App};
use shared::tenancy::Scope;

#[derive(Serialize)]
struct WithHistory<'a> {
    success: bool,
    alert: Alert<'a>,
    history: Vec<Event<'a>>,
}

pub async fn handle(app: &App, req: Request) -> Response<Body> {
    http::respond(&req, alert_history(app, &req)).await
}

async fn alert_history(app: &App, req: &Request) -> Result<Response<Body>, ApiError> {
    http::expect_method(req, &Method::GET, "GET")?;
    let caller = app.caller(req).await?;
    let input = http::alerts::alert_id(req).and_then(|id| Ok((id, http::alerts::language(req)?)));
    let (scope, (id, language)) = app
        .authorize_input(&caller, Scope::ReadAlerts, input)
        .await?;
    let (alert, history) = alerts::with_history(&app.db, &scope, id)
        .await?
        .ok_or_else(http::alerts::no_such_alert)?;
    let history = history
        .iter()
        .map(alerts::EventRow::event)
        .collect::<Result<Vec<_>, _>>()?;
    Ok(http::json(
        StatusCode::OK,
        &WithHistory {
            success: true,
            alert: alert.alert_in(language)?,
            history,
        },
    ))
}
