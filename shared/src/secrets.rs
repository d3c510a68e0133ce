//! The functions' secrets, fetched where the configuration says: AWS Secrets Manager in the cloud
//! (`DATABASE_SECRET_ARN`, `JWT_SECRET_ARN`), the environment locally (`DATABASE_URL`,
//! `JWT_SECRET`). Read once per cold start, kept in memory, never logged.
//!
//! The SDK honours the standard endpoint override (`AWS_ENDPOINT_URL`,
//! `AWS_ENDPOINT_URL_SECRETS_MANAGER`), which the tests use to reach an emulator on loopback.

use std::str::FromStr;

use aws_config::BehaviorVersion;
use aws_smithy_http_client::tls::{self, rustls_provider::CryptoMode};
use serde_json::Value;
use tokio_postgres::config::SslMode;

use crate::config::{Config, ConfigError, DatabaseSource, TokenSecret};

/// The secrets of a function. `tokio_postgres::Config`'s `Debug` hides the password.
#[derive(Debug)]
pub struct Secrets {
    pub database: tokio_postgres::Config,
    pub jwt_secret: Option<crate::config::Secret<Vec<u8>>>,
}

/// Reads the secrets that `config` points at.
pub async fn load(config: &Config) -> Result<Secrets, ConfigError> {
    let needs_aws = matches!(config.database, Some(DatabaseSource::SecretArn { .. }))
        || matches!(config.tokens.secret, Some(TokenSecret::SecretArn(_)));
    let client = if needs_aws {
        Some(client().await)
    } else {
        None
    };
    let fetch = async |arn: &str, variable: &'static str| match &client {
        Some(client) => fetch(client, arn, variable).await,
        None => Err(ConfigError::Invalid(variable)),
    };
    let database = match &config.database {
        None => return Err(ConfigError::Missing("DATABASE_URL")),
        Some(DatabaseSource::Url(url)) => database_url(url.expose(), "DATABASE_URL")?,
        Some(DatabaseSource::SecretArn {
            arn,
            host,
            port,
            name,
        }) => {
            let secret = fetch(arn, "DATABASE_SECRET_ARN").await?;
            database_from_secret(&secret, host.as_deref(), port.as_deref(), name.as_deref())?
        }
    };
    let jwt_secret = match &config.tokens.secret {
        None => None,
        Some(TokenSecret::Value(secret)) => Some(secret.clone()),
        Some(TokenSecret::SecretArn(arn)) => Some(crate::config::Secret::new(
            jwt_secret_from_secret(&fetch(arn, "JWT_SECRET_ARN").await?),
        )),
    };
    Ok(Secrets {
        database,
        jwt_secret,
    })
}

/// A connection URL (`postgres://user:password@host:port/db?sslmode=...`) read into settings.
pub fn database_url(
    url: &str,
    variable: &'static str,
) -> Result<tokio_postgres::Config, ConfigError> {
    tokio_postgres::Config::from_str(url).map_err(|_| ConfigError::Invalid(variable))
}

/// A Secrets Manager client over rustls with ring (no C crypto library to build).
pub(crate) async fn client() -> aws_sdk_secretsmanager::Client {
    let http = aws_smithy_http_client::Builder::new()
        .tls_provider(tls::Provider::Rustls(CryptoMode::Ring))
        .build_https();
    let config = aws_config::defaults(BehaviorVersion::latest())
        .http_client(http)
        .load()
        .await;
    aws_sdk_secretsmanager::Client::new(&config)
}

pub(crate) async fn fetch(
    client: &aws_sdk_secretsmanager::Client,
    arn: &str,
    variable: &'static str,
) -> Result<String, ConfigError> {
    let output = client
        .get_secret_value()
        .secret_id(arn)
        .send()
        .await
        .map_err(|error| {
            // The error names the failure (access denied, not found, unreachable), never the value.
            tracing::error!(
                secret = variable,
                error = %aws_sdk_secretsmanager::error::DisplayErrorContext(&error),
                "cannot read secret"
            );
            ConfigError::Invalid(variable)
        })?;
    output
        .secret_string()
        .map(str::to_owned)
        .ok_or(ConfigError::Invalid(variable))
}

/// The database login of a secret: `{"url": ...}`, or the fields of an RDS or Supabase secret
/// (`username`, `password`, and `host`, `port`, `dbname`, `sslmode` unless the secret lacks them
/// and `host`, `port`, `name` give them).
pub fn database_from_secret(
    secret: &str,
    host: Option<&str>,
    port: Option<&str>,
    name: Option<&str>,
) -> Result<tokio_postgres::Config, ConfigError> {
    let invalid = || ConfigError::Invalid("DATABASE_SECRET_ARN");
    let value: Value = serde_json::from_str(secret).map_err(|_| invalid())?;
    let field = |name: &str| match value.get(name) {
        Some(Value::String(text)) if !text.is_empty() => Some(text.clone()),
        Some(Value::Number(number)) => Some(number.to_string()),
        _ => None,
    };
    if let Some(url) = field("url") {
        return database_url(&url, "DATABASE_SECRET_ARN");
    }
    let mut config = tokio_postgres::Config::new();
    config
        .user(field("username").ok_or_else(invalid)?)
        .password(field("password").ok_or_else(invalid)?)
        .host(
            field("host")
                .or(host.map(str::to_owned))
                .ok_or_else(invalid)?,
        )
        .port(
            field("port")
                .or(port.map(str::to_owned))
                .map_or(Ok(5432), |port| port.parse())
                .map_err(|_| invalid())?,
        )
        .dbname(
            field("dbname")
                .or(name.map(str::to_owned))
                .unwrap_or_else(|| "postgres".into()),
        );
    if let Some(mode) = field("sslmode") {
        config.ssl_mode(match mode.as_str() {
            "disable" => SslMode::Disable,
            "prefer" => SslMode::Prefer,
            "require" => SslMode::Require,
            _ => return Err(invalid()),
        });
    }
    Ok(config)
}

/// The JWT secret: the secret string, or its `secret` field when it is a JSON object.
pub fn jwt_secret_from_secret(secret: &str) -> Vec<u8> {
    match serde_json::from_str::<Value>(secret) {
        Ok(Value::Object(object)) => match object.get("secret") {
            Some(Value::String(text)) => text.clone().into_bytes(),
            _ => secret.as_bytes().to_vec(),
        },
        _ => secret.as_bytes().to_vec(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio_postgres::config::Host;

    #[test]
    fn an_rds_style_secret_becomes_a_login_with_its_password_intact() {
        let config = database_from_secret(
            r#"{"username": "max_login", "password": "p@ss:w/rd", "host": "db.internal", "port": 6543, "dbname": "max"}"#,
            None,
            None,
            None,
        )
        .unwrap();
        assert_eq!(config.get_user(), Some("max_login"));
        assert_eq!(config.get_password(), Some(&b"p@ss:w/rd"[..]));
        assert_eq!(config.get_hosts(), [Host::Tcp("db.internal".into())]);
        assert_eq!(config.get_ports(), [6543]);
        assert_eq!(config.get_dbname(), Some("max"));
    }

    #[test]
    fn what_an_rds_managed_secret_lacks_comes_from_the_environment() {
        let config = database_from_secret(
            r#"{"username": "u", "password": "p"}"#,
            Some("db.internal"),
            Some("5433"),
            Some("max"),
        )
        .unwrap();
        assert_eq!(config.get_hosts(), [Host::Tcp("db.internal".into())]);
        assert_eq!(config.get_ports(), [5433]);
        assert_eq!(config.get_dbname(), Some("max"));
    }

    #[test]
    fn a_url_secret_is_taken_as_it_is_and_bad_secrets_are_refused() {
        let config =
            database_from_secret(r#"{"url": "postgres://u:p@h/db"}"#, None, None, None).unwrap();
        assert_eq!(config.get_hosts(), [Host::Tcp("h".into())]);
        assert_eq!(config.get_dbname(), Some("db"));
        assert!(database_from_secret("not json", None, None, None).is_err());
        assert!(database_from_secret(r#"{"username": "u"}"#, None, None, None).is_err());
        assert!(
            database_from_secret(
                r#"{"username": "u", "password": "p", "host": "h", "sslmode": "sometimes"}"#,
                None,
                None,
                None
            )
            .is_err()
        );
    }

    #[test]
    fn a_jwt_secret_is_the_string_or_its_secret_field() {
        assert_eq!(jwt_secret_from_secret("raw-secret"), b"raw-secret");
        assert_eq!(jwt_secret_from_secret(r#"{"secret": "inner"}"#), b"inner");
    }

    #[test]
    fn secrets_never_show_in_debug_output() {
        let secrets = Secrets {
            database: database_url("postgres://u:hunter2@h/db", "DATABASE_URL").unwrap(),
            jwt_secret: Some(crate::config::Secret::new(b"topsecret".to_vec())),
        };
        let shown = format!("{secrets:?}");
        assert!(
            !shown.contains("hunter2") && !shown.contains("topsecret"),
            "{shown}"
        );
    }
}
