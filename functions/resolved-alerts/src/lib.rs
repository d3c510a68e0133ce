//! `GET /api/alerts/resolved`: the tenant's alerts resolved in a period (the last 7 days unless
//! `from`/`to` say otherwise), newest resolution first, a page at a time.

use lambda_http::http::{Method, StatusCode};
use lambda_http::{Body, Request, RequestExt, Response};
use serde::Serialize;
use shared::alerts::{self, Alert};
use shared::http::{self, ApiError, App};
use shared::tenancy::Scope;
use shared::time::OffsetDateTime;

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct ResolvedAlerts<'a> {
    success: bool,
    #[serde(with = "shared::time::serde::rfc3339")]
    from: OffsetDateTime,
    #[serde(with = "shared::time::serde::rfc3339")]
    to: OffsetDateTime,
    alerts: Vec<Alert<'a>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    next_cursor: Option<&'a str>,
}

pub async fn handle(app: &App, req: Request) -> Response<Body> {
    http::respond(&req, resolved_alerts(app, &req)).await
}

async fn resolved_alerts(app: &App, req: &Request) -> Result<Response<Body>, ApiError> {
    http::expect_method(req, &Method::GET, "GET")?;
    let caller = app.caller(req).await?;
    let input =
        http::alerts::resolved_query(req.query_string_parameters_ref(), OffsetDateTime::now_utc())
            .and_then(|query| Ok((query, http::alerts::language(req)?)));
    let (scope, (query, language)) = app
        .authorize_input(&caller, Scope::ReadAlerts, input)
        .await?;
    let page = alerts::list_resolved(&app.db, &scope, &query).await?;
    let alerts = page
        .rows
        .iter()
        .map(|row| row.alert_in(language))
        .collect::<Result<Vec<_>, _>>()?;
    Ok(http::json(
        StatusCode::OK,
        &ResolvedAlerts {
            success: true,
            from: query.from,
            to: query.to,
            alerts,
            next_cursor: page.next_cursor.as_deref(),
        },
    ))
}
