//! `POST /api/alerts/{id}/snooze`: an alert leaves the list and the counts until a time, and
//! comes back by itself; `DELETE /api/alerts/{id}/snooze` wakes it sooner.

use lambda_http::http::{Method, StatusCode};
use lambda_http::{Body, Request, Response};
use serde::Serialize;
use shared::alerts::{self, Alert};
use shared::http::{self, ApiError, App};
use shared::tenancy::Scope;
use shared::time::OffsetDateTime;

#[derive(Serialize)]
struct Snoozed<'a> {
    success: bool,
    alert: Alert<'a>,
}

pub async fn handle(app: &App, req: Request) -> Response<Body> {
    http::respond(&req, snooze_alert(app, &req)).await
}

async fn snooze_alert(app: &App, req: &Request) -> Result<Response<Body>, ApiError> {
    let snoozing = match *req.method() {
        Method::POST => true,
        Method::DELETE => false,
        _ => return Err(ApiError::method_not_allowed("POST, DELETE")),
    };
    let caller = app.caller(req).await?;
    let input = http::alerts::language(req).and_then(|language| {
        let input = if snoozing {
            http::alerts::snooze_end(req, OffsetDateTime::now_utc())
                .and_then(|end| Ok((http::alerts::alert_id(req)?, Some(end))))
        } else {
            http::body::optional_json(req).and_then(|()| Ok((http::alerts::alert_id(req)?, None)))
        };
        input.map(|(id, end)| (id, end, language))
    });
    // Acting on an alert, as resolving it is.
    let (scope, (id, end, language)) = app
        .authorize_input(&caller, Scope::ResolveAlerts, input)
        .await?;
    let row = match end {
        Some(end) => alerts::snooze(&app.db, &scope, id, &caller.actor(), end).await?,
        None => alerts::wake(&app.db, &scope, id, &caller.actor()).await?,
    }
    .ok_or_else(http::alerts::no_such_alert)?;
    Ok(http::json(
        StatusCode::OK,
        &Snoozed {
            success: true,
            alert: row.alert_in(language)?,
        },
    ))
}
