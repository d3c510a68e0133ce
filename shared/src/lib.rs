//! What the M.A.X. Living Alerts functions share, in layers whose arrows only point down:
//!
//! - `http`: reads requests into domain values, finds the caller, renders JSON, maps every
//!   failure to a status in one place. The functions' handlers and `max-local` sit on it.
//! - the domain: `activities`, `alerts`, `rules` (each rule in one home), the `evaluator` and
//!   `whatsapp` (Green-API's conversations), `metrics` (what became of the alerts, per day), with
//!   their SQL; `leads` and `parse` for the values they share. It knows nothing of HTTP or
//!   Lambda and returns domain errors.
//! - `tenancy`: who acts for which tenant (keys, users' tokens), and how a transaction gets its
//!   tenant.
//! - `db`: the pool and pipelined transactions; `config` and `secrets`: what a process reads at
//!   cold start.
//!
//! `admin` (operator work: migrations, tenants and keys, rule settings) and `testing` are behind
//! features. docs/architecture.md draws the layers and follows one request through them.

pub mod activities;
pub mod alerts;
pub mod config;
#[cfg(feature = "crm")]
pub mod crm;
pub mod db;
pub mod evaluator;
pub mod http;
pub mod leads;
pub mod metrics;
pub mod parse;
pub mod rules;
pub mod secrets;
pub mod tenancy;
pub mod whatsapp;

#[cfg(feature = "migrations")]
pub mod admin;
#[cfg(feature = "test-support")]
pub mod testing;

pub use time;
pub use uuid;
