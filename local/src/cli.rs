//! The command line: what `max-local` accepts, as clap reads it.

use std::net::IpAddr;

use clap::{Args, Parser, Subcommand};

#[derive(Parser)]
#[command(
    name = "max-local",
    version,
    about = "Runs M.A.X. Living Alerts locally: the API on http://127.0.0.1:3005, and operator commands.",
    after_help = "The database is DATABASE_URL; when it is not set, postgres://postgres@127.0.0.1:5432/max_local \
                  (PGHOST, PGPORT, PGUSER change it) if that answers, or else a PostgreSQL cluster of \
                  max-local's own in the user's data folder, made the first time."
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
    /// WhatsApp through Green-API: webhook tokens, leads' numbers, unmatched messages.
    #[command(subcommand)]
    Whatsapp(WhatsappCommand),
    /// The lead directory's sync from a tenant's EspoCRM.
    #[command(subcommand)]
    Crm(CrmCommand),
    /// Print the alerts' figures of a tenant for a period of its days: raised, resolved, time to
    /// resolution, share within 24 hours, widget adoption; per day, rule and severity.
    Report {
        #[arg(long)]
        tenant: String,
        /// The first day (YYYY-MM-DD); default: 29 days before --to.
        #[arg(long)]
        from: Option<String>,
        /// The last day, included (YYYY-MM-DD); default: the tenant's today.
        #[arg(long)]
        to: Option<String>,
        /// Print the figures as JSON (as GET /api/alerts/metrics answers them).
        #[arg(long)]
        json: bool,
    },
    /// Show the time zone of a tenant's days (metrics, reports), or set it.
    TimeZone {
        #[arg(long)]
        tenant: String,
        /// An IANA time zone, such as Europe/Paris or America/Montreal.
        zone: Option<String>,
    },
    /// Show what the lead directory knows of a lead (as JSON).
    Lead {
        #[arg(long)]
        tenant: String,
        /// The lead's id.
        id: String,
    },
}

#[derive(Subcommand)]
pub enum CrmCommand {
    /// Sync a tenant's leads from its EspoCRM now and print the report. The connection comes
    /// from CRM_SECRETS_FILE, or ESPO_URL and ESPO_API_KEY (docs/leads.md).
    Sync {
        #[arg(long)]
        tenant: String,
        /// Read every lead and find the ones deleted in the CRM (default: once a day, else only
        /// the leads modified since the last sync).
        #[arg(long)]
        full: bool,
    },
    /// Show where a tenant's sync stands and how its last run went.
    Status {
        #[arg(long)]
        tenant: String,
    },
}

#[derive(Subcommand)]
pub enum WhatsappCommand {
    /// Create the webhook token of a tenant's Green-API instance (the token is the last line).
    CreateToken {
        #[arg(long)]
        tenant: String,
        /// The instance's idInstance.
        #[arg(long, required_unless_present = "events_fixture")]
        instance: Option<i64>,
        /// Register the public token written in events/greenapi-*.json instead (tenant macrea;
        /// local use only).
        #[arg(long, conflicts_with = "instance")]
        events_fixture: bool,
    },
    /// Replace the instance's token by a new one (the old one stops working at once; the new
    /// one is the last line).
    RotateToken {
        #[arg(long)]
        tenant: String,
        #[arg(long)]
        instance: i64,
    },
    /// Revoke the tenant's webhook token (of one instance, or all).
    RevokeToken {
        #[arg(long)]
        tenant: String,
        #[arg(long)]
        instance: Option<i64>,
    },
    /// List a tenant's webhook tokens (prefix, instance, dates; never the tokens).
    ListTokens {
        #[arg(long)]
        tenant: String,
    },
    /// Map a phone number to a lead; the number's unmatched messages join the lead.
    MapPhone {
        #[arg(long)]
        tenant: String,
        /// With its country code, in any common notation: +33 6 12 34 56 78.
        #[arg(long)]
        phone: String,
        #[arg(long)]
        lead: String,
        /// The lead's name (else the name WhatsApp shows).
        #[arg(long)]
        name: Option<String>,
    },
    /// List the numbers whose messages wait for a lead.
    Unmatched {
        #[arg(long)]
        tenant: String,
    },
}

impl Default for Command {
    /// `serve` with its defaults, and the `SERVE_*` environment variables applied.
    fn default() -> Self {
        match Cli::parse_from(["max-local", "serve"]).command {
            Some(command) => command,
            None => unreachable!("clap parsed the serve command"),
        }
    }
}

/// `serve`'s options. Each may also be set by the environment variable named in `--help` (a
/// command-line option wins), so that a process manager's environment file configures a server.
#[derive(Args)]
pub struct ServeOptions {
    /// The address to listen on: 127.0.0.1 behind a reverse proxy on the same machine.
    #[arg(long, env = "SERVE_BIND", default_value = "127.0.0.1")]
    pub bind: IpAddr,
    /// The port to listen on (0 picks a free one).
    #[arg(long, env = "SERVE_PORT", default_value_t = 3005)]
    pub port: u16,
    /// The Origin allowed to call the API from a browser (CORS).
    #[arg(long, env = "SERVE_CORS_ORIGIN", default_value = "*")]
    pub cors_origin: String,
    /// Seconds between two passes of the alert evaluator (0: never).
    #[arg(long, env = "SERVE_EVALUATE_EVERY", default_value_t = 60)]
    pub evaluate_every: u64,
    /// Neither create nor print the demo tenant's key and dashboard token (a server whose
    /// output goes to a journal others read).
    #[arg(long, env = "SERVE_NO_DEMO", value_parser = clap::builder::BoolishValueParser::new())]
    pub no_demo: bool,
    #[command(flatten)]
    pub limits: Limits,
}

/// How long the server waits on a client, and how many it serves at once.
#[derive(Args, Clone, Copy, Debug)]
pub struct Limits {
    /// Milliseconds a client may take to send a request's head, counted from when it connects or
    /// from its previous answer: so also how long an idle keep-alive connection stays open.
    #[arg(long, env = "SERVE_HEADER_TIMEOUT_MS", default_value_t = 10_000, value_parser = clap::value_parser!(u64).range(1..))]
    pub header_timeout_ms: u64,
    /// Milliseconds a client may take to send a request's body; past it, a 408 and the connection
    /// is closed.
    #[arg(long, env = "SERVE_BODY_TIMEOUT_MS", default_value_t = 10_000, value_parser = clap::value_parser!(u64).range(1..))]
    pub body_timeout_ms: u64,
    /// Connections open at once; more wait in the kernel's queue until one closes.
    #[arg(long, env = "SERVE_MAX_CONNECTIONS", default_value_t = 512, value_parser = clap::value_parser!(u64).range(1..=65_536))]
    pub max_connections: u64,
    /// Milliseconds that requests in flight may take to finish after SIGTERM or Ctrl-C.
    #[arg(long, env = "SERVE_SHUTDOWN_TIMEOUT_MS", default_value_t = 10_000)]
    pub shutdown_timeout_ms: u64,
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
    /// Comma-separated scopes: activities:write, alerts:read, alerts:resolve, leads:write (default:
    /// all).
    #[arg(long, value_delimiter = ',')]
    pub scopes: Vec<String>,
    /// A note to tell keys apart in list-keys.
    #[arg(long)]
    pub label: Option<String>,
    /// Register the public key written in events/*.json instead (tenant macrea; local use only).
    #[arg(long, conflicts_with_all = ["scopes", "label"])]
    pub events_fixture: bool,
}
