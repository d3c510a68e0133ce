//! A database failure, and what kind it is. Mapping it to an HTTP status is the HTTP layer's work
//! (`crate::http::error`).

use std::fmt;

use deadpool_postgres::PoolError;

/// A database failure, with its cause (for logs only).
#[derive(Debug)]
pub enum DbError {
    Pool(PoolError),
    Query(tokio_postgres::Error),
    /// The database answered something this code cannot make sense of: a defect.
    Unexpected(&'static str),
    /// No answer within the bound a request or a batch may wait.
    TimedOut,
}

impl DbError {
    /// The SQLSTATE of a database error, if the server sent one.
    pub fn sqlstate(&self) -> Option<&str> {
        match self {
            DbError::Query(error) | DbError::Pool(PoolError::Backend(error)) => {
                error.as_db_error().map(|db| db.code().code())
            }
            _ => None,
        }
    }

    /// Whether the failure is a prepared statement gone from the server (26000) or one whose
    /// plan can no longer return what it was prepared for (0A000, after a migration).
    pub(super) fn invalidates_prepared_statements(&self) -> bool {
        matches!(self.sqlstate(), Some("26000" | "0A000"))
    }

    /// Whether the failure is the database being unreachable, overloaded or too slow, rather than
    /// a defect: the client may retry shortly.
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
            DbError::Pool(_) | DbError::TimedOut => true,
            DbError::Unexpected(_) => false,
        }
    }
}

impl From<tokio_postgres::Error> for DbError {
    /// A statement failed, or its rows did not map to what the code expects.
    fn from(error: tokio_postgres::Error) -> Self {
        DbError::Query(error)
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
            DbError::Unexpected(what) => return write!(f, "unexpected answer: {what}"),
            DbError::TimedOut => return f.write_str("no answer from the database in time"),
        };
        match error.as_db_error() {
            Some(db) => write!(f, "database error {}: {}", db.code().code(), db.message()),
            None => write!(f, "database connection error: {error}"),
        }
    }
}

impl std::error::Error for DbError {}
