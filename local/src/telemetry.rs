//! What `max-local` tells its operator: log lines on stderr, and error reports to Sentry.
//!
//! Log lines are formatted as the Lambda functions' are (`lambda_http::tracing`): the level from
//! `AWS_LAMBDA_LOG_LEVEL`, else `RUST_LOG` (default `info`); one JSON object per line when
//! `AWS_LAMBDA_LOG_FORMAT=JSON` (with a timestamp, for a journal or a log shipper). The subscriber
//! is built here rather than by `lambda_http` because Sentry's layer joins it.
//!
//! With `SENTRY_DSN` set, every event logged at ERROR becomes a Sentry event (the cause of a 500,
//! a failed evaluator pass), and so does every panic; warnings (a 503 while the database is
//! unavailable, a request that failed) ride along as breadcrumbs only, so an outage is not one
//! report per request. A report carries what the log line says and nothing of the request:
//! no headers, query, body or client address (`send_default_pii` stays off, and no request
//! integration is installed). `SENTRY_ENVIRONMENT` and `SENTRY_RELEASE` are read by the Sentry
//! client itself.
//!
//! Panics are reported by a panic hook of ours rather than `sentry`'s `panic` feature, which pulls
//! a symbolising backtrace stack (backtrace, gimli, object) for stack traces that the stripped
//! release binary could not resolve anyway: the message and location say where it happened.

use std::panic::PanicHookInfo;
use std::str::FromStr;
use std::time::Duration;

use lambda_http::tracing::subscriber::filter::{EnvFilter, LevelFilter};
use lambda_http::tracing::subscriber::layer::SubscriberExt;
use lambda_http::tracing::subscriber::util::SubscriberInitExt;
use lambda_http::tracing::subscriber::{self, Layer};
use sentry::integrations::tracing::{BreadcrumbLayer, ErrorLayer};

/// Keeps the Sentry client until the process ends (dropping it sends what is queued).
pub struct Telemetry {
    _sentry: Option<sentry::ClientInitGuard>,
}

/// Starts logging, and Sentry when `SENTRY_DSN` is set; an invalid `SENTRY_DSN` is an error.
pub fn init() -> Result<Telemetry, String> {
    let dsn = match std::env::var("SENTRY_DSN") {
        Ok(text) if !text.trim().is_empty() => Some(
            sentry::types::Dsn::from_str(text.trim())
                .map_err(|_| "SENTRY_DSN is not valid".to_owned())?,
        ),
        _ => None,
    };

    let level = std::env::var("AWS_LAMBDA_LOG_LEVEL")
        .or_else(|_| std::env::var("RUST_LOG"))
        .ok()
        .and_then(|text| LevelFilter::from_str(&text).ok())
        .unwrap_or(LevelFilter::INFO);
    let filter = EnvFilter::builder()
        .with_default_directive(level.into())
        .from_env_lossy();
    let json = std::env::var("AWS_LAMBDA_LOG_FORMAT")
        .is_ok_and(|format| format.trim().eq_ignore_ascii_case("json"));
    let lines = subscriber::fmt::layer()
        .with_target(false)
        .with_writer(std::io::stderr);
    let lines = if json {
        lines.json().boxed()
    } else {
        lines.without_time().boxed()
    };
    let reports = dsn.is_some().then(|| {
        ErrorLayer::new()
            .with_filter(LevelFilter::ERROR)
            .and_then(BreadcrumbLayer::new().with_filter(LevelFilter::WARN))
    });
    subscriber::registry()
        .with(lines.with_filter(filter))
        .with(reports)
        .init();

    let sentry = dsn.map(|dsn| {
        let mut options = sentry::ClientOptions::new();
        options.dsn = Some(dsn);
        // SENTRY_RELEASE when set (the client reads it only when the release is not given).
        options.release = std::env::var("SENTRY_RELEASE")
            .ok()
            .filter(|release| !release.trim().is_empty())
            .map(Into::into)
            .or(sentry::release_name!());
        options.send_default_pii = false;
        let guard = sentry::init(options);
        report_panics();
        guard
    });
    Ok(Telemetry { _sentry: sentry })
}

/// Logs a panic at ERROR (so Sentry receives it) and sends it before the process goes on: the
/// release profile aborts on panic.
fn report_panics() {
    let next = std::panic::take_hook();
    std::panic::set_hook(Box::new(move |info: &PanicHookInfo<'_>| {
        let payload = info.payload();
        let panic = payload
            .downcast_ref::<&str>()
            .copied()
            .or_else(|| payload.downcast_ref::<String>().map(String::as_str))
            .unwrap_or("(no message)");
        let location = info.location().map(ToString::to_string).unwrap_or_default();
        lambda_http::tracing::error!(panic, %location, "the process panicked");
        if let Some(client) = sentry::Hub::current().client() {
            client.flush(Some(Duration::from_secs(2)));
        }
        next(info);
    }));
}
