//! `POST /api/alerts/{id}/resolve`: a person or a system marks an alert as dealt with.

use lambda_http::http::{Method, StatusCode};
use lambda_http::{Body, Request, Response};
use serde::Serialize;
use shared::alerts::{self, Alert};
use shared::http::{self, ApiError, App, body};
use shared::tenancy::Scope;

#[derive(Serialize)]
struct Resolved<'a> {
    success: bool,
    alert: Alert<'a>,
}

pub async fn handle(app: &App, req: Request) -> Response<Body> {
    http::respond(&req, resolve_alert(app, &req)).await
}

async fn resolve_alert(app: &App, req: &Request) -> Result<Response<Body>, ApiError> {
    http::expect_method(req, &Method::POST, "POST")?;
    let caller = app.caller(req).await?;
    let input = body::optional_json(req)
        .and_then(|()| Ok((http::alerts::alert_id(req)?, http::alerts::language(req)?)));
    let (scope, (id, language)) = app
        .authorize_input(&caller, Scope::ResolveAlerts, input)
        .await?;
    let row = alerts::resolve(&app.db, &scope, id, &caller.actor())
        .await?
        .ok_or_else(http::alerts::no_such_alert)?;
    Ok(http::json(
        StatusCode::OK,
        &Resolved {
            success: true,
            alert: row.alert_in(language)?,
        },
    ))
}
