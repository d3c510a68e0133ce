//! `POST /api/alerts/{id}/acknowledge`: a person says they are on an alert, with an optional
//! comment; the alert stays active.

use lambda_http::http::{Method, StatusCode};
use lambda_http::{Body, Request, Response};
use serde::Serialize;
use shared::alerts::{self, Alert};
use shared::http::{self, ApiError, App};
use shared::tenancy::Scope;

#[derive(Serialize)]
struct Acknowledged<'a> {
    success: bool,
    alert: Alert<'a>,
}

pub async fn handle(app: &App, req: Request) -> Response<Body> {
    http::respond(&req, acknowledge_alert(app, &req)).await
}

async fn acknowledge_alert(app: &App, req: &Request) -> Result<Response<Body>, ApiError> {
    http::expect_method(req, &Method::POST, "POST")?;
    let caller = app.caller(req).await?;
    let input = http::alerts::acknowledgement(req).and_then(|comment| {
        Ok((
            http::alerts::alert_id(req)?,
            comment,
            http::alerts::language(req)?,
        ))
    });
    // Acting on an alert, as resolving it is.
    let (scope, (id, comment, language)) = app
        .authorize_input(&caller, Scope::ResolveAlerts, input)
        .await?;
    let row = alerts::acknowledge(&app.db, &scope, id, &caller.actor(), comment.as_ref())
        .await?
        .ok_or_else(http::alerts::no_such_alert)?;
    Ok(http::json(
        StatusCode::OK,
        &Acknowledged {
            success: true,
            alert: row.alert_in(language)?,
        },
    ))
}
