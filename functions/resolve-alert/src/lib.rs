//! `POST /api/alerts/{id}/resolve`: a person or a system marks an alert as dealt with.

use lambda_http::http::{Method, StatusCode};
use lambda_http::{Body, Request, RequestExt, Response};
use serde::Serialize;
use shared::alerts::{self, Alert};
use shared::http::{self, ApiError, App, body};
use shared::tenancy::Scope;
use shared::uuid::Uuid;

#[derive(Serialize)]
struct Resolved<'a> {
    success: bool,
    alert: Alert<'a>,
}

pub async fn handle(app: &App, req: Request) -> Response<Body> {
    http::respond(&req, resolve_alert(app, &req)).await
}

fn not_found() -> ApiError {
    ApiError::not_found("No such alert.")
}

async fn resolve_alert(app: &App, req: &Request) -> Result<Response<Body>, ApiError> {
    http::expect_method(req, &Method::POST, "POST")?;
    let caller = app.caller(req).await?;
    let id = body::optional_json(req).and_then(|()| {
        // An id that cannot exist is as unknown as one that does not.
        req.path_parameters_ref()
            .and_then(|params| params.first("id"))
            .and_then(|id| Uuid::try_parse(id).ok())
            .ok_or_else(not_found)
    });
    let (scope, id) = app
        .authorize_input(&caller, Scope::ResolveAlerts, id)
        .await?;
    let row = alerts::resolve(&app.db, &scope, id, &caller.actor())
        .await?
        .ok_or_else(not_found)?;
    Ok(http::json(
        StatusCode::OK,
        &Resolved {
            success: true,
            alert: row.alert()?,
        },
    ))
}
