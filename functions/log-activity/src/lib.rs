//! `POST /api/activities/log`: records what happened with a lead (a message, a call), once.

use lambda_http::http::{Method, StatusCode};
use lambda_http::{Body, Request, Response};
use serde::Serialize;
use shared::activity::{self, Activity, NewActivity};
use shared::auth::Scope;
use shared::time::OffsetDateTime;
use shared::{ApiError, App, http};

#[derive(Serialize)]
struct Logged {
    success: bool,
    activity: Activity,
    /// True when this request repeated one already logged (same idempotency key or event).
    replayed: bool,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    warnings: Vec<Warning>,
}

#[derive(Serialize)]
struct Warning {
    code: &'static str,
    message: String,
}

pub async fn handle(app: &App, req: Request) -> Response<Body> {
    http::respond(&req, log_activity(app, &req)).await
}

async fn log_activity(app: &App, req: &Request) -> Result<Response<Body>, ApiError> {
    http::expect_method(req, &Method::POST, "POST")?;
    let caller = app.caller(req)?;
    let body = http::json_object(req)?;
    let new = NewActivity::from_json(
        &body,
        http::header(req, "idempotency-key")?,
        OffsetDateTime::now_utc(),
    )?;
    let scope = app.authorize(&caller, Scope::LogActivities).await?;
    let logged = activity::log(&app.db, &scope, &new).await?;
    let mut warnings = Vec::new();
    if new.snippet_truncated && !logged.replayed {
        warnings.push(Warning {
            code: "message_snippet_truncated",
            message: format!(
                "messageSnippet was longer than {} characters and was stored truncated.",
                activity::MAX_SNIPPET_CHARS
            ),
        });
    }
    Ok(http::json(
        StatusCode::OK,
        &Logged {
            success: true,
            activity: logged.activity,
            replayed: logged.replayed,
            warnings,
        },
    ))
}
