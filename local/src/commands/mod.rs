//! The operator's commands, each in its own module; what they share is here: the database they
//! work on, and reading a tenant from the command line.

mod cluster;
pub mod crm;
pub mod evaluate;
pub mod keys;
pub mod report;
pub mod rules;
pub mod tokens;
pub mod whatsapp;

use std::time::Duration;

use shared::admin;
pub use shared::admin::AdminError as Error;
use shared::config::{Config, DatabaseSource};
use shared::tenancy::TenantId;

use cluster::Cluster;

/// The database max-local creates and uses when `DATABASE_URL` is not set.
const DEFAULT_DATABASE: &str = "max_local";
/// How long the default address has to answer before max-local falls back to its own cluster.
const PROBE_TIMEOUT: Duration = Duration::from_secs(3);

/// The database to migrate and administer, where it was found.
struct Database {
    url: String,
    origin: &'static str,
}

/// `DATABASE_URL`; when it is not set, max-local's own cluster if it has one, the local default
/// (`postgres://postgres@127.0.0.1:5432/max_local`, with libpq's PGHOST, PGPORT and PGUSER as psql
/// reads them) when it answers and lets the role in, or else a private cluster made now.
async fn database(config: &Config) -> Result<Database, Error> {
    match &config.database {
        Some(DatabaseSource::Url(url)) => {
            return Ok(Database {
                url: url.expose().clone(),
                origin: "",
            });
        }
        Some(DatabaseSource::SecretArn { .. }) => {
            return Err(Error::new(
                "max-local reads DATABASE_URL, not DATABASE_SECRET_ARN",
            ));
        }
        None => {}
    }
    let private = Cluster::in_data_folder();
    if let Some(cluster) = private.as_ref().filter(|cluster| cluster.exists()) {
        let started = cluster.start()?;
        return Ok(Database {
            url: cluster.url(DEFAULT_DATABASE),
            origin: if started {
                "DATABASE_URL is not set: max-local's own cluster, started"
            } else {
                "DATABASE_URL is not set: max-local's own cluster"
            },
        });
    }
    let url = default_url();
    let mut probe = admin::parse_url(&url)?;
    probe.connect_timeout(PROBE_TIMEOUT);
    let refused = match admin::connect_to(&probe).await {
        // A database still to create is usable.
        Err(error) if error.sqlstate() != Some("3D000") => error,
        _ => {
            return Ok(Database {
                url,
                origin: "DATABASE_URL is not set: using the local default",
            });
        }
    };
    let cluster = private.ok_or_else(|| {
        Error::new(format!(
            "{refused}\n(no data folder for a cluster of max-local's own: HOME is not set)"
        ))
    })?;
    println!("No usable PostgreSQL at the local default: {refused}");
    println!(
        "Creating a PostgreSQL cluster of max-local's own in {} (its own socket only, no TCP port; \
         reused next time; stop it with pg_ctl -D '{}' stop)",
        cluster.folder().display(),
        cluster.folder().display()
    );
    cluster.create().map_err(|error| {
        Error::new(format!(
            "{error}\nmax-local could not make a cluster of its own after: {refused}"
        ))
    })?;
    cluster.start()?;
    Ok(Database {
        url: cluster.url(DEFAULT_DATABASE),
        origin: "DATABASE_URL is not set: max-local's own cluster, created",
    })
}

/// The local default, with libpq's PGHOST, PGPORT and PGUSER when they are set (PGHOST may name
/// a socket folder).
fn default_url() -> String {
    let var = |name| {
        std::env::var(name)
            .ok()
            .filter(|value| !value.trim().is_empty())
    };
    let host = var("PGHOST").unwrap_or_else(|| "127.0.0.1".into());
    let port = var("PGPORT")
        .and_then(|port| port.trim().parse().ok())
        .unwrap_or(5432);
    let user = var("PGUSER").unwrap_or_else(|| "postgres".into());
    if host.starts_with('/') {
        cluster::socket_url(std::path::Path::new(&host), port, &user, DEFAULT_DATABASE)
    } else {
        format!("postgres://{user}@{host}:{port}/{DEFAULT_DATABASE}")
    }
}

/// Creates the database if needed and migrates it; returns its URL.
pub async fn migrate(config: &Config, verbose: bool) -> Result<String, Error> {
    let Database { url, origin } = database(config).await?;
    let target = admin::parse_url(&url)?;
    let shown = admin::describe(&target);
    if origin.is_empty() {
        println!("Database: {shown}");
    } else {
        println!("Database: {shown} ({origin})");
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
