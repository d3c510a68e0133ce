//! `max-local`: the whole M.A.X. Living Alerts system on one machine.
//!
//! `serve` migrates the database, creates the demo tenant with a fresh key, and serves every route
//! through the very handlers the Lambda functions run, as API Gateway would call them.

mod gateway;

use std::net::SocketAddr;
use std::process::ExitCode;
use std::sync::Arc;

use clap::{Parser, Subcommand};
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper_util::rt::TokioIo;
use shared::App;
use std::time::Duration;

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use lambda_runtime::LambdaEvent;
use shared::admin::{self, AdminError, RuleChange};
use shared::auth::{
    ApiKey, EVENTS_FIXTURE_KEY, JwtVerifier, MIN_JWT_SECRET_BYTES, Scope, TenantId, UserClaims,
    sign_user_token,
};
use shared::db::{Db, DbConfig};
use shared::evaluator::Summary;
use tokio::net::TcpListener;

/// Used when `DATABASE_URL` is not set: the local PostgreSQL, database `max_local` (created if
/// missing).
const DEFAULT_DATABASE_URL: &str = "postgres://postgres@127.0.0.1:5432/max_local";
const DEMO_TENANT: &str = "macrea";
const DEMO_KEY_LABEL: &str = "max-local demo";
const DEMO_USER: &str = "demo";

/// The secret that signs and verifies dashboard tokens locally: `JWT_SECRET`, or a random one
/// kept in `~/.max-local/jwt-secret` (created on first use), so that `serve` and `create-token`
/// agree.
fn jwt_secret() -> Result<Vec<u8>, AdminError> {
    if let Ok(secret) = std::env::var("JWT_SECRET") {
        if secret.len() < MIN_JWT_SECRET_BYTES {
            return Err(AdminError::new(format!(
                "JWT_SECRET must be at least {MIN_JWT_SECRET_BYTES} bytes long"
            )));
        }
        return Ok(secret.into_bytes());
    }
    let home = std::env::var_os("HOME")
        .ok_or_else(|| AdminError::new("set JWT_SECRET (or HOME, to keep a local one)"))?;
    let dir = std::path::Path::new(&home).join(".max-local");
    let path = dir.join("jwt-secret");
    if let Ok(secret) = std::fs::read(&path)
        && secret.len() >= MIN_JWT_SECRET_BYTES
    {
        return Ok(secret);
    }
    let mut random = [0u8; 48];
    getrandom::fill(&mut random).map_err(|error| AdminError::new(error.to_string()))?;
    let secret = URL_SAFE_NO_PAD.encode(random).into_bytes();
    let write = || -> std::io::Result<()> {
        std::fs::create_dir_all(&dir)?;
        let mut options = std::fs::OpenOptions::new();
        options.write(true).create_new(true);
        #[cfg(unix)]
        std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
        std::io::Write::write_all(&mut options.open(&path)?, &secret)
    };
    match write() {
        Ok(()) => Ok(secret),
        // Created meanwhile by another max-local: use that one.
        Err(_) => std::fs::read(&path).map_err(|error| {
            AdminError::new(format!(
                "cannot keep the local JWT secret in {}: {error}",
                path.display()
            ))
        }),
    }
}

fn jwt_audience() -> Option<String> {
    std::env::var("JWT_AUDIENCE").ok()
}

/// A signed token for a user of a tenant, valid for `ttl_seconds`.
fn user_token(
    secret: &[u8],
    tenant: &str,
    user: &str,
    ttl_seconds: u64,
) -> Result<String, AdminError> {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_err(|error| AdminError::new(error.to_string()))?
        .as_secs();
    sign_user_token(
        secret,
        &UserClaims {
            sub: user.to_owned(),
            tenant: tenant.to_owned(),
            exp: now + ttl_seconds,
            iat: Some(now),
            scope: None,
            aud: jwt_audience(),
            iss: None,
        },
    )
    .map_err(|error| AdminError::new(format!("cannot sign the token: {error}")))
}

fn create_token(tenant: &str, user: &str, ttl: &str) -> Result<(), AdminError> {
    let tenant = tenant_arg(tenant)?;
    let user = user.trim();
    if user.is_empty() || user.len() > 200 {
        return Err(AdminError::new("the user must be 1 to 200 characters"));
    }
    let ttl_seconds = admin::parse_threshold(ttl)
        .filter(|seconds| *seconds > 0)
        .ok_or_else(|| {
            AdminError::new(format!(
                "invalid ttl {ttl:?}: use a number with m, h or d (12h)"
            ))
        })?;
    let token = user_token(&jwt_secret()?, tenant.as_str(), user, ttl_seconds as u64)?;
    println!(
        "Token for user {user} of tenant {tenant}, valid for {} (send it as Authorization: Bearer <token>):",
        admin::format_threshold(ttl_seconds)
    );
    println!("{token}");
    Ok(())
}

#[derive(Parser)]
#[command(
    name = "max-local",
    version,
    about = "Runs M.A.X. Living Alerts locally: the API on http://127.0.0.1:3005, and operator commands.",
    after_help = "The database is DATABASE_URL, or postgres://postgres@127.0.0.1:5432/max_local when it is not set."
)]
struct Cli {
    #[command(subcommand)]
    command: Option<Command>,
}

#[derive(Subcommand)]
enum Command {
    /// Migrate, create the demo tenant `macrea` with a fresh key, serve every route and run the
    /// alert evaluator every minute (the default).
    Serve {
        /// The port to listen on (0 picks a free one).
        #[arg(long, default_value_t = 3005)]
        port: u16,
        /// The Origin allowed to call the API from a browser (CORS).
        #[arg(long, default_value = "*")]
        cors_origin: String,
        /// Seconds between two passes of the alert evaluator (0: never).
        #[arg(long, default_value_t = 60)]
        evaluate_every: u64,
    },
    /// Run one pass of the alert evaluator over every tenant and print its summary.
    Evaluate,
    /// Show a tenant's alert rules, or change one (then show them).
    Rules {
        #[arg(long)]
        tenant: String,
        /// The rule to change: UnansweredInbound, DeliveryFailed, NoContact7d or NoReply3d.
        #[arg(long, required_if_eq_any([("enable", "true"), ("disable", "true"), ("reset", "true")]))]
        rule: Option<String>,
        #[arg(long, conflicts_with = "disable")]
        enable: bool,
        #[arg(long)]
        disable: bool,
        /// How long the situation must last: 0, or a number with m, h or d (90m, 4h, 7d).
        #[arg(long, requires = "rule")]
        threshold: Option<String>,
        /// high, medium or low.
        #[arg(long, requires = "rule")]
        severity: Option<String>,
        /// Back to the defaults (before any other change given).
        #[arg(long)]
        reset: bool,
    },
    /// Apply the migrations that have not run yet.
    Migrate,
    /// Create an API key for a tenant (creating the tenant if needed); the key is the last line.
    CreateKey {
        #[arg(long)]
        tenant: String,
        /// Comma-separated scopes: activities:write, alerts:read, alerts:resolve (default: all).
        #[arg(long, value_delimiter = ',')]
        scopes: Vec<String>,
        /// A note to tell keys apart in list-keys.
        #[arg(long)]
        label: Option<String>,
        /// Register the public key written in events/*.json instead (tenant macrea; local use only).
        #[arg(long, conflicts_with_all = ["scopes", "label"])]
        events_fixture: bool,
    },
    /// Print a signed token for a dashboard user of a tenant (the token is the last line).
    CreateToken {
        #[arg(long)]
        tenant: String,
        #[arg(long)]
        user: String,
        /// How long it is valid: a number with m, h or d (default 12h).
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

fn database_url() -> (String, bool) {
    match std::env::var("DATABASE_URL") {
        Ok(url) if !url.trim().is_empty() => (url, false),
        _ => (DEFAULT_DATABASE_URL.to_owned(), true),
    }
}

fn tenant_arg(tenant: &str) -> Result<TenantId, AdminError> {
    TenantId::parse(tenant).ok_or_else(|| {
        AdminError::new(format!(
            "invalid tenant {tenant:?}: use 1 to 63 lowercase letters, digits, '_' or '-'"
        ))
    })
}

fn scopes_arg(scopes: &[String]) -> Result<Vec<Scope>, AdminError> {
    if scopes.is_empty() {
        return Ok(Scope::ALL.to_vec());
    }
    scopes
        .iter()
        .map(|scope| {
            Scope::parse(scope.trim()).ok_or_else(|| {
                AdminError::new(format!(
                    "unknown scope {scope:?}: use activities:write, alerts:read or alerts:resolve"
                ))
            })
        })
        .collect()
}

#[tokio::main(flavor = "current_thread")]
async fn main() -> ExitCode {
    lambda_http::tracing::init_default_subscriber_with_writer(std::io::stderr);
    let cli = Cli::parse();
    let result = match cli.command.unwrap_or(Command::Serve {
        port: 3005,
        cors_origin: "*".into(),
        evaluate_every: 60,
    }) {
        Command::Serve {
            port,
            cors_origin,
            evaluate_every,
        } => serve(port, cors_origin, evaluate_every).await,
        Command::Evaluate => evaluate_once().await,
        Command::Rules {
            tenant,
            rule,
            enable,
            disable,
            threshold,
            severity,
            reset,
        } => match rule_change(enable, disable, threshold.as_deref(), severity) {
            Ok(change) => rules(&tenant, rule.as_deref(), &change, reset).await,
            Err(error) => Err(error),
        },
        Command::Migrate => migrate(true).await.map(|_| ()),
        Command::CreateKey {
            tenant,
            scopes,
            label,
            events_fixture,
        } => create_key(&tenant, &scopes, label.as_deref(), events_fixture).await,
        Command::CreateToken { tenant, user, ttl } => create_token(&tenant, &user, &ttl),
        Command::RevokeKey { key } => revoke_key(&key).await,
        Command::ListKeys { tenant } => list_keys(&tenant).await,
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("max-local: {error}");
            ExitCode::FAILURE
        }
    }
}

/// Creates the database if needed and migrates it; returns its URL.
async fn migrate(verbose: bool) -> Result<String, AdminError> {
    let (url, default) = database_url();
    let shown = shared::db::redact_url(&url);
    if default {
        println!("Database: {shown} (DATABASE_URL is not set: using the local default)");
    } else {
        println!("Database: {shown}");
    }
    if admin::ensure_database(&url).await? {
        println!(
            "Created database {}",
            admin::database_name(&url).unwrap_or_default()
        );
    }
    let applied = admin::migrate(&url).await?;
    if applied.is_empty() {
        if verbose {
            println!("Migrations: up to date");
        }
    } else {
        println!("Migrations applied: {}", applied.join(", "));
    }
    Ok(url)
}

async fn serve(port: u16, cors_origin: String, evaluate_every: u64) -> Result<(), AdminError> {
    let url = migrate(false).await?;
    let mut client = admin::connect(&url).await?;
    let tenant = tenant_arg(DEMO_TENANT)?;
    admin::ensure_tenant(&mut client, &tenant, "Macrea (demo)").await?;
    // A fresh demo key at each start; the previous one stops working.
    admin::revoke_labelled(&mut client, &tenant, DEMO_KEY_LABEL).await?;
    let (key, _) =
        admin::create_key(&mut client, &tenant, &Scope::ALL, Some(DEMO_KEY_LABEL)).await?;
    drop(client);

    // The functions' connection may go through a pooler (APP_DATABASE_URL); migrations and operator
    // commands need a direct one (DATABASE_URL).
    let app_url = std::env::var("APP_DATABASE_URL")
        .ok()
        .filter(|url| !url.trim().is_empty())
        .unwrap_or(url);
    let mut config = DbConfig::from_env(app_url, "max-local")
        .map_err(|error| AdminError::new(error.to_string()))?;
    if std::env::var_os("DB_POOL_SIZE").is_none() {
        config.pool_size = 16;
    }
    let db = Db::connect_lazily(&config).map_err(|error| AdminError::new(error.to_string()))?;
    db.warm_up().await;
    if evaluate_every > 0 {
        let db = db.clone();
        let settings = evaluator_settings()?;
        tokio::spawn(async move {
            let mut ticks = tokio::time::interval(Duration::from_secs(evaluate_every));
            ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            loop {
                ticks.tick().await;
                // Failures are logged by the handler; the next tick tries again.
                let _ = run_evaluator(&db, settings).await;
            }
        });
    }
    let secret = jwt_secret()?;
    let verifier = JwtVerifier::hs256(&secret, jwt_audience().as_deref(), None)
        .map_err(|error| AdminError::new(error.to_string()))?;
    let app = Arc::new(App::new(db, Some(verifier)));
    let cors_origin: Arc<str> = cors_origin.into();

    let listener = TcpListener::bind(SocketAddr::from(([127, 0, 0, 1], port)))
        .await
        .map_err(|error| AdminError::new(format!("cannot listen on 127.0.0.1:{port}: {error}")))?;
    let address = listener
        .local_addr()
        .map_err(|error| AdminError::new(error.to_string()))?;
    println!("Demo tenant: {DEMO_TENANT}");
    println!("API key (tenant {DEMO_TENANT}, all scopes; a new one at each start): {key}");
    if evaluate_every > 0 {
        println!("Alert evaluator: every {evaluate_every} s");
    }
    let demo_token = user_token(&secret, DEMO_TENANT, DEMO_USER, 12 * 3600)?;
    println!("Listening on http://{address}");
    println!(
        "Dashboard (signed in as {DEMO_USER} of tenant {DEMO_TENANT} for 12 h): http://{address}/dashboard#token={demo_token}"
    );
    println!("Try: curl -H 'Authorization: Bearer {key}' http://{address}/api/alerts/active");

    let shutdown = shutdown_signal();
    tokio::pin!(shutdown);
    loop {
        let (stream, peer) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(accepted) => accepted,
                Err(error) => {
                    tracing::warn!(%error, "accept failed");
                    continue;
                }
            },
            () = &mut shutdown => break,
        };
        let app = app.clone();
        let cors_origin = cors_origin.clone();
        tokio::spawn(async move {
            let service = service_fn(move |req| {
                let app = app.clone();
                let cors_origin = cors_origin.clone();
                async move {
                    Ok::<_, std::convert::Infallible>(
                        gateway::serve(&app, &cors_origin, peer, req).await,
                    )
                }
            });
            if let Err(error) = http1::Builder::new()
                .serve_connection(TokioIo::new(stream), service)
                .await
            {
                tracing::debug!(%error, "connection closed with an error");
            }
        });
    }
    println!("Stopped.");
    Ok(())
}

async fn shutdown_signal() {
    let ctrl_c = tokio::signal::ctrl_c();
    #[cfg(unix)]
    {
        let mut term =
            match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
                Ok(term) => term,
                Err(_) => {
                    let _ = ctrl_c.await;
                    return;
                }
            };
        tokio::select! {
            _ = ctrl_c => {},
            _ = term.recv() => {},
        }
    }
    #[cfg(not(unix))]
    let _ = ctrl_c.await;
}

/// `EVALUATOR_TIMEOUT_MS` and `EVALUATOR_WORKERS`, as the function reads them.
fn evaluator_settings() -> Result<alert_evaluator::Settings, AdminError> {
    alert_evaluator::Settings::from_env().map_err(|error| AdminError::new(error.to_string()))
}

/// One pass of the evaluator, through the Lambda function's own handler, as a schedule triggers it.
async fn run_evaluator(
    db: &Db,
    settings: alert_evaluator::Settings,
) -> Result<Summary, lambda_runtime::Error> {
    let event = serde_json::json!({
        "version": "0",
        "detail-type": "Scheduled Event",
        "source": "max-local",
        "time": shared::time::OffsetDateTime::now_utc()
            .format(&shared::time::format_description::well_known::Rfc3339)
            .unwrap_or_default(),
        "detail": {}
    });
    alert_evaluator::handle(
        db,
        settings,
        LambdaEvent::new(event, lambda_runtime::Context::default()),
    )
    .await
}

async fn evaluate_once() -> Result<(), AdminError> {
    let url = migrate(false).await?;
    let settings = evaluator_settings()?;
    let mut config =
        DbConfig::from_env(url, "max-local").map_err(|error| AdminError::new(error.to_string()))?;
    // One connection per worker, unless DB_POOL_SIZE says otherwise (it bounds the workers).
    if std::env::var_os("DB_POOL_SIZE").is_none() {
        config.pool_size = settings.workers;
    }
    let db = Db::connect_lazily(&config).map_err(|error| AdminError::new(error.to_string()))?;
    let summary = run_evaluator(&db, settings)
        .await
        .map_err(|error| AdminError::new(error.to_string()))?;
    let list = |map: &std::collections::BTreeMap<String, u64>| {
        if map.is_empty() {
            "none".to_owned()
        } else {
            map.iter()
                .map(|(rule, n)| format!("{rule} {n}"))
                .collect::<Vec<_>>()
                .join(", ")
        }
    };
    if summary.skipped {
        println!("Skipped: another pass is running.");
        return Ok(());
    }
    println!("Leads evaluated: {}", summary.leads_evaluated);
    println!("Raised:          {}", list(&summary.raised));
    println!("Auto-resolved:   {}", list(&summary.auto_resolved));
    println!("Escalated:       {}", list(&summary.escalated));
    println!("Reworded:        {}", list(&summary.refreshed));
    println!("Took:            {:.1} ms", summary.elapsed_ms);
    Ok(())
}

fn rule_change(
    enable: bool,
    disable: bool,
    threshold: Option<&str>,
    severity: Option<String>,
) -> Result<RuleChange, AdminError> {
    let threshold_seconds = threshold
        .map(|text| {
            admin::parse_threshold(text).ok_or_else(|| {
                AdminError::new(format!(
                    "invalid threshold {text:?}: use 0, or a number with m, h or d (90m, 4h, 7d)"
                ))
            })
        })
        .transpose()?;
    Ok(RuleChange {
        enabled: (enable || disable).then_some(enable),
        threshold_seconds,
        severity,
    })
}

async fn rules(
    tenant: &str,
    rule: Option<&str>,
    change: &RuleChange,
    reset: bool,
) -> Result<(), AdminError> {
    let url = migrate(false).await?;
    let tenant = tenant_arg(tenant)?;
    let mut client = admin::connect(&url).await?;
    if let Some(rule) = rule {
        admin::set_rule(&mut client, &tenant, rule, change, reset).await?;
        println!(
            "Updated {rule} for tenant {tenant}; the evaluator looks at its leads again at its next pass."
        );
    }
    println!("Alert rules of tenant {tenant} (* = set for this tenant):");
    for setting in admin::rules(&mut client, &tenant).await? {
        println!(
            "  {} {:<18} {:<4} after {:<4} {:<7} {}",
            if setting.overridden { '*' } else { ' ' },
            setting.rule,
            if setting.enabled { "on" } else { "off" },
            admin::format_threshold(setting.threshold_seconds),
            setting.severity,
            setting.description,
        );
    }
    Ok(())
}

async fn create_key(
    tenant: &str,
    scopes: &[String],
    label: Option<&str>,
    events_fixture: bool,
) -> Result<(), AdminError> {
    let url = migrate(false).await?;
    let mut client = admin::connect(&url).await?;
    if events_fixture {
        let key = ApiKey::parse(EVENTS_FIXTURE_KEY).expect("the events key parses");
        if key.tenant().as_str() != tenant {
            return Err(AdminError::new(format!(
                "the events fixture key belongs to tenant {}",
                key.tenant()
            )));
        }
        admin::ensure_tenant(&mut client, key.tenant(), key.tenant().as_str()).await?;
        let scopes: Vec<&str> = Scope::ALL.iter().map(|s| s.as_str()).collect();
        match admin::register_key(&mut client, &key, &scopes, Some("events fixture")).await {
            Ok(_) => {
                println!("Registered the events fixture key for tenant {tenant} (local use only).")
            }
            Err(error) if error.to_string().contains("23505") => {
                println!("The events fixture key is already registered.");
            }
            Err(error) => return Err(error),
        }
        println!("{EVENTS_FIXTURE_KEY}");
        return Ok(());
    }
    let tenant = tenant_arg(tenant)?;
    let scopes = scopes_arg(scopes)?;
    let (key, info) = admin::create_key(&mut client, &tenant, &scopes, label).await?;
    println!(
        "Created key {} for tenant {} with scopes {} (shown once; store it now):",
        info.prefix,
        info.tenant,
        info.scopes.join(",")
    );
    println!("{key}");
    Ok(())
}

async fn revoke_key(key: &str) -> Result<(), AdminError> {
    let url = migrate(false).await?;
    let mut client = admin::connect(&url).await?;
    let revoked = admin::revoke_key(&mut client, key).await?;
    if revoked.is_empty() {
        return Err(AdminError::new(
            "no active key matches (unknown, already revoked, or an ambiguous prefix)",
        ));
    }
    for info in revoked {
        println!("Revoked key {} of tenant {}", info.prefix, info.tenant);
    }
    Ok(())
}

async fn list_keys(tenant: &str) -> Result<(), AdminError> {
    let url = migrate(false).await?;
    let tenant = tenant_arg(tenant)?;
    let mut client = admin::connect(&url).await?;
    let keys = admin::list_keys(&mut client, &tenant).await?;
    if keys.is_empty() {
        println!("Tenant {tenant} has no keys.");
    }
    for key in keys {
        println!(
            "{}  {}  created {}  {}{}",
            key.prefix,
            key.scopes.join(","),
            key.created_at.date(),
            key.revoked_at
                .map_or("active".to_owned(), |at| format!("revoked {}", at.date())),
            key.label
                .map(|label| format!("  ({label})"))
                .unwrap_or_default(),
        );
    }
    Ok(())
}
