//! The `alert-evaluator` function: on each scheduled event (EventBridge), one pass of the alert
//! rules over every tenant (see `shared::evaluator`).

use std::ops::RangeInclusive;
use std::time::Duration;

use lambda_runtime::{Error, LambdaEvent};
use serde_json::Value;
use shared::db::{ConfigError, Db, env_number_in};
use shared::evaluator::{self, Summary};

/// The longest one batch of a pass may run unless `EVALUATOR_TIMEOUT_MS` says otherwise.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(60);

/// What `EVALUATOR_TIMEOUT_MS`, a batch's statement timeout, accepts: a positive number of
/// milliseconds.
const TIMEOUT_MS_SETTING: RangeInclusive<u64> = 1..=u64::MAX;

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
        let timeout = env_number_in(
            "EVALUATOR_TIMEOUT_MS",
            TIMEOUT_MS_SETTING,
            "EVALUATOR_TIMEOUT_MS (a positive number of milliseconds)",
        )?
        .map_or(DEFAULT_TIMEOUT, Duration::from_millis);
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
    use shared::db::parse_number_in;

    fn parse_timeout(text: &str) -> Option<Duration> {
        parse_number_in(text, TIMEOUT_MS_SETTING).map(Duration::from_millis)
    }

    #[test]
    fn the_timeout_is_a_positive_number_of_milliseconds() {
        assert_eq!(parse_timeout(" 1500 "), Some(Duration::from_millis(1500)));
        for bad in ["0", "-5", "1.5", "60s", ""] {
            assert_eq!(parse_timeout(bad), None, "{bad:?}");
        }
    }
}
