//! The database: the pool, tenant-scoped transactions sent as one pipeline, and the mapping of
//! database failures to API errors.
//!
//! Every statement of a request runs in one transaction that first switches to the role
//! `max_app` (which Row Level Security binds), bounds the statement time, and sets the tenant
//! (`app.tenant_id`, transaction-local), either by verifying an API key (`max_authorize_key`) or
//! directly for an already verified tenant. `BEGIN`, that scope statement, the work and `COMMIT`
//! are sent together, so a request costs one round trip.
//!
//! On a direct (or session-mode pooled) connection, each statement is prepared once per connection
//! and its plan reused (`DATABASE_STATEMENT_CACHE=on`, the default): parsing and planning would
//! otherwise cost PostgreSQL more than running these statements. Behind a transaction-mode pooler
//! (PgBouncer before 1.21, Supabase's pooler on port 6543, RDS Proxy), a prepared statement may
//! be on another server connection at the next transaction, so there statements must be unnamed
//! (`DATABASE_STATEMENT_CACHE=off`): nothing then outlives the transaction.

use std::fmt;
use std::ops::RangeInclusive;
use std::pin::Pin;
use std::str::FromStr;
use std::time::Duration;

use deadpool_postgres::{
    Hook, HookError, Manager, ManagerConfig, Object, Pool, PoolError, QueueMode, RecyclingMethod,
    Runtime, Timeouts,
};
use futures_util::future::{join_all, try_join_all};
use tokio_postgres::config::SslMode;
use tokio_postgres::types::{ToSql, Type};
use tokio_postgres::{NoTls, Row};
use tokio_postgres_rustls::MakeRustlsConnect;

use crate::auth::{Scope, TenantId};
use crate::error::ApiError;

/// A connection idle for longer than this is checked before reuse: a Lambda instance may have been
/// frozen, and a pooler or NAT may have dropped the connection meanwhile.
const VERIFY_AFTER_IDLE: Duration = Duration::from_secs(30);

/// The database settings of a process. The URL holds a password: it is never printed.
#[derive(Clone)]
pub struct DbConfig {
    url: String,
    /// Connections kept by this process.
    pub pool_size: usize,
    /// How long a request may wait for a connection, or for one to be opened.
    pub connect_timeout: Duration,
    /// The longest a statement may run.
    pub statement_timeout: Duration,
    /// Shown in `pg_stat_activity`.
    pub application_name: String,
    /// Certificates (PEM text, or a PEM file's path) trusted for TLS besides the public roots.
    pub ca_cert: Option<String>,
    /// Prepare each statement once per connection (`true`), or send unnamed statements that
    /// work behind transaction-mode poolers (`false`).
    pub statement_cache: bool,
}

impl fmt::Debug for DbConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("DbConfig")
            .field("url", &redact_url(&self.url))
            .field("pool_size", &self.pool_size)
            .field("connect_timeout", &self.connect_timeout)
            .field("statement_timeout", &self.statement_timeout)
            .field("application_name", &self.application_name)
            .field("ca_cert", &self.ca_cert.is_some())
            .field("statement_cache", &self.statement_cache)
            .finish()
    }
}

impl DbConfig {
    pub fn new(url: impl Into<String>, application_name: impl Into<String>) -> Self {
        Self {
            url: url.into(),
            pool_size: 4,
            connect_timeout: Duration::from_secs(3),
            statement_timeout: Duration::from_secs(5),
            application_name: application_name.into(),
            ca_cert: None,
            statement_cache: true,
        }
    }

    /// A URL's settings, with the optional `DB_POOL_SIZE`, `DB_CONNECT_TIMEOUT_MS`,
    /// `DB_STATEMENT_TIMEOUT_MS`, `DATABASE_CA_CERT` and `DATABASE_STATEMENT_CACHE` from the
    /// environment.
    pub fn from_env(url: String, application_name: &str) -> Result<Self, ConfigError> {
        let mut config = Self::new(url, application_name);
        if let Ok(text) = std::env::var("DATABASE_STATEMENT_CACHE") {
            config.statement_cache = parse_switch(&text)
                .ok_or(ConfigError::Invalid("DATABASE_STATEMENT_CACHE (on or off)"))?;
        }
        config.ca_cert = std::env::var("DATABASE_CA_CERT")
            .ok()
            .filter(|ca| !ca.trim().is_empty());
        if let Some(size) = env_number("DB_POOL_SIZE")? {
            config.pool_size = size.max(1) as usize;
        }
        if let Some(ms) = env_number("DB_CONNECT_TIMEOUT_MS")? {
            config.connect_timeout = Duration::from_millis(ms);
        }
        if let Some(ms) = env_number("DB_STATEMENT_TIMEOUT_MS")? {
            config.statement_timeout = Duration::from_millis(ms);
        }
        Ok(config)
    }

    /// The URL with its password hidden, for messages.
    pub fn redacted_url(&self) -> String {
        redact_url(&self.url)
    }

    pub fn url(&self) -> &str {
        &self.url
    }
}

/// `on`/`off` (or `true`/`false`, `1`/`0`).
fn parse_switch(text: &str) -> Option<bool> {
    match text.trim().to_ascii_lowercase().as_str() {
        "on" | "true" | "1" => Some(true),
        "off" | "false" | "0" => Some(false),
        _ => None,
    }
}

fn env_number(name: &'static str) -> Result<Option<u64>, ConfigError> {
    env_number_in(name, 0..=u64::MAX, name)
}

/// A whole number in `range`, as a setting gives it (spaces around it allowed).
pub fn parse_number_in(text: &str, range: RangeInclusive<u64>) -> Option<u64> {
    text.trim().parse().ok().filter(|n| range.contains(n))
}

/// The environment variable `name` as a whole number in `range`, if it is set; when it is not such
/// a number, a configuration error that says `invalid` (the name and what it accepts).
pub fn env_number_in(
    name: &str,
    range: RangeInclusive<u64>,
    invalid: &'static str,
) -> Result<Option<u64>, ConfigError> {
    match std::env::var(name) {
        Err(_) => Ok(None),
        Ok(text) => parse_number_in(&text, range)
            .map(Some)
            .ok_or(ConfigError::Invalid(invalid)),
    }
}

/// A `postgres://user:password@host/db` URL with the password replaced by `***` and the query
/// (which may carry a password too) left out.
pub fn redact_url(url: &str) -> String {
    let Some((scheme, rest)) = url.split_once("://") else {
        return "(not a URL)".into();
    };
    let rest = rest.split('?').next().unwrap_or(rest);
    let (authority, path) = rest.split_at(rest.find('/').unwrap_or(rest.len()));
    let authority = match authority.rsplit_once('@') {
        Some((userinfo, host)) => match userinfo.split_once(':') {
            Some((user, _)) => format!("{user}:***@{host}"),
            None => format!("{userinfo}@{host}"),
        },
        None => authority.to_owned(),
    };
    format!("{scheme}://{authority}{path}")
}

/// A TLS connector that trusts the public roots, plus the certificates of `ca_cert` (PEM text,
/// or the path of a PEM file).
fn tls_connector(ca_cert: Option<&str>) -> Result<MakeRustlsConnect, ConfigError> {
    use rustls::pki_types::CertificateDer;
    use rustls::pki_types::pem::PemObject;
    let invalid = || ConfigError::Invalid("DATABASE_CA_CERT");
    let mut roots = rustls::RootCertStore::empty();
    roots.extend(webpki_roots::TLS_SERVER_ROOTS.iter().cloned());
    if let Some(ca) = ca_cert {
        let pem = if ca.trim_start().starts_with("-----BEGIN") {
            ca.as_bytes().to_vec()
        } else {
            std::fs::read(ca.trim()).map_err(|_| invalid())?
        };
        for certificate in CertificateDer::pem_slice_iter(&pem) {
            roots
                .add(certificate.map_err(|_| invalid())?)
                .map_err(|_| invalid())?;
        }
    }
    let config = rustls::ClientConfig::builder_with_provider(std::sync::Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .map_err(|_| ConfigError::Invalid("TLS settings"))?
    .with_root_certificates(roots)
    .with_no_client_auth();
    Ok(MakeRustlsConnect::new(config))
}

/// Configuration that cannot be used.
#[derive(Debug, Clone)]
pub enum ConfigError {
    Missing(&'static str),
    Invalid(&'static str),
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ConfigError::Missing(name) => write!(f, "{name} is not set"),
            ConfigError::Invalid(name) => write!(f, "{name} is not valid"),
        }
    }
}

impl std::error::Error for ConfigError {}

/// The database of a process: a pool built once at start-up and shared by every request.
#[derive(Clone)]
pub struct Db {
    pool: Pool,
    statement_timeout: String,
    /// Statements are prepared once per connection (see the module's documentation).
    prepared: bool,
}

/// How a transaction reads and writes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Access {
    ReadWrite,
    /// Every statement sees the same snapshot, and nothing may be written.
    ReadOnlySnapshot,
}

/// The tenant a transaction works for, and how it was established.
#[derive(Debug, Clone)]
pub enum TenantScope<'a> {
    /// An API key, verified by the database inside the transaction, for a scope.
    ApiKey {
        tenant: &'a TenantId,
        key_hash: &'a [u8; 32],
        scope: Scope,
    },
    /// A tenant already verified by the caller of `run` (a signed token, an operator command).
    Verified(&'a TenantId),
}

impl TenantScope<'_> {
    pub fn tenant(&self) -> &TenantId {
        match self {
            TenantScope::ApiKey { tenant, .. } | TenantScope::Verified(tenant) => tenant,
        }
    }
}

/// One statement of a pipelined transaction: SQL text and typed parameters.
pub struct Stmt<'a> {
    pub sql: &'a str,
    pub params: &'a [(&'a (dyn ToSql + Sync), Type)],
}

type BoxedQuery<'a> =
    Pin<Box<dyn Future<Output = Result<Vec<Row>, tokio_postgres::Error>> + Send + 'a>>;

impl Db {
    /// Builds the pool; no connection is opened until one is needed (see [`Db::warm_up`]).
    pub fn connect_lazily(config: &DbConfig) -> Result<Self, ConfigError> {
        let mut pg = tokio_postgres::Config::from_str(&config.url)
            .map_err(|_| ConfigError::Invalid("DATABASE_URL"))?;
        if pg.get_connect_timeout().is_none() {
            pg.connect_timeout(config.connect_timeout);
        }
        if pg.get_application_name().is_none() {
            pg.application_name(&config.application_name);
        }
        pg.keepalives_idle(Duration::from_secs(30));
        let manager_config = ManagerConfig {
            recycling_method: RecyclingMethod::Fast,
        };
        // TLS when the URL asks for it (`sslmode=require`): certificates are verified against the
        // public roots and `DATABASE_CA_CERT` (Supabase's and RDS's own CAs). Set up here, once.
        let manager = if pg.get_ssl_mode() == SslMode::Require {
            Manager::from_config(
                pg,
                tls_connector(config.ca_cert.as_deref())?,
                manager_config,
            )
        } else {
            Manager::from_config(pg, NoTls, manager_config)
        };
        let pool = Pool::builder(manager)
            .max_size(config.pool_size)
            // The connection used last is handed out first: at low load requests keep to the few
            // backends whose caches are warm instead of going round every connection a burst
            // opened (PostgreSQL's CPU per request 314 against 176 µs, bench/PROFILE.md).
            .queue_mode(QueueMode::Lifo)
            .runtime(Runtime::Tokio1)
            .timeouts(Timeouts {
                wait: Some(config.connect_timeout),
                create: Some(config.connect_timeout),
                recycle: Some(config.connect_timeout),
            })
            .pre_recycle(Hook::async_fn(|client, metrics| {
                Box::pin(async move {
                    if metrics.last_used() < VERIFY_AFTER_IDLE {
                        return Ok(());
                    }
                    match tokio::time::timeout(Duration::from_secs(2), client.simple_query(""))
                        .await
                    {
                        Ok(Ok(_)) => Ok(()),
                        _ => Err(HookError::message("idle connection no longer answers")),
                    }
                })
            }))
            .build()
            .map_err(|_| ConfigError::Invalid("database pool settings"))?;
        Ok(Self {
            pool,
            statement_timeout: format!("{}ms", config.statement_timeout.as_millis()),
            prepared: config.statement_cache,
        })
    }

    /// Opens one connection now, so that the first request does not pay for it. A database that is
    /// down is not fatal: requests answer 503 until it is back.
    pub async fn warm_up(&self) {
        if let Err(error) = self.pool.get().await {
            tracing::warn!(error = %DbError::Pool(error), "database not reachable at start-up");
        }
    }

    /// The most connections this pool opens.
    pub fn max_connections(&self) -> usize {
        self.pool.status().max_size
    }

    /// A connection from the pool, for operator tools and tests.
    pub async fn connection(&self) -> Result<Object, DbError> {
        self.pool.get().await.map_err(DbError::Pool)
    }

    /// Whether the database answers.
    pub async fn ping(&self) -> Result<(), DbError> {
        let client = self.connection().await?;
        client
            .simple_query("SELECT 1")
            .await
            .map_err(DbError::Query)?;
        Ok(())
    }

    /// Runs `stmts` in one transaction for a tenant, sent as one pipeline, and returns the rows of
    /// each statement. A failed key check or statement rolls the whole transaction back.
    pub async fn run(
        &self,
        scope: &TenantScope<'_>,
        access: Access,
        stmts: &[Stmt<'_>],
    ) -> Result<Vec<Vec<Row>>, DbError> {
        let client = self.connection().await?;
        let timeout = &self.statement_timeout;
        let result = pipeline(&client, self.prepared, scope, access, timeout, stmts).await;
        match result {
            // A prepared statement the server no longer has (DEALLOCATE, DISCARD ALL), or whose
            // result a migration changed: the transaction was rolled back; prepare again, once.
            Err(error) if self.prepared && error.invalidates_prepared_statements() => {
                tracing::warn!(%error, "prepared statements invalidated; preparing them again");
                client.statement_cache.clear();
                pipeline(&client, true, scope, access, timeout, stmts).await
            }
            result => result,
        }
    }
}

/// The scope statement for an API key: the role, the statement timeout, and the key check that
/// sets the tenant (or raises MX401/MX403).
const AUTHORIZE_KEY: &str = "SELECT set_config('role', 'max_app', true), \
                                    set_config('statement_timeout', $4, true), \
                                    max_authorize_key($1, $2, $3)";
/// The scope statement for a tenant the caller already verified.
const SET_TENANT: &str = "SELECT set_config('role', 'max_app', true), \
                                 set_config('statement_timeout', $2, true), \
                                 set_config('app.tenant_id', $1, true)";

/// Sends BEGIN, the scope statement, `stmts` and COMMIT without waiting in between.
///
/// Each query future sends its messages the first time it is polled, and `join_all` polls them
/// in order, so the server receives them in order and in one flush. All are sent before any
/// completes, so a cancelled request never leaves a transaction open: the server finishes it, and
/// COMMIT after a failure is a ROLLBACK. With `prepared`, the statements this connection has not
/// prepared yet are prepared first (together, in one round trip), and the pipeline only binds
/// and executes them.
async fn pipeline(
    client: &Object,
    prepared: bool,
    scope: &TenantScope<'_>,
    access: Access,
    statement_timeout: &str,
    stmts: &[Stmt<'_>],
) -> Result<Vec<Vec<Row>>, DbError> {
    let begin = match access {
        Access::ReadWrite => "BEGIN",
        Access::ReadOnlySnapshot => "BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY",
    };
    let tenant = scope.tenant().as_str();
    let (key_hash, scope_name): (&[u8], &str) = match scope {
        TenantScope::ApiKey {
            key_hash, scope, ..
        } => (key_hash.as_slice(), scope.as_str()),
        TenantScope::Verified(_) => (&[], ""),
    };
    let key_params: [(&(dyn ToSql + Sync), Type); 4] = [
        (&tenant, Type::TEXT),
        (&key_hash, Type::BYTEA),
        (&scope_name, Type::TEXT),
        (&statement_timeout, Type::TEXT),
    ];
    let tenant_params: [(&(dyn ToSql + Sync), Type); 2] =
        [(&tenant, Type::TEXT), (&statement_timeout, Type::TEXT)];
    let scope_stmt = match scope {
        TenantScope::ApiKey { .. } => Stmt {
            sql: AUTHORIZE_KEY,
            params: &key_params,
        },
        TenantScope::Verified(_) => Stmt {
            sql: SET_TENANT,
            params: &tenant_params,
        },
    };
    let all: Vec<&Stmt<'_>> = std::iter::once(&scope_stmt).chain(stmts).collect();

    let statements = if prepared {
        try_join_all(all.iter().map(|stmt| async move {
            let types: Vec<Type> = stmt.params.iter().map(|(_, ty)| ty.clone()).collect();
            client.prepare_typed_cached(stmt.sql, &types).await
        }))
        .await
        .map_err(DbError::Query)?
    } else {
        Vec::new()
    };
    let values: Vec<Vec<&(dyn ToSql + Sync)>> = all
        .iter()
        .map(|stmt| stmt.params.iter().map(|(value, _)| *value).collect())
        .collect();

    let mut queries: Vec<BoxedQuery<'_>> = Vec::with_capacity(all.len() + 2);
    queries.push(Box::pin(async move {
        client.batch_execute(begin).await.map(|()| Vec::new())
    }));
    for (index, stmt) in all.iter().enumerate() {
        queries.push(match statements.get(index) {
            Some(statement) => Box::pin(client.query(statement, &values[index])),
            None => Box::pin(client.query_typed(stmt.sql, stmt.params)),
        });
    }
    queries.push(Box::pin(async move {
        client.batch_execute("COMMIT").await.map(|()| Vec::new())
    }));

    let mut results = join_all(queries).await.into_iter();
    // The first failure is the cause; the statements after it only report the aborted transaction.
    let mut rows = Vec::with_capacity(stmts.len());
    for (index, result) in results.by_ref().enumerate() {
        match result {
            Err(error) => return Err(DbError::Query(error)),
            Ok(result_rows) if (2..stmts.len() + 2).contains(&index) => rows.push(result_rows),
            Ok(_) => {}
        }
    }
    Ok(rows)
}

/// A database failure, with its cause (for logs only).
#[derive(Debug)]
pub enum DbError {
    Pool(PoolError),
    Query(tokio_postgres::Error),
}

/// SQLSTATEs raised by `max_authorize_key`.
const UNKNOWN_KEY: &str = "MX401";
const MISSING_SCOPE: &str = "MX403";

impl DbError {
    /// The SQLSTATE of a database error, if the server sent one.
    pub fn sqlstate(&self) -> Option<&str> {
        match self {
            DbError::Query(error) => error.as_db_error().map(|db| db.code().code()),
            DbError::Pool(PoolError::Backend(error)) => {
                error.as_db_error().map(|db| db.code().code())
            }
            _ => None,
        }
    }

    /// Whether the failure is a prepared statement gone from the server (26000) or one whose
    /// plan can no longer return what it was prepared for (0A000, after a migration).
    fn invalidates_prepared_statements(&self) -> bool {
        matches!(self.sqlstate(), Some("26000" | "0A000"))
    }

    /// Whether the failure is the database being unreachable, overloaded or too slow, rather than
    /// a defect: those are answered with 503 and `Retry-After`.
    pub fn is_unavailable(&self) -> bool {
        match self {
            DbError::Pool(PoolError::Backend(error)) | DbError::Query(error) => {
                match error.as_db_error() {
                    // Connection exceptions, insufficient resources, operator intervention
                    // (shutdown, cannot connect now), statement timeout, lock timeout.
                    Some(db) => {
                        let code = db.code().code();
                        code.starts_with("08")
                            || code.starts_with("53")
                            || code.starts_with("57")
                            || code == "55P03"
                    }
                    // No answer from the server: closed connection, I/O error, timeout.
                    None => true,
                }
            }
            DbError::Pool(_) => true,
        }
    }
}

impl fmt::Display for DbError {
    /// The cause, for logs: the SQLSTATE and the server's message, never the SQL text, parameters
    /// or connection string.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let error = match self {
            DbError::Pool(PoolError::Timeout(kind)) => {
                return write!(f, "pool timed out ({kind:?})");
            }
            DbError::Pool(PoolError::Backend(error)) | DbError::Query(error) => error,
            DbError::Pool(_) => return f.write_str("pool unavailable"),
        };
        match error.as_db_error() {
            Some(db) => write!(f, "database error {}: {}", db.code().code(), db.message()),
            None => write!(f, "database connection error: {error}"),
        }
    }
}

impl std::error::Error for DbError {}

impl From<DbError> for ApiError {
    fn from(error: DbError) -> Self {
        match error.sqlstate() {
            Some(UNKNOWN_KEY) => return ApiError::unauthorized("Invalid or revoked credential."),
            Some(MISSING_SCOPE) => {
                return ApiError::forbidden("This credential may not perform this operation.");
            }
            _ => {}
        }
        if error.is_unavailable() {
            tracing::warn!(error = %error, "database unavailable");
            ApiError::unavailable()
        } else {
            tracing::error!(error = %error, "database error");
            ApiError::internal()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_lose_their_password_when_shown() {
        assert_eq!(
            redact_url("postgres://app:s3cret@db.example:6543/max?sslmode=require"),
            "postgres://app:***@db.example:6543/max"
        );
        assert_eq!(
            redact_url("postgres://postgres@127.0.0.1:5432/max_local"),
            "postgres://postgres@127.0.0.1:5432/max_local"
        );
        assert_eq!(redact_url("host=x password=y"), "(not a URL)");
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
    }

    #[test]
    fn config_debug_output_hides_the_password() {
        let config = DbConfig::new("postgres://app:s3cret@h/db", "test");
        assert!(!format!("{config:?}").contains("s3cret"));
    }
}
