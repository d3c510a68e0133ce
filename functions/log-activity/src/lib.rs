//! `POST /api/activities/log`: records what happened with a lead (a message, a call), once.

use lambda_http::http::{Method, StatusCode};
use lambda_http::{Body, Request, Response};
use serde::Serialize;
use shared::activities::{self, Activity, MAX_SNIPPET_CHARS};
use shared::http::activities::LogActivityBody;
use shared::http::{self, ApiError, App, body};
use shared::tenancy::Scope;
use shared::time::OffsetDateTime;

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
    let caller = app.caller(req).await?;
    let new = body::json::<LogActivityBody>(req).and_then(|body| {
        body.into_activity(
            http::header(req, "idempotency-key")?,
            OffsetDateTime::now_utc(),
        )
    });
    let (scope, new) = app
        .authorize_input(&caller, Scope::LogActivities, new)
        .await?;
    let logged = activities::log(&app.db, &scope, &new).await?;
    let mut warnings = Vec::new();
    if new.snippet_truncated() && !logged.replayed {
        warnings.push(Warning {
            code: "message_snippet_truncated",
            message: format!(
                "messageSnippet was longer than {MAX_SNIPPET_CHARS} characters and was stored truncated."
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
