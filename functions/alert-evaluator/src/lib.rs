//! The `alert-evaluator` function: on each scheduled event (EventBridge), one pass of the alert
//! rules over every tenant (see `shared::evaluator`).

use lambda_runtime::{Error, LambdaEvent};
use serde_json::Value;
use shared::config::EvaluatorSettings;
use shared::db::Db;
use shared::evaluator::{Evaluator, Summary};

/// Runs one pass and returns its summary. A database failure is an error, so that the scheduler
/// retries the invocation and, past its retries, sends it to the dead-letter destination.
pub async fn handle(
    db: &Db,
    evaluator: &Evaluator,
    settings: &EvaluatorSettings,
    event: LambdaEvent<Value>,
) -> Result<Summary, Error> {
    let scheduled_at = event
        .payload
        .get("time")
        .and_then(Value::as_str)
        .unwrap_or("-");
    tracing::debug!(scheduled_at, request_id = %event.context.request_id, "evaluation triggered");
    match evaluator.pass(db, settings).await {
        Ok(summary) => {
            summary.log();
            Ok(summary)
        }
        Err(error) => {
            tracing::error!(%error, "evaluation pass failed");
            Err("evaluation pass failed: the database is unavailable or the pass timed out".into())
        }
    }
}
