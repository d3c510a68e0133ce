//! The command line: what `max-local` accepts, as clap reads it.

use clap::{Args, Parser, Subcommand};

#[derive(Parser)]
#[command(
    name = "max-local",
    version,
    about = "Runs M.A.X. Living Alerts locally: the API on http://127.0.0.1:3005, and operator commands.",
    after_help = "The database is DATABASE_URL, or postgres://postgres@127.0.0.1:5432/max_local when it is not set."
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Option<Command>,
}

#[derive(Subcommand)]
pub enum Command {
    /// Migrate, create the demo tenant `macrea` with a fresh key, serve every route and run the
    /// alert evaluator every minute (the default).
    Serve(ServeOptions),
    /// Run one pass of the alert evaluator over every tenant and print its summary.
    Evaluate,
    /// Show a tenant's alert rules, or change one (then show them).
    Rules(RulesOptions),
    /// Apply the migrations that have not run yet, and install the rules if they changed.
    Migrate,
    /// Create an API key for a tenant (creating the tenant if needed); the key is the last line.
    CreateKey(CreateKeyOptions),
    /// Print a signed token for a dashboard user of a tenant (the token is the last line).
    CreateToken {
        #[arg(long)]
        tenant: String,
        #[arg(long)]
        user: String,
        /// How long it is valid: 12h, 30m, 7d, 1h30m (default 12h).
        #[arg(long, default_value = "12h")]
        ttl: String,
    },
    /// Revoke a key, given whole or by the prefix list-keys shows.
    RevokeKey {
        /// The key, or its prefix (mxk_<tenant>_xxxxx).
        key: String,
    },
    /// List a tenant's keys (prefix, scopes, dates; never the keys).
    ListKeys {
        #[arg(long)]
        tenant: String,
    },
}

impl Default for Command {
    fn default() -> Self {
        Command::Serve(ServeOptions {
            port: 3005,
            cors_origin: "*".into(),
            evaluate_every: 60,
        })
    }
}

#[derive(Args)]
pub struct ServeOptions {
    /// The port to listen on (0 picks a free one).
    #[arg(long, default_value_t = 3005)]
    pub port: u16,
    /// The Origin allowed to call the API from a browser (CORS).
    #[arg(long, default_value = "*")]
    pub cors_origin: String,
    /// Seconds between two passes of the alert evaluator (0: never).
    #[arg(long, default_value_t = 60)]
    pub evaluate_every: u64,
}

#[derive(Args)]
pub struct RulesOptions {
    #[arg(long)]
    pub tenant: String,
    /// The rule to change (see the list this command prints).
    #[arg(long, required_if_eq_any([("enable", "true"), ("disable", "true"), ("reset", "true")]))]
    pub rule: Option<String>,
    #[arg(long, conflicts_with = "disable")]
    pub enable: bool,
    #[arg(long)]
    pub disable: bool,
    /// How long the situation must last: 0, or a duration such as 90m, 4h, 7d.
    #[arg(long, requires = "rule")]
    pub threshold: Option<String>,
    /// high, medium or low.
    #[arg(long, requires = "rule")]
    pub severity: Option<String>,
    /// Back to the defaults (before any other change given).
    #[arg(long)]
    pub reset: bool,
}

#[derive(Args)]
pub struct CreateKeyOptions {
    #[arg(long)]
    pub tenant: String,
    /// Comma-separated scopes: activities:write, alerts:read, alerts:resolve (default: all).
    #[arg(long, value_delimiter = ',')]
    pub scopes: Vec<String>,
    /// A note to tell keys apart in list-keys.
    #[arg(long)]
    pub label: Option<String>,
    /// Register the public key written in events/*.json instead (tenant macrea; local use only).
    #[arg(long, conflicts_with_all = ["scopes", "label"])]
    pub events_fixture: bool,
}
