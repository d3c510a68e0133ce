//! `POST /api/leads`: other systems keep the tenant's lead directory (names, numbers, e-mail, a
//! link to the CRM), one lead or a batch of up to 500 at a time.

use lambda_http::http::{Method, StatusCode};
use lambda_http::{Body, Request, Response};
use serde::Serialize;
use shared::http::leads::{BatchBody, MAX_BATCH_BODY_BYTES};
use shared::http::{self, ApiError, App, body};
use shared::leads::directory::{self, Outcome, Source};
use shared::tenancy::Scope;
use shared::time::OffsetDateTime;

#[derive(Serialize)]
struct BatchWritten<'a> {
    success: bool,
    leads: Vec<LeadOutcome<'a>>,
}

/// What became of one lead: `created`, `updated`, `unchanged` (the directory holds this very
/// version), or `stale` when the directory holds a newer version (a later `modifiedAt`) and kept
/// it.
#[derive(Serialize)]
struct LeadOutcome<'a> {
    id: &'a str,
    outcome: Outcome,
}

pub async fn handle(app: &App, req: Request) -> Response<Body> {
    http::respond(&req, upsert_leads(app, &req)).await
}

async fn upsert_leads(app: &App, req: &Request) -> Result<Response<Body>, ApiError> {
    http::expect_method(req, &Method::POST, "POST")?;
    let caller = app.caller(req).await?;
    let leads = body::json_up_to::<BatchBody>(req, MAX_BATCH_BODY_BYTES)
        .and_then(|body| body.into_leads(OffsetDateTime::now_utc()));
    let (scope, leads) = app
        .authorize_input(&caller, Scope::WriteLeads, leads)
        .await?;
    let outcomes = directory::upsert(&app.db, &scope, Source::Api, &leads).await?;
    Ok(http::json_with_capacity(
        StatusCode::OK,
        &BatchWritten {
            success: true,
            leads: leads
                .iter()
                .zip(outcomes)
                .map(|(lead, outcome)| LeadOutcome {
                    id: lead.id.as_str(),
                    outcome,
                })
                .collect(),
        },
        64 + 48 * leads.len(),
    ))
}
