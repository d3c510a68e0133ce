//! Configuration: every environment variable the functions and `max-local` read, read once at cold
//! start by [`Config::from_env`], and documented here once (README.md's table is the operator's
//! view of the same list). Only `max-local serve`'s own settings are read elsewhere: its
//! connection limits (`SERVE_*`, with its command-line options in `local/src/cli.rs`), and its
//! log format and error reports (`AWS_LAMBDA_LOG_FORMAT`, `SENTRY_DSN`, `local/src/telemetry.rs`).
//! libpq's `PGHOST`, `PGPORT` and `PGUSER` are read by `max-local` when `DATABASE_URL` is not set.
//!
//! Values are parsed when read: a variable that is set but invalid stops the process at start with
//! an error naming it, rather than falling back silently. Secrets are not read here: this module
//! says where they come from ([`DatabaseSource`], [`TokenSecret`]), and `crate::secrets` fetches
//! them.

use std::fmt;
use std::ops::RangeInclusive;
use std::time::Duration;

/// Everything a process reads from its environment.
#[derive(Debug, Clone)]
pub struct Config {
    /// Where the database login comes from; `None` when neither `DATABASE_URL` nor
    /// `DATABASE_SECRET_ARN` is set.
    pub database: Option<DatabaseSource>,
    /// `APP_DATABASE_URL` (`max-local serve` only): the functions' connection when it differs from
    /// `DATABASE_URL`, which migrates (a pooler in transaction mode, for instance).
    pub app_database_url: Option<Secret<String>>,
    pub pool: PoolSettings,
    pub tokens: TokenSettings,
    pub evaluator: EvaluatorSettings,
}

/// Where the database login comes from.
#[derive(Debug, Clone)]
pub enum DatabaseSource {
    /// `DATABASE_URL`: `postgres://user:password@host:port/db` (`?sslmode=require` for TLS).
    Url(Secret<String>),
    /// `DATABASE_SECRET_ARN`: a Secrets Manager secret (`{"username","password","host","port",
    /// "dbname"}` or `{"url"}`), read at cold start; `DATABASE_HOST`, `DATABASE_PORT` and
    /// `DATABASE_NAME` fill what it lacks.
    SecretArn {
        arn: String,
        host: Option<String>,
        port: Option<String>,
        name: Option<String>,
    },
}

/// The connection pool of a process.
#[derive(Debug, Clone, PartialEq)]
pub struct PoolSettings {
    /// `DB_POOL_SIZE`: connections kept by the process; `None`: the process's default
    /// ([`DEFAULT_POOL_SIZE`] for the HTTP functions, more for `max-local serve`, one per worker for
    /// the evaluator).
    pub size: Option<usize>,
    /// `DB_CONNECT_TIMEOUT_MS` (3000): waiting for a connection, or opening one; past it, a 503.
    pub connect_timeout: Duration,
    /// `DB_STATEMENT_TIMEOUT_MS` (5000): the longest a statement may run (the server's bound; for
    /// a request, no longer than `request_timeout`).
    pub statement_timeout: Duration,
    /// `DB_REQUEST_TIMEOUT_MS` (2500): the longest a request waits on the database in all
    /// (a connection, then its transaction), whatever the database does: refuses, resets, or says
    /// nothing at all. Past it, a 503, and a connection left waiting is dropped from the pool.
    pub request_timeout: Duration,
    /// `DATABASE_CA_CERT`: PEM text, or a PEM file's path, of the database's CA (Supabase, RDS),
    /// trusted for TLS besides the public roots.
    pub ca_cert: Option<String>,
    /// `DATABASE_STATEMENT_CACHE` (`on`): prepare each statement once per connection and reuse its
    /// plan; `off`: unnamed statements, for transaction-mode poolers (PgBouncer before 1.21,
    /// Supabase's port 6543, RDS Proxy).
    pub statement_cache: bool,
}

/// Connections a function keeps unless `DB_POOL_SIZE` says otherwise.
pub const DEFAULT_POOL_SIZE: usize = 4;

impl Default for PoolSettings {
    fn default() -> Self {
        Self {
            size: None,
            connect_timeout: Duration::from_secs(3),
            statement_timeout: Duration::from_secs(5),
            request_timeout: Duration::from_millis(2500),
            ca_cert: None,
            statement_cache: true,
        }
    }
}

/// How dashboard users' tokens are verified.
#[derive(Debug, Clone, Default)]
pub struct TokenSettings {
    /// The HS256 secret (at least 32 bytes); `None`: only API keys are accepted.
    pub secret: Option<TokenSecret>,
    /// `JWT_AUDIENCE`: the `aud` users' tokens must carry (not checked when unset).
    pub audience: Option<String>,
    /// `JWT_ISSUER`: the `iss` users' tokens must carry (not checked when unset).
    pub issuer: Option<String>,
    /// `JWT_TENANT_CLAIM`, `JWT_USER_CLAIM`, `JWT_ROLE_CLAIM`, `JWT_ROLE_SCOPES`: how the HS256
    /// tokens' claims are read.
    pub claims: ClaimSettings,
    /// `JWT_ISSUERS`: identity providers whose tokens are signed with published keys (RS256,
    /// ES256...), verified beside the HS256 ones.
    pub issuers: Vec<IssuerSettings>,
}

/// Which claims of a token hold the tenant, the user and the roles (dotted paths for nested
/// ones), and what each role may do (`owner=alerts:read alerts:resolve;viewer=alerts:read`).
/// `tenancy::users::ClaimMapping` reads them; unset: the documented defaults.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ClaimSettings {
    pub tenant: Option<String>,
    pub user: Option<String>,
    pub role: Option<String>,
    pub role_scopes: Option<String>,
}

/// An identity provider of `JWT_ISSUERS` (a JSON list of objects with these fields, in camel
/// case): its tokens are verified with the keys it publishes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IssuerSettings {
    /// `issuer`: the `iss` its tokens carry, exactly as they write it.
    pub issuer: String,
    /// `audience`: the `aud` its tokens must carry (a string, or a list of accepted ones).
    pub audiences: Vec<String>,
    /// `jwksUrl`: where its keys are published; unset, OIDC discovery finds them
    /// (`{issuer}/.well-known/openid-configuration`).
    pub jwks_url: Option<String>,
    /// `tenantClaim`, `userClaim`, `roleClaim`, `roleScopes`: as `JWT_*_CLAIM` for HS256 tokens.
    pub claims: ClaimSettings,
}

/// An entry of `JWT_ISSUERS` as written.
#[derive(serde::Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct IssuerEntry {
    issuer: String,
    audience: OneOrMany,
    #[serde(default)]
    jwks_url: Option<String>,
    #[serde(default)]
    tenant_claim: Option<String>,
    #[serde(default)]
    user_claim: Option<String>,
    #[serde(default)]
    role_claim: Option<String>,
    #[serde(default)]
    role_scopes: Option<String>,
}

#[derive(serde::Deserialize)]
#[serde(untagged)]
enum OneOrMany {
    One(String),
    Many(Vec<String>),
}

impl IssuerSettings {
    /// The issuers `JWT_ISSUERS` lists: each needs an issuer and at least one audience (a token
    /// from the same provider for another application must not pass), once each.
    pub fn parse_list(text: &str) -> Result<Vec<Self>, ConfigError> {
        let malformed = |reason: String| ConfigError::Malformed {
            name: "JWT_ISSUERS",
            reason,
        };
        let entries: Vec<IssuerEntry> =
            serde_json::from_str(text).map_err(|error| malformed(error.to_string()))?;
        let mut issuers: Vec<Self> = Vec::with_capacity(entries.len());
        for entry in entries {
            let issuer = entry.issuer.trim().to_owned();
            if issuer.is_empty() {
                return Err(malformed("an issuer is blank".into()));
            }
            let audiences: Vec<String> = match entry.audience {
                OneOrMany::One(audience) => vec![audience],
                OneOrMany::Many(audiences) => audiences,
            }
            .into_iter()
            .map(|audience| audience.trim().to_owned())
            .filter(|audience| !audience.is_empty())
            .collect();
            if audiences.is_empty() {
                return Err(malformed(format!("{issuer}: no audience")));
            }
            if issuers.iter().any(|known| known.issuer == issuer) {
                return Err(malformed(format!("{issuer} is listed twice")));
            }
            let blank_is_unset = |value: Option<String>| value.filter(|v| !v.trim().is_empty());
            issuers.push(Self {
                issuer,
                audiences,
                jwks_url: blank_is_unset(entry.jwks_url),
                claims: ClaimSettings {
                    tenant: blank_is_unset(entry.tenant_claim),
                    user: blank_is_unset(entry.user_claim),
                    role: blank_is_unset(entry.role_claim),
                    role_scopes: blank_is_unset(entry.role_scopes),
                },
            });
        }
        Ok(issuers)
    }
}

/// Where the users' token secret comes from.
#[derive(Debug, Clone)]
pub enum TokenSecret {
    /// `JWT_SECRET`.
    Value(Secret<Vec<u8>>),
    /// `JWT_SECRET_ARN`: a Secrets Manager secret (the string, or its `secret` field).
    SecretArn(String),
}

/// How an evaluator pass runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct EvaluatorSettings {
    /// `EVALUATOR_TIMEOUT_MS` (60000): the longest one batch of a pass may run.
    pub timeout: Duration,
    /// `EVALUATOR_WORKERS` (2, at most [`MAX_EVALUATOR_WORKERS`]): connections a pass works on at
    /// once, each a PostgreSQL backend (so: up to the database server's cores).
    pub workers: usize,
}

/// The most workers `EVALUATOR_WORKERS` may ask for.
pub const MAX_EVALUATOR_WORKERS: usize = 32;

impl Default for EvaluatorSettings {
    fn default() -> Self {
        Self {
            timeout: Duration::from_secs(60),
            workers: 2,
        }
    }
}

/// A value that is never printed: its `Debug` shows `***`.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret<T>(T);

impl<T> Secret<T> {
    pub fn new(value: T) -> Self {
        Self(value)
    }

    /// The value itself, for the one place that uses it.
    pub fn expose(&self) -> &T {
        &self.0
    }
}

impl<T> fmt::Debug for Secret<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("***")
    }
}

/// Configuration that cannot be used, naming the variable (never its value).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ConfigError {
    Missing(&'static str),
    Invalid(&'static str),
    /// A structured setting that cannot be read, and why (the reason names no secret).
    Malformed {
        name: &'static str,
        reason: String,
    },
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ConfigError::Missing(name) => write!(f, "{name} is not set"),
            ConfigError::Invalid(name) => write!(f, "{name} is not valid"),
            ConfigError::Malformed { name, reason } => write!(f, "{name} is not valid: {reason}"),
        }
    }
}

impl std::error::Error for ConfigError {}

impl Config {
    /// The process's environment.
    pub fn from_env() -> Result<Self, ConfigError> {
        Self::from_vars(|name| std::env::var(name).ok())
    }

    /// The configuration that `vars` (a variable's value by name) describes. A blank URL, name or
    /// secret counts as unset; a number or switch that is set must be valid.
    pub fn from_vars(vars: impl Fn(&str) -> Option<String>) -> Result<Self, ConfigError> {
        let var = |name: &str| vars(name).filter(|value| !value.trim().is_empty());
        // A setting that is set must be valid, even when empty.
        let number = |name: &'static str, range: RangeInclusive<u64>, invalid: &'static str| {
            vars(name)
                .map(|text| parse_number_in(&text, range).ok_or(ConfigError::Invalid(invalid)))
                .transpose()
        };
        let millis = |name: &'static str, range, default: Duration| {
            Ok::<_, ConfigError>(number(name, range, name)?.map_or(default, Duration::from_millis))
        };

        let database = match (var("DATABASE_SECRET_ARN"), var("DATABASE_URL")) {
            (Some(arn), _) => Some(DatabaseSource::SecretArn {
                arn,
                host: var("DATABASE_HOST"),
                port: var("DATABASE_PORT"),
                name: var("DATABASE_NAME"),
            }),
            (None, Some(url)) => Some(DatabaseSource::Url(Secret(url))),
            (None, None) => None,
        };
        let defaults = PoolSettings::default();
        let pool = PoolSettings {
            size: number("DB_POOL_SIZE", 0..=u64::MAX, "DB_POOL_SIZE")?.map(|n| n.max(1) as usize),
            connect_timeout: millis(
                "DB_CONNECT_TIMEOUT_MS",
                0..=u64::MAX,
                defaults.connect_timeout,
            )?,
            statement_timeout: millis(
                "DB_STATEMENT_TIMEOUT_MS",
                0..=u64::MAX,
                defaults.statement_timeout,
            )?,
            request_timeout: millis(
                "DB_REQUEST_TIMEOUT_MS",
                1..=u64::MAX,
                defaults.request_timeout,
            )?,
            ca_cert: var("DATABASE_CA_CERT"),
            statement_cache: match vars("DATABASE_STATEMENT_CACHE") {
                None => defaults.statement_cache,
                Some(text) => parse_switch(&text)
                    .ok_or(ConfigError::Invalid("DATABASE_STATEMENT_CACHE (on or off)"))?,
            },
        };
        let tokens = TokenSettings {
            secret: match (var("JWT_SECRET_ARN"), var("JWT_SECRET")) {
                (Some(arn), _) => Some(TokenSecret::SecretArn(arn)),
                (None, Some(secret)) => Some(TokenSecret::Value(Secret(secret.into_bytes()))),
                (None, None) => None,
            },
            audience: var("JWT_AUDIENCE"),
            issuer: var("JWT_ISSUER"),
            claims: ClaimSettings {
                tenant: var("JWT_TENANT_CLAIM"),
                user: var("JWT_USER_CLAIM"),
                role: var("JWT_ROLE_CLAIM"),
                role_scopes: var("JWT_ROLE_SCOPES"),
            },
            issuers: var("JWT_ISSUERS")
                .map(|text| IssuerSettings::parse_list(&text))
                .transpose()?
                .unwrap_or_default(),
        };
        let evaluator = EvaluatorSettings {
            timeout: number(
                "EVALUATOR_TIMEOUT_MS",
                1..=u64::MAX,
                "EVALUATOR_TIMEOUT_MS (a positive number of milliseconds)",
            )?
            .map_or(EvaluatorSettings::default().timeout, Duration::from_millis),
            workers: number(
                "EVALUATOR_WORKERS",
                1..=MAX_EVALUATOR_WORKERS as u64,
                "EVALUATOR_WORKERS (a number of connections, 1 to 32)",
            )?
            .map_or(EvaluatorSettings::default().workers, |n| n as usize),
        };
        Ok(Self {
            database,
            app_database_url: var("APP_DATABASE_URL").map(Secret),
            pool,
            tokens,
            evaluator,
        })
    }
}

/// A whole number in `range`, as a setting gives it (spaces around it allowed).
fn parse_number_in(text: &str, range: RangeInclusive<u64>) -> Option<u64> {
    text.trim().parse().ok().filter(|n| range.contains(n))
}

/// `on`/`off` (or `true`/`false`, `1`/`0`).
fn parse_switch(text: &str) -> Option<bool> {
    match text.trim().to_ascii_lowercase().as_str() {
        "on" | "true" | "1" => Some(true),
        "off" | "false" | "0" => Some(false),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn config(pairs: &[(&str, &str)]) -> Result<Config, ConfigError> {
        let vars: HashMap<String, String> = pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        Config::from_vars(|name| vars.get(name).cloned())
    }

    #[test]
    fn the_statement_cache_switch_is_on_or_off_and_nothing_else() {
        for on in ["on", "ON", " true", "1"] {
            assert_eq!(parse_switch(on), Some(true), "{on}");
        }
        for off in ["off", "False", "0 "] {
            assert_eq!(parse_switch(off), Some(false), "{off}");
        }
        for bad in ["", "yes", "enabled", "2"] {
            assert_eq!(parse_switch(bad), None, "{bad}");
        }
        assert!(config(&[("DATABASE_STATEMENT_CACHE", "yes")]).is_err());
        assert!(config(&[("DATABASE_STATEMENT_CACHE", "")]).is_err());
        assert!(
            !config(&[("DATABASE_STATEMENT_CACHE", "off")])
                .unwrap()
                .pool
                .statement_cache
        );
    }

    #[test]
    fn workers_are_a_number_of_connections_from_1_to_32() {
        let workers = |text| config(&[("EVALUATOR_WORKERS", text)]).map(|c| c.evaluator.workers);
        assert_eq!(workers("4"), Ok(4));
        assert_eq!(workers(" 1 "), Ok(1));
        assert_eq!(workers("32"), Ok(32));
        for bad in ["0", "33", "-1", "two", ""] {
            assert!(workers(bad).is_err(), "{bad:?}");
        }
        assert_eq!(config(&[]).unwrap().evaluator.workers, 2);
    }

    #[test]
    fn a_request_waits_on_the_database_for_a_positive_number_of_milliseconds() {
        let bound =
            |text| config(&[("DB_REQUEST_TIMEOUT_MS", text)]).map(|c| c.pool.request_timeout);
        assert_eq!(bound("800"), Ok(Duration::from_millis(800)));
        assert!(bound("0").is_err() && bound("soon").is_err());
        assert_eq!(
            config(&[]).unwrap().pool.request_timeout,
            Duration::from_millis(2500)
        );
    }

    #[test]
    fn the_timeout_is_a_positive_number_of_milliseconds() {
        let timeout = |text| config(&[("EVALUATOR_TIMEOUT_MS", text)]).map(|c| c.evaluator.timeout);
        assert_eq!(timeout(" 1500 "), Ok(Duration::from_millis(1500)));
        for bad in ["0", "-5", "1.5", "60s", ""] {
            assert!(timeout(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn a_secret_arn_wins_over_a_url_and_neither_is_none() {
        assert!(matches!(
            config(&[
                ("DATABASE_URL", "postgres://h/db"),
                ("DATABASE_SECRET_ARN", "arn:x")
            ])
            .unwrap()
            .database,
            Some(DatabaseSource::SecretArn { .. })
        ));
        assert!(
            config(&[("DATABASE_URL", "  ")])
                .unwrap()
                .database
                .is_none()
        );
    }

    #[test]
    fn issuers_are_a_json_list_each_with_an_audience() {
        let issuers = |text| config(&[("JWT_ISSUERS", text)]).map(|c| c.tokens.issuers);
        let listed = issuers(
            r#"[{"issuer": "https://idp.test/", "audience": "app", "tenantClaim": "custom:tenant"},
                {"issuer": "https://other.test", "audience": ["a", "b"], "jwksUrl": "https://other.test/keys"}]"#,
        )
        .unwrap();
        assert_eq!(listed.len(), 2);
        assert_eq!(listed[0].issuer, "https://idp.test/");
        assert_eq!(listed[0].audiences, ["app"]);
        assert_eq!(listed[0].claims.tenant.as_deref(), Some("custom:tenant"));
        assert_eq!(listed[0].jwks_url, None);
        assert_eq!(listed[1].audiences, ["a", "b"]);
        assert_eq!(
            listed[1].jwks_url.as_deref(),
            Some("https://other.test/keys")
        );
        assert_eq!(issuers(" ").unwrap(), []);
        for bad in [
            "{}",
            r#"[{"issuer": "https://idp.test"}]"#,
            r#"[{"issuer": "https://idp.test", "audience": []}]"#,
            r#"[{"issuer": " ", "audience": "app"}]"#,
            r#"[{"issuer": "https://idp.test", "audience": "app", "tenantclaim": "t"}]"#,
            r#"[{"issuer": "https://a.test", "audience": "x"}, {"issuer": "https://a.test", "audience": "y"}]"#,
        ] {
            let error = issuers(bad).unwrap_err();
            assert!(
                error.to_string().starts_with("JWT_ISSUERS is not valid"),
                "{bad}: {error}"
            );
        }
    }

    #[test]
    fn secrets_never_show_in_debug_output() {
        let shown = format!(
            "{:?}",
            config(&[
                ("DATABASE_URL", "postgres://u:hunter2@h/db"),
                ("JWT_SECRET", "topsecret-topsecret-topsecret-42"),
            ])
            .unwrap()
        );
        assert!(
            !shown.contains("hunter2") && !shown.contains("topsecret"),
            "{shown}"
        );
    }
}
