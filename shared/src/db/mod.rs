//! The database: a pool built once per process, and transactions sent as one pipeline
//! ([`Db::run`]). It knows nothing of tenants: each transaction starts with the statement its
//! caller's [`Opening`] gives (`crate::tenancy` opens one for a tenant).
//!
//! On a direct (or session-mode pooled) connection, each statement is prepared once per connection
//! and its plan reused (`DATABASE_STATEMENT_CACHE=on`, the default): parsing and planning would
//! otherwise cost PostgreSQL more than running these statements. Behind a transaction-mode pooler
//! (PgBouncer before 1.21, Supabase's pooler on port 6543, RDS Proxy), a prepared statement may
//! be on another server connection at the next transaction, so there statements must be unnamed
//! (`DATABASE_STATEMENT_CACHE=off`): nothing then outlives the transaction.

mod error;
mod pipeline;
mod tls;

use std::time::Duration;

use tokio::time::{Instant, timeout_at};

use deadpool_postgres::{
    Hook, HookError, Manager, ManagerConfig, Object, Pool, QueueMode, RecyclingMethod, Runtime,
    Timeouts,
};
use tokio_postgres::config::SslMode;
use tokio_postgres::{NoTls, Row};

pub use error::DbError;
pub use pipeline::{Access, Opening, OpeningStmt, Stmt};

use crate::config::{ConfigError, DEFAULT_POOL_SIZE, PoolSettings};

/// A connection idle for longer than this is checked before reuse: a Lambda instance may have been
/// frozen, and a pooler or NAT may have dropped the connection meanwhile.
const VERIFY_AFTER_IDLE: Duration = Duration::from_secs(30);

/// The database of a process: a pool built once at start-up and shared by every request.
#[derive(Clone)]
pub struct Db {
    pool: Pool,
    statement_timeout: String,
    /// How long a request may wait on the database in all.
    request_timeout: Duration,
    /// Statements are prepared once per connection (see the module's documentation).
    prepared: bool,
}

impl Db {
    /// Builds the pool for the database `pg` names, shown as `application_name` in
    /// `pg_stat_activity`; no connection is opened until one is needed (see [`Db::warm_up`]).
    pub fn connect_lazily(
        mut pg: tokio_postgres::Config,
        settings: &PoolSettings,
        application_name: &str,
    ) -> Result<Self, ConfigError> {
        if pg.get_connect_timeout().is_none() {
            pg.connect_timeout(settings.connect_timeout);
        }
        if pg.get_application_name().is_none() {
            pg.application_name(application_name);
        }
        // A peer that stops acknowledging (a partition, a host gone) is given up by the kernel
        // within seconds, instead of TCP's default of many minutes; one that still acknowledges
        // but says nothing is bounded by the request's own deadline (see `run`).
        pg.keepalives_idle(Duration::from_secs(30))
            .keepalives_interval(Duration::from_secs(5))
            .keepalives_retries(3)
            .tcp_user_timeout(Duration::from_secs(10));
        let manager_config = ManagerConfig {
            recycling_method: RecyclingMethod::Fast,
        };
        // TLS when the connection asks for it (`sslmode=require`): certificates are verified
        // against the public roots and `DATABASE_CA_CERT` (Supabase's and RDS's own CAs).
        let manager = if pg.get_ssl_mode() == SslMode::Require {
            let connector = tls::connector(settings.ca_cert.as_deref())?;
            Manager::from_config(pg, connector, manager_config)
        } else {
            Manager::from_config(pg, NoTls, manager_config)
        };
        let timeout = Some(settings.connect_timeout);
        let pool = Pool::builder(manager)
            .max_size(settings.size.unwrap_or(DEFAULT_POOL_SIZE))
            // The connection used last is handed out first: at low load requests keep to the few
            // backends whose caches are warm instead of going round every connection a burst
            // opened (bench/PROFILE.md).
            .queue_mode(QueueMode::Lifo)
            .runtime(Runtime::Tokio1)
            .timeouts(Timeouts {
                wait: timeout,
                create: timeout,
                recycle: timeout,
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
            // The server stops a statement no later than the request gives up on it.
            statement_timeout: format!(
                "{}ms",
                settings
                    .statement_timeout
                    .min(settings.request_timeout)
                    .as_millis()
            ),
            request_timeout: settings.request_timeout,
            prepared: settings.statement_cache,
        })
    }

    /// Opens one connection now, so that the first request does not pay for it. A database that is
    /// down is not fatal: requests answer 503 until it is back.
    pub async fn warm_up(&self) {
        if let Err(error) = self.connection().await {
            tracing::warn!(%error, "database not reachable at start-up");
        }
    }

    /// The most connections this pool opens.
    pub fn max_connections(&self) -> usize {
        self.pool.status().max_size
    }

    /// A connection from the pool, for the evaluator, operator tools and tests.
    pub async fn connection(&self) -> Result<Object, DbError> {
        self.pool.get().await.map_err(DbError::Pool)
    }

    /// Whether the database answers, within a request's bound.
    pub async fn ping(&self) -> Result<(), DbError> {
        let deadline = Instant::now() + self.request_timeout;
        let client = timeout_at(deadline, self.connection())
            .await
            .map_err(|_| DbError::TimedOut)??;
        match timeout_at(deadline, client.simple_query("SELECT 1")).await {
            Ok(answer) => answer.map(drop).map_err(DbError::Query),
            Err(_) => Err(abandon(client)),
        }
    }

    /// Runs `stmts` in one transaction opened by `opening`, sent as one pipeline, and returns the
    /// rows of each statement. A failed opening or statement rolls the whole transaction back.
    ///
    /// The whole of it (a connection from the pool, then the transaction) has one deadline,
    /// `DB_REQUEST_TIMEOUT_MS`: past it the answer is [`DbError::TimedOut`], and the connection, if
    /// one was waiting for an answer, leaves the pool instead of serving the next request.
    pub async fn run(
        &self,
        opening: &impl Opening,
        access: Access,
        stmts: &[Stmt<'_>],
    ) -> Result<Vec<Vec<Row>>, DbError> {
        let deadline = Instant::now() + self.request_timeout;
        let client = self.client_before(deadline).await?;
        let first = opening.statement(&self.statement_timeout);
        let first = first.as_stmt();
        let sent = self
            .send_before(deadline, &client, |prepared| {
                pipeline::send(&client, prepared, access, &first, stmts)
            })
            .await;
        sent.unwrap_or_else(|| Err(abandon(client)))
    }

    /// Runs one statement as a transaction of its own: no BEGIN or COMMIT, so PostgreSQL reads one
    /// message and answers once. For work whose SQL opens its own scope (takes its role, checks
    /// its credential: `max_log_activity`); the same deadline and recovery as [`Db::run`].
    pub async fn run_alone(&self, stmt: &Stmt<'_>) -> Result<Vec<Row>, DbError> {
        let deadline = Instant::now() + self.request_timeout;
        let client = self.client_before(deadline).await?;
        let sent = self
            .send_before(deadline, &client, |prepared| {
                pipeline::send_alone(&client, prepared, stmt)
            })
            .await;
        sent.unwrap_or_else(|| Err(abandon(client)))
    }

    /// How long one statement may run or wait, as PostgreSQL reads it (`"5000ms"`): what a
    /// statement that opens its own scope bounds its waits with.
    pub fn statement_timeout(&self) -> &str {
        &self.statement_timeout
    }

    async fn client_before(&self, deadline: Instant) -> Result<Object, DbError> {
        timeout_at(deadline, self.connection())
            .await
            .map_err(|_| DbError::TimedOut)?
    }

    /// Sends what `send` sends on `client`, prepared or not as this pool does, and once more
    /// prepared when the server forgot the prepared statements; `None` when `deadline` passed
    /// first (the connection is then still waiting for an answer: see [`abandon`]).
    async fn send_before<T, F>(
        &self,
        deadline: Instant,
        client: &Object,
        send: impl Fn(bool) -> F,
    ) -> Option<Result<T, DbError>>
    where
        F: Future<Output = Result<T, DbError>>,
    {
        let result = timeout_at(deadline, send(self.prepared)).await.ok()?;
        match result {
            // A prepared statement the server no longer has (DEALLOCATE, DISCARD ALL), or whose
            // result a migration changed: the transaction was rolled back; prepare again, once.
            Err(error) if self.prepared && error.invalidates_prepared_statements() => {
                tracing::warn!(%error, "prepared statements invalidated; preparing them again");
                client.statement_cache.clear();
                timeout_at(deadline, send(true)).await.ok()
            }
            result => Some(result),
        }
    }
}

/// Takes a connection that is still waiting for an answer out of the pool (it closes once the
/// server answers or TCP gives up), so that no later request is handed it.
pub fn abandon(client: Object) -> DbError {
    drop(Object::take(client));
    DbError::TimedOut
}
