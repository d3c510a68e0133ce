//! Where a function's secrets come from: AWS Secrets Manager in the cloud (when
//! `DATABASE_SECRET_ARN` / `JWT_SECRET_ARN` are set), the environment locally (`DATABASE_URL`,
//! `JWT_SECRET`). Read once per cold start, kept in memory, never logged.
//!
//! The SDK honours the standard endpoint override (`AWS_ENDPOINT_URL`,
//! `AWS_ENDPOINT_URL_SECRETS_MANAGER`), which the tests use to reach an emulator on loopback.

use std::fmt;

use aws_config::BehaviorVersion;
use aws_smithy_http_client::tls::{self, rustls_provider::CryptoMode};
use serde_json::Value;

use crate::db::ConfigError;

/// The secrets of a function.
pub struct Secrets {
    pub database_url: String,
    pub jwt_secret: Option<Vec<u8>>,
}

impl fmt::Debug for Secrets {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Secrets")
            .field("database_url", &crate::db::redact_url(&self.database_url))
            .field("jwt_secret", &self.jwt_secret.as_ref().map(|_| "***"))
            .finish()
    }
}

/// Reads the secrets, from Secrets Manager where an ARN is configured.
pub async fn load() -> Result<Secrets, ConfigError> {
    let database_arn = non_empty_env("DATABASE_SECRET_ARN");
    let jwt_arn = non_empty_env("JWT_SECRET_ARN");
    let client = if database_arn.is_some() || jwt_arn.is_some() {
        Some(client().await)
    } else {
        None
    };
    let database_url = match (&client, database_arn) {
        (Some(client), Some(arn)) => {
            database_url_from_secret(&fetch(client, &arn, "DATABASE_SECRET_ARN").await?)?
        }
        _ => non_empty_env("DATABASE_URL").ok_or(ConfigError::Missing("DATABASE_URL"))?,
    };
    let jwt_secret = match (&client, jwt_arn) {
        (Some(client), Some(arn)) => Some(jwt_secret_from_secret(
            &fetch(client, &arn, "JWT_SECRET_ARN").await?,
        )),
        _ => non_empty_env("JWT_SECRET").map(String::into_bytes),
    };
    Ok(Secrets {
        database_url,
        jwt_secret,
    })
}

fn non_empty_env(name: &str) -> Option<String> {
    std::env::var(name)
        .ok()
        .filter(|value| !value.trim().is_empty())
}

/// A Secrets Manager client over rustls with ring (no C crypto library to build).
async fn client() -> aws_sdk_secretsmanager::Client {
    let http = aws_smithy_http_client::Builder::new()
        .tls_provider(tls::Provider::Rustls(CryptoMode::Ring))
        .build_https();
    let config = aws_config::defaults(BehaviorVersion::latest())
        .http_client(http)
        .load()
        .await;
    aws_sdk_secretsmanager::Client::new(&config)
}

async fn fetch(
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

/// A database URL from a secret: `{"url": ...}`, or the fields of an RDS or Supabase secret
/// (`username`, `password`, and `host`, `port`, `dbname`, `sslmode` unless `DATABASE_HOST`,
/// `DATABASE_PORT`, `DATABASE_NAME` give them).
pub fn database_url_from_secret(secret: &str) -> Result<String, ConfigError> {
    let invalid = ConfigError::Invalid("DATABASE_SECRET_ARN");
    let value: Value = serde_json::from_str(secret).map_err(|_| invalid.clone())?;
    let field = |name: &str| match value.get(name) {
        Some(Value::String(text)) if !text.is_empty() => Some(text.clone()),
        Some(Value::Number(number)) => Some(number.to_string()),
        _ => None,
    };
    if let Some(url) = field("url") {
        return Ok(url);
    }
    let user = field("username").ok_or_else(|| invalid.clone())?;
    let password = field("password").ok_or_else(|| invalid.clone())?;
    let host = field("host")
        .or_else(|| non_empty_env("DATABASE_HOST"))
        .ok_or_else(|| invalid.clone())?;
    let port = field("port")
        .or_else(|| non_empty_env("DATABASE_PORT"))
        .unwrap_or_else(|| "5432".into());
    let dbname = field("dbname")
        .or_else(|| non_empty_env("DATABASE_NAME"))
        .unwrap_or_else(|| "postgres".into());
    let mut url = format!(
        "postgres://{}:{}@{host}:{port}/{}",
        encode(&user),
        encode(&password),
        encode(&dbname)
    );
    if let Some(sslmode) = field("sslmode") {
        url.push_str("?sslmode=");
        url.push_str(&encode(&sslmode));
    }
    Ok(url)
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

/// Percent-encodes everything but RFC 3986's unreserved characters (for URL user info and paths).
fn encode(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for byte in text.bytes() {
        if byte.is_ascii_alphanumeric() || b"-._~".contains(&byte) {
            out.push(byte as char);
        } else {
            out.push_str(&format!("%{byte:02X}"));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_rds_style_secret_becomes_a_url_with_its_password_encoded() {
        let url = database_url_from_secret(
            r#"{"username": "max_login", "password": "p@ss:w/rd", "host": "db.internal", "port": 6543, "dbname": "max"}"#,
        )
        .unwrap();
        assert_eq!(
            url,
            "postgres://max_login:p%40ss%3Aw%2Frd@db.internal:6543/max"
        );
        let parsed: tokio_postgres::Config = url.parse().unwrap();
        assert_eq!(parsed.get_password(), Some(&b"p@ss:w/rd"[..]));
    }

    #[test]
    fn a_url_secret_is_taken_as_it_is_and_bad_secrets_are_refused() {
        assert_eq!(
            database_url_from_secret(r#"{"url": "postgres://u:p@h/db"}"#).unwrap(),
            "postgres://u:p@h/db"
        );
        assert!(database_url_from_secret("not json").is_err());
        assert!(database_url_from_secret(r#"{"username": "u"}"#).is_err());
    }

    #[test]
    fn a_jwt_secret_is_the_string_or_its_secret_field() {
        assert_eq!(jwt_secret_from_secret("raw-secret"), b"raw-secret");
        assert_eq!(jwt_secret_from_secret(r#"{"secret": "inner"}"#), b"inner");
    }

    #[test]
    fn secrets_never_show_in_debug_output() {
        let secrets = Secrets {
            database_url: "postgres://u:hunter2@h/db".into(),
            jwt_secret: Some(b"topsecret".to_vec()),
        };
        let shown = format!("{secrets:?}");
        assert!(
            !shown.contains("hunter2") && !shown.contains("topsecret"),
            "{shown}"
        );
    }
}
