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
use shared::admin::{self, AdminError};
use shared::auth::{ApiKey, EVENTS_FIXTURE_KEY, Scope, TenantId};
use shared::db::{Db, DbConfig};
use tokio::net::TcpListener;

/// Used when `DATABASE_URL` is not set: the local PostgreSQL, database `max_local` (created if
/// missing).
const DEFAULT_DATABASE_URL: &str = "postgres://postgres@127.0.0.1:5432/max_local";
const DEMO_TENANT: &str = "macrea";
const DEMO_KEY_LABEL: &str = "max-local demo";

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
    /// Migrate, create the demo tenant `macrea` with a fresh key, and serve every route (the default).
    Serve {
        /// The port to listen on (0 picks a free one).
        #[arg(long, default_value_t = 3005)]
        port: u16,
        /// The Origin allowed to call the API from a browser (CORS).
        #[arg(long, default_value = "*")]
        cors_origin: String,
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

#[tokio::main]
async fn main() -> ExitCode {
    lambda_http::tracing::init_default_subscriber_with_writer(std::io::stderr);
    let cli = Cli::parse();
    let result = match cli.command.unwrap_or(Command::Serve {
        port: 3005,
        cors_origin: "*".into(),
    }) {
        Command::Serve { port, cors_origin } => serve(port, cors_origin).await,
        Command::Migrate => migrate(true).await.map(|_| ()),
        Command::CreateKey {
            tenant,
            scopes,
            label,
            events_fixture,
        } => create_key(&tenant, &scopes, label.as_deref(), events_fixture).await,
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

async fn serve(port: u16, cors_origin: String) -> Result<(), AdminError> {
    let url = migrate(false).await?;
    let mut client = admin::connect(&url).await?;
    let tenant = tenant_arg(DEMO_TENANT)?;
    admin::ensure_tenant(&mut client, &tenant, "Macrea (demo)").await?;
    // A fresh demo key at each start; the previous one stops working.
    admin::revoke_labelled(&mut client, &tenant, DEMO_KEY_LABEL).await?;
    let (key, _) =
        admin::create_key(&mut client, &tenant, &Scope::ALL, Some(DEMO_KEY_LABEL)).await?;
    drop(client);

    let mut config = DbConfig::new(url, "max-local");
    config.pool_size = std::env::var("DB_POOL_SIZE")
        .ok()
        .and_then(|size| size.parse().ok())
        .unwrap_or(16);
    let db = Db::connect_lazily(&config).map_err(|error| AdminError::new(error.to_string()))?;
    db.warm_up().await;
    let app = Arc::new(App::new(db));
    let cors_origin: Arc<str> = cors_origin.into();

    let listener = TcpListener::bind(SocketAddr::from(([127, 0, 0, 1], port)))
        .await
        .map_err(|error| AdminError::new(format!("cannot listen on 127.0.0.1:{port}: {error}")))?;
    let address = listener
        .local_addr()
        .map_err(|error| AdminError::new(error.to_string()))?;
    println!("Demo tenant: {DEMO_TENANT}");
    println!("API key (tenant {DEMO_TENANT}, all scopes; a new one at each start): {key}");
    println!("Listening on http://{address}");
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
