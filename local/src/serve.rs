//! `serve`: the whole system on one machine. Migrates, creates the demo tenant with a fresh key
//! (unless `--no-demo`), runs the evaluator on a timer and serves every route through the gateway,
//! until SIGTERM or Ctrl-C (then requests in flight finish, and the process exits 0).

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use shared::admin;
use shared::config::Config;
use shared::db::Db;
use shared::evaluator::Evaluator;
use shared::http::App;
use shared::tenancy::{JwtVerifier, Scope};
use tokio::net::TcpListener;

use crate::cli::ServeOptions;
use crate::commands::{self, Error, tenant_arg, tokens};
use crate::{gateway, server};

const DEMO_TENANT: &str = "macrea";
const DEMO_KEY_LABEL: &str = "max-local demo";
const DEMO_USER: &str = "demo";
/// Connections `serve` keeps unless `DB_POOL_SIZE` says otherwise.
const POOL_SIZE: usize = 16;

pub async fn serve(options: ServeOptions, config: Config) -> Result<(), Error> {
    let url = commands::migrate(&config, false).await?;
    let key = if options.no_demo {
        None
    } else {
        Some(demo_key(&url).await?)
    };

    // The functions' connection may go through a pooler (APP_DATABASE_URL); migrations and operator
    // commands need a direct one (DATABASE_URL).
    let app_url = config
        .app_database_url
        .as_ref()
        .map_or(url.as_str(), |url| url.expose());
    let mut pool = config.pool.clone();
    pool.size = pool.size.or(Some(POOL_SIZE));
    let db = Db::connect_lazily(admin::parse_url(app_url)?, &pool, "max-local")
        .map_err(|error| Error::new(error.to_string()))?;
    db.warm_up().await;
    if options.evaluate_every > 0 {
        tokio::spawn(evaluate_every(
            db.clone(),
            config.evaluator,
            Duration::from_secs(options.evaluate_every),
        ));
    }
    let secret = tokens::secret(&config)?;
    let verifier = JwtVerifier::from_settings(&config.tokens, Some(&secret))
        .await
        .map_err(|error| Error::new(error.to_string()))?;
    let app = Arc::new(App::new(db, verifier));

    let bind = SocketAddr::new(options.bind, options.port);
    let listener = TcpListener::bind(bind)
        .await
        .map_err(|error| Error::new(format!("cannot listen on {bind}: {error}")))?;
    let address = listener
        .local_addr()
        .map_err(|error| Error::new(error.to_string()))?;
    if let Some(key) = &key {
        println!("Demo tenant: {DEMO_TENANT}");
        println!("API key (tenant {DEMO_TENANT}, all scopes; a new one at each start): {key}");
    }
    if options.evaluate_every > 0 {
        println!("Alert evaluator: every {} s", options.evaluate_every);
    }
    let demo = match &key {
        Some(key) => {
            let token = tokens::user_token(
                &secret,
                &config,
                DEMO_TENANT,
                DEMO_USER,
                Duration::from_secs(12 * 3600),
            )?;
            Some((key, token))
        }
        None => None,
    };
    println!("Listening on http://{address}");
    if let Some((key, token)) = demo {
        println!(
            "Dashboard (signed in as {DEMO_USER} of tenant {DEMO_TENANT} for 12 h): http://{address}/dashboard#token={token}"
        );
        println!("Try: curl -H 'Authorization: Bearer {key}' http://{address}/api/alerts/active");
    }

    let limits = &options.limits;
    let service = gateway::service(
        app,
        &options.cors_origin,
        Duration::from_millis(limits.body_timeout_ms),
    );
    let limits = server::Limits {
        header_timeout: Duration::from_millis(limits.header_timeout_ms),
        max_connections: usize::try_from(limits.max_connections).unwrap_or(usize::MAX),
        shutdown_timeout: Duration::from_millis(limits.shutdown_timeout_ms),
    };
    server::run(listener, service, limits, shutdown_signal()).await;
    println!("Stopped.");
    Ok(())
}

/// The demo tenant's key: a fresh one at each start; the previous one stops working.
async fn demo_key(url: &str) -> Result<String, Error> {
    let mut client = admin::connect(url).await?;
    let tenant = tenant_arg(DEMO_TENANT)?;
    admin::ensure_tenant(&mut client, &tenant, "Macrea (demo)").await?;
    admin::revoke_labelled(&mut client, &tenant, DEMO_KEY_LABEL).await?;
    let (key, _) =
        admin::create_key(&mut client, &tenant, &Scope::ALL, Some(DEMO_KEY_LABEL)).await?;
    Ok(key)
}

/// A pass of the evaluator every `period`, as the cloud's schedule runs it.
async fn evaluate_every(db: Db, settings: shared::config::EvaluatorSettings, period: Duration) {
    let evaluator = Evaluator::default();
    let mut ticks = tokio::time::interval(period);
    ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        ticks.tick().await;
        // Failures are logged by the handler; the next tick tries again.
        let _ = commands::evaluate::run(&db, &evaluator, &settings).await;
    }
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
