//! A transaction sent as one pipeline: `BEGIN`, the opening statement, the work and `COMMIT`
//! leave together, so a request costs one round trip.

use std::pin::Pin;

use deadpool_postgres::Object;
use futures_util::future::{join_all, try_join_all};
use tokio_postgres::types::{ToSql, Type};
use tokio_postgres::{Row, Statement};

use super::DbError;

/// One statement of a pipelined transaction: SQL text and typed parameters.
pub struct Stmt<'a> {
    pub sql: &'a str,
    pub params: &'a [(&'a (dyn ToSql + Sync), Type)],
}

impl Stmt<'_> {
    /// The statement prepared on `client`, once per connection (its cache keeps it).
    async fn prepare(&self, client: &Object) -> Result<Statement, tokio_postgres::Error> {
        let types: Vec<Type> = self.params.iter().map(|(_, ty)| ty.clone()).collect();
        client.prepare_typed_cached(self.sql, &types).await
    }

    /// The parameters' values, to bind to the prepared statement.
    fn values(&self) -> Vec<&(dyn ToSql + Sync)> {
        self.params.iter().map(|(value, _)| *value).collect()
    }
}

/// What a transaction starts with: a statement that sets its role, its settings and what it may
/// see (`crate::tenancy::TenantScope` opens one for a tenant).
pub trait Opening {
    /// The first statement of a transaction whose statements may each run for
    /// `statement_timeout` (text such as `"5000ms"`, to bind as a parameter).
    fn statement<'a>(&'a self, statement_timeout: &'a (dyn ToSql + Sync)) -> OpeningStmt<'a>;
}

/// The first statement of a transaction, with the parameters it owns.
pub struct OpeningStmt<'a> {
    pub sql: &'static str,
    pub params: Vec<(&'a (dyn ToSql + Sync), Type)>,
}

impl OpeningStmt<'_> {
    pub(super) fn as_stmt(&self) -> Stmt<'_> {
        Stmt {
            sql: self.sql,
            params: &self.params,
        }
    }
}

/// How a transaction reads and writes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Access {
    ReadWrite,
    /// Every statement sees the same snapshot, and nothing may be written.
    ReadOnlySnapshot,
}

type BoxedQuery<'a> =
    Pin<Box<dyn Future<Output = Result<Vec<Row>, tokio_postgres::Error>> + Send + 'a>>;

/// Sends BEGIN, `first`, `stmts` and COMMIT without waiting in between, and returns the rows of
/// each of `stmts`.
///
/// Each query future sends its messages the first time it is polled, and `join_all` polls them
/// in order, so the server receives them in order and in one flush. All are sent before any
/// completes, so a cancelled request never leaves a transaction open: the server finishes it, and
/// COMMIT after a failure is a ROLLBACK. With `prepared`, the statements this connection has not
/// prepared yet are prepared first (together, in one round trip), and the pipeline only binds
/// and executes them.
pub(super) async fn send(
    client: &Object,
    prepared: bool,
    access: Access,
    first: &Stmt<'_>,
    stmts: &[Stmt<'_>],
) -> Result<Vec<Vec<Row>>, DbError> {
    let begin = match access {
        Access::ReadWrite => "BEGIN",
        Access::ReadOnlySnapshot => "BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY",
    };
    let all: Vec<&Stmt<'_>> = std::iter::once(first).chain(stmts).collect();

    let statements = if prepared {
        try_join_all(all.iter().map(|stmt| stmt.prepare(client)))
            .await
            .map_err(DbError::Query)?
    } else {
        Vec::new()
    };
    let values: Vec<Vec<&(dyn ToSql + Sync)>> = all.iter().map(|stmt| stmt.values()).collect();

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

/// Sends one statement on its own (an implicit transaction: no BEGIN, no COMMIT) and returns its
/// rows; with `prepared`, prepared once per connection first.
pub(super) async fn send_alone(
    client: &Object,
    prepared: bool,
    stmt: &Stmt<'_>,
) -> Result<Vec<Row>, DbError> {
    let rows = if prepared {
        let statement = stmt.prepare(client).await.map_err(DbError::Query)?;
        client.query(&statement, &stmt.values()).await
    } else {
        client.query_typed(stmt.sql, stmt.params).await
    };
    rows.map_err(DbError::Query)
}
