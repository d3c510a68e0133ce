//! `GET /health`: 200 when the database answers, 503 otherwise.

use lambda_http::Body;
use lambda_http::http::{Response, StatusCode};
use serde::Serialize;

use crate::db::Db;
use crate::error::ApiError;

#[derive(Serialize)]
struct Healthy {
    success: bool,
    status: &'static str,
    database: &'static str,
}

pub async fn check(db: &Db) -> Result<Response<Body>, ApiError> {
    match db.ping().await {
        Ok(()) => Ok(crate::http::json(
            StatusCode::OK,
            &Healthy {
                success: true,
                status: "ok",
                database: "ok",
            },
        )),
        Err(error) => {
            tracing::warn!(error = %error, "health check: database unavailable");
            Err(ApiError::unavailable())
        }
    }
}
