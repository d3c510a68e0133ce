//! `GET /health`: 200 when the database answers, 503 otherwise.

use lambda_http::Body;
use lambda_http::http::{Response, StatusCode};
use serde::Serialize;

use super::ApiError;
use crate::db::Db;

#[derive(Serialize)]
struct Healthy {
    success: bool,
    status: &'static str,
    database: &'static str,
}

pub async fn check(db: &Db) -> Result<Response<Body>, ApiError> {
    match db.ping().await {
        Ok(()) => Ok(super::json(
            StatusCode::OK,
            &Healthy {
                success: true,
                status: "ok",
                database: "ok",
            },
        )),
        Err(error) => {
            tracing::warn!(%error, "health check: database unavailable");
            Err(ApiError::unavailable())
        }
    }
}
