//! The operator's commands, each in its own module; what they share is here: the database they
//! work on, and reading a tenant from the command line.

pub mod evaluate;
pub mod keys;
pub mod rules;
pub mod tokens;

use shared::admin;
pub use shared::admin::AdminError as Error;
use shared::config::{Config, DatabaseSource};
use shared::tenancy::TenantId;

/// Used when `DATABASE_URL` is not set: the local PostgreSQL, database `max_local` (created if
/// missing).
const DEFAULT_DATABASE_URL: &str = "postgres://postgres@127.0.0.1:5432/max_local";

/// The database to migrate and administer, and whether it is the local default.
fn database_url(config: &Config) -> Result<(String, bool), Error> {
    match &config.database {
        Some(DatabaseSource::Url(url)) => Ok((url.expose().clone(), false)),
        Some(DatabaseSource::SecretArn { .. }) => Err(Error::new(
            "max-local reads DATABASE_URL, not DATABASE_SECRET_ARN",
        )),
        None => Ok((DEFAULT_DATABASE_URL.to_owned(), true)),
    }
}

/// Creates the database if needed and migrates it; returns its URL.
pub async fn migrate(config: &Config, verbose: bool) -> Result<String, Error> {
    let (url, default) = database_url(config)?;
    let target = admin::parse_url(&url)?;
    let shown = admin::describe(&target);
    if default {
        println!("Database: {shown} (DATABASE_URL is not set: using the local default)");
    } else {
        println!("Database: {shown}");
    }
    if admin::ensure_database(&url).await? {
        println!(
            "Created database {}",
            target.get_dbname().unwrap_or_default()
        );
    }
    let applied = admin::migrate(&url).await?;
    if applied.is_empty() {
        if verbose {
            println!("Migrations: up to date");
        }
    } else {
        println!("Migrations applied: {}", applied.join(", "));
    }
    Ok(url)
}

/// A tenant named on the command line.
pub fn tenant_arg(tenant: &str) -> Result<TenantId, Error> {
    TenantId::parse(tenant).ok_or_else(|| {
        Error::new(format!(
            "invalid tenant {tenant:?}: use 1 to 63 lowercase letters, digits, '_' or '-'"
        ))
    })
}

/// A duration as an operator writes it: `0`, or a number and a unit, such as 90m, 4h, 7d, 1h30m.
pub fn duration_arg(text: &str, what: &str) -> Result<std::time::Duration, Error> {
    humantime::parse_duration(text.trim()).map_err(|_| {
        Error::new(format!(
            "invalid {what} {text:?}: use 0, or a number with a unit (90m, 4h, 7d)"
        ))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_read_as_operators_write_them() {
        let seconds = |text| duration_arg(text, "threshold").map(|d| d.as_secs()).ok();
        assert_eq!(seconds("7d"), Some(7 * 86_400));
        assert_eq!(seconds("4h"), Some(4 * 3600));
        assert_eq!(seconds("90m"), Some(90 * 60));
        assert_eq!(seconds("0"), Some(0));
        assert_eq!(seconds(" 1h30m "), Some(5400));
        assert_eq!(seconds("1.5d"), Some(129_600));
        for bad in ["", "d", "7", "-1d", "soon"] {
            assert_eq!(seconds(bad), None, "{bad}");
        }
        let error = duration_arg("soon", "threshold").unwrap_err().to_string();
        assert!(error.contains("invalid threshold"), "{error}");
    }
}
