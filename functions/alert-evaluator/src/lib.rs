//! The `alert-evaluator` function: on each scheduled event (EventBridge), one pass of the alert
//! rules over every tenant (see `shared::evaluator`).

use std::time::Duration;

use lambda_runtime::{Error, LambdaEvent};
use serde_json::Value;
use shared::db::{ConfigError, Db};
use shared::evaluator::{self, Summary};

/// The longest one batch of a pass may run unless `EVALUATOR_TIMEOUT_MS` says otherwise.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(60);

/// A batch's statement timeout: `EVALUATOR_TIMEOUT_MS` (a positive number of milliseconds).
fn parse_timeout(text: &str) -> Option<Duration> {
    text.trim()
        .parse()
        .ok()
        .filter(|ms| *ms > 0)
        .map(Duration::from_millis)
}

/// How a pass runs: its statement timeout and its number of workers (connections).
#[derive(Debug, Clone, Copy)]
pub struct Settings {
    pub timeout: Duration,
    pub workers: usize,
}

impl Settings {
    /// `EVALUATOR_TIMEOUT_MS` and `EVALUATOR_WORKERS`; an invalid value is an error, not a
    /// silent default.
    pub fn from_env() -> Result<Self, ConfigError> {
        let timeout = match std::env::var("EVALUATOR_TIMEOUT_MS") {
            Err(_) => DEFAULT_TIMEOUT,
            Ok(text) => parse_timeout(&text).ok_or(ConfigError::Invalid(
                "EVALUATOR_TIMEOUT_MS (a positive number of milliseconds)",
            ))?,
        };
        Ok(Self {
            timeout,
            workers: evaluator::workers_from_env()?,
        })
    }
}

/// Runs one pass and returns its summary. A database failure is an error, so that the scheduler
/// retries the invocation and, past its retries, sends it to the dead-letter destination.
pub async fn handle(
    db: &Db,
    settings: Settings,
    event: LambdaEvent<Value>,
) -> Result<Summary, Error> {
    let scheduled_at = event
        .payload
        .get("time")
        .and_then(Value::as_str)
        .unwrap_or("-");
    tracing::debug!(scheduled_at, request_id = %event.context.request_id, "evaluation triggered");
    match evaluator::evaluate_with(db, settings.timeout, settings.workers).await {
        Ok(summary) => {
            summary.log();
            Ok(summary)
        }
        Err(error) => {
            tracing::error!(error = %error, "evaluation pass failed");
            Err("evaluation pass failed: the database is unavailable or the pass timed out".into())
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_timeout_is_a_positive_number_of_milliseconds() {
        assert_eq!(parse_timeout(" 1500 "), Some(Duration::from_millis(1500)));
        for bad in ["0", "-5", "1.5", "60s", ""] {
            assert_eq!(parse_timeout(bad), None, "{bad:?}");
        }
    }
}
