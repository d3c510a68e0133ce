//! Operator work: creating and migrating the database, tenants and API keys, rule settings,
//! WhatsApp's webhook tokens and lead numbers. Used
//! by the local runner (`max-local`) and tests; never by the functions, which cannot even reach
//! these tables.
//!
//! These run as the tables' owner. Where the owner is subject to Row Level Security (on a managed
//! PostgreSQL the owner is often not a superuser), each transaction names its tenant first.

mod keys;
mod migrate;
mod rules;
mod whatsapp;

use std::fmt;
use std::str::FromStr;
use std::time::Duration;

use tokio_postgres::config::Host;
use tokio_postgres::types::Type;
use tokio_postgres::{Client, NoTls};

pub use keys::{
    KeyInfo, create_key, ensure_tenant, list_keys, register_key, revoke_key, revoke_labelled,
};
pub use migrate::migrate;
pub use rules::{RuleChange, RuleSetting, rules, set_rule};
pub use whatsapp::{
    Existing, UnmatchedNumber, WebhookTokenInfo, create_webhook_token, list_webhook_tokens,
    map_phone, register_webhook_token, revoke_webhook_tokens, unmatched,
};

use crate::tenancy::TenantId;

/// Any failure of an operator command, with a message fit for a terminal (never a password).
#[derive(Debug)]
pub struct AdminError {
    message: String,
    sqlstate: Option<String>,
}

impl fmt::Display for AdminError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for AdminError {}

impl AdminError {
    pub fn new(message: impl Into<String>) -> Self {
        Self {
            message: message.into(),
            sqlstate: None,
        }
    }

    /// The SQLSTATE behind this error, when the database raised it.
    pub fn sqlstate(&self) -> Option<&str> {
        self.sqlstate.as_deref()
    }
}

impl From<tokio_postgres::Error> for AdminError {
    fn from(error: tokio_postgres::Error) -> Self {
        match error.as_db_error() {
            Some(db) => Self {
                message: format!("database error {}: {}", db.code().code(), db.message()),
                sqlstate: Some(db.code().code().to_owned()),
            },
            None => Self::new(format!("database connection error: {error}")),
        }
    }
}

/// A connection URL read into settings.
pub fn parse_url(url: &str) -> Result<tokio_postgres::Config, AdminError> {
    tokio_postgres::Config::from_str(url).map_err(|_| {
        AdminError::new("DATABASE_URL must be a URL: postgres://user@host:port/database")
    })
}

/// Where a connection goes, for messages: `postgres://user@host:port/database`, never the password.
pub fn describe(config: &tokio_postgres::Config) -> String {
    let host = match config.get_hosts().first() {
        Some(Host::Tcp(name)) => name.clone(),
        #[cfg(unix)]
        Some(Host::Unix(path)) => path.display().to_string(),
        None => "localhost".into(),
    };
    let port = config.get_ports().first().copied().unwrap_or(5432);
    let user = config
        .get_user()
        .map(|user| format!("{user}@"))
        .unwrap_or_default();
    let database = config.get_dbname().unwrap_or("");
    format!("postgres://{user}{host}:{port}/{database}")
}

/// Opens one connection to the database a URL names, with its driver task running in the
/// background.
pub async fn connect(url: &str) -> Result<Client, AdminError> {
    connect_to(&parse_url(url)?).await
}

/// How long an operator's connection may take to open, unless the URL says (`connect_timeout`).
const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);

/// Opens one connection, with its driver task running in the background. A failure names the
/// address, the cause and what to do about it.
pub async fn connect_to(config: &tokio_postgres::Config) -> Result<Client, AdminError> {
    let mut config = config.clone();
    if config.get_connect_timeout().is_none() {
        config.connect_timeout(CONNECT_TIMEOUT);
    }
    let (client, connection) = config
        .connect(NoTls)
        .await
        .map_err(|error| connection_error(&config, &error))?;
    tokio::spawn(async move {
        if let Err(error) = connection.await {
            tracing::debug!(%error, "admin connection closed");
        }
    });
    Ok(client)
}

/// Why a connection could not open, for a terminal: where, the cause, and the fix. The server's
/// own message is kept for authentication failures (it names the role or the missing
/// `pg_hba.conf` entry); nothing here holds a password.
fn connection_error(config: &tokio_postgres::Config, error: &tokio_postgres::Error) -> AdminError {
    let at = describe(config);
    let user = config.get_user().unwrap_or("(none)");
    let database = config.get_dbname().unwrap_or("(none)");
    let (cause, fix) = match error.as_db_error() {
        Some(db) => match db.code().code() {
            "28P01" => (
                format!("password authentication failed for role {user}"),
                "put that role's password in DATABASE_URL (postgres://role:password@host:port/database)",
            ),
            "28000" => (
                format!("authentication refused: {}", db.message()),
                "use a role that exists and that pg_hba.conf lets in from here, in DATABASE_URL",
            ),
            "3D000" => (
                format!("no database {database}"),
                "create it, or name one that exists in DATABASE_URL",
            ),
            "42501" => (
                format!("role {user} may not connect: {}", db.message()),
                "grant it CONNECT, or use another role in DATABASE_URL",
            ),
            "57P03" => (
                "the server is starting up or shutting down".to_owned(),
                "try again in a moment",
            ),
            _ => {
                return AdminError {
                    message: format!("cannot connect to {at}: {}", db.message()),
                    sqlstate: Some(db.code().code().to_owned()),
                };
            }
        },
        None => {
            let io = std::error::Error::source(error)
                .and_then(|source| source.downcast_ref::<std::io::Error>())
                .map(std::io::Error::kind);
            match io {
                Some(std::io::ErrorKind::ConnectionRefused | std::io::ErrorKind::NotFound) => (
                    "connection refused: no PostgreSQL listens there".to_owned(),
                    "start PostgreSQL there, or set DATABASE_URL to a server that runs",
                ),
                Some(std::io::ErrorKind::PermissionDenied) => (
                    "permission denied on the server's socket".to_owned(),
                    "use a role and a socket folder this user may reach, in DATABASE_URL",
                ),
                _ if error.to_string().contains("timeout") => (
                    format!(
                        "no answer within {} s",
                        config
                            .get_connect_timeout()
                            .unwrap_or(&CONNECT_TIMEOUT)
                            .as_secs()
                    ),
                    "check the host and port in DATABASE_URL, and that no firewall drops the connection",
                ),
                _ => (
                    error.to_string(),
                    "check the host and port in DATABASE_URL, and that PostgreSQL runs there",
                ),
            }
        }
    };
    AdminError {
        message: format!("cannot connect to {at}: {cause}; {fix}"),
        sqlstate: error.as_db_error().map(|db| db.code().code().to_owned()),
    }
}

/// The same URL naming another database (`postgres://u@h:5432/<name>?...`).
pub fn with_database(url: &str, name: &str) -> Result<String, AdminError> {
    let mut parsed = url::Url::parse(url).map_err(|_| {
        AdminError::new("DATABASE_URL must be a URL: postgres://user@host:port/database")
    })?;
    parsed.set_path(name);
    Ok(parsed.into())
}

/// Creates the database of `url` if it does not exist yet (connecting to `postgres` to do so).
/// Returns whether it was created.
pub async fn ensure_database(url: &str) -> Result<bool, AdminError> {
    let config = parse_url(url)?;
    let name = config
        .get_dbname()
        .ok_or_else(|| AdminError::new("DATABASE_URL names no database"))?
        .to_owned();
    match connect_to(&config).await {
        Ok(_) => return Ok(false),
        Err(error) if error.sqlstate() != Some("3D000") => return Err(error),
        Err(_) => {}
    }
    let mut server = config.clone();
    server.dbname("postgres");
    let admin = connect_to(&server).await?;
    let quoted = format!("\"{}\"", name.replace('"', "\"\""));
    match admin
        .batch_execute(&format!("CREATE DATABASE {quoted}"))
        .await
    {
        Ok(()) => Ok(true),
        Err(error)
            if error
                .as_db_error()
                .is_some_and(|db| db.code().code() == "42501") =>
        {
            Err(AdminError {
                message: format!(
                    "there is no database {name} at {} and role {} may not create it; create it \
                     as a superuser (createdb {name}), give the role CREATEDB, or name an existing \
                     database in DATABASE_URL",
                    describe(&config),
                    config.get_user().unwrap_or("(none)"),
                ),
                sqlstate: Some("42501".into()),
            })
        }
        // Created meanwhile by someone else.
        Err(error)
            if error
                .as_db_error()
                .is_some_and(|db| db.code().code() == "42P04") =>
        {
            Ok(false)
        }
        Err(error) => Err(error.into()),
    }
}

/// Runs `work` in a transaction where `app.tenant_id` names the tenant, so that Row Level Security
/// lets an owner who is not a superuser reach that tenant's rows.
async fn in_tenant<T>(
    client: &mut Client,
    tenant: &TenantId,
    work: impl AsyncFnOnce(&tokio_postgres::Transaction<'_>) -> Result<T, tokio_postgres::Error>,
) -> Result<T, AdminError> {
    let tx = client.transaction().await?;
    tx.query_typed(
        "SELECT set_config('app.tenant_id', $1, true)",
        &[(&tenant.as_str(), Type::TEXT)],
    )
    .await?;
    let result = work(&tx).await?;
    tx.commit().await?;
    Ok(result)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_url_can_name_another_database() {
        assert_eq!(
            with_database("postgres://u:p@h:5432/max?sslmode=disable", "postgres").unwrap(),
            "postgres://u:p@h:5432/postgres?sslmode=disable"
        );
        assert_eq!(
            with_database("postgresql://h", "x").unwrap(),
            "postgresql://h/x"
        );
        assert_eq!(
            parse_url("postgres://h:1/max_local?application_name=x")
                .unwrap()
                .get_dbname(),
            Some("max_local")
        );
        assert_eq!(parse_url("postgres://h:1").unwrap().get_dbname(), None);
    }

    #[test]
    fn connections_are_described_without_their_password() {
        let config =
            parse_url("postgres://app:s3cret@db.example:6543/max?sslmode=require").unwrap();
        assert_eq!(describe(&config), "postgres://app@db.example:6543/max");
        let config = parse_url("postgres://postgres@127.0.0.1:5432/max_local").unwrap();
        assert_eq!(
            describe(&config),
            "postgres://postgres@127.0.0.1:5432/max_local"
        );
    }
}
