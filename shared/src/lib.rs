//! What the M.A.X. Living Alerts functions share: configuration, the database pool and tenant
//! scoping, authentication, errors and HTTP helpers, the domain types and their SQL.
//!
//! Handlers in `functions/*` parse a request, call one function here and build the response.

pub mod activity;
pub mod alerts;
pub mod app;
pub mod auth;
pub mod db;
pub mod error;
pub mod evaluator;
pub mod health;
pub mod http;
pub mod routes;
pub mod secrets;
pub mod validate;

#[cfg(feature = "migrations")]
pub mod admin;
#[cfg(feature = "test-support")]
pub mod testing;

pub use app::App;
pub use error::ApiError;
pub use time;
pub use uuid;
