//! The `crm-sync` Lambda function: builds the pool once, then syncs on every scheduled event.

use crm_sync::CrmSync;
use lambda_runtime::{Error, run, service_fn};
use shared::config::Config;
use shared::db::Db;

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Error> {
    lambda_runtime::tracing::init_default_subscriber();
    let mut config = Config::from_env()?;
    let secrets = shared::secrets::load(&config).await?;
    // One tenant at a time: one connection.
    config.pool.size = Some(1);
    let db = Db::connect_lazily(secrets.database, &config.pool, "crm-sync")?;
    let sync = CrmSync::from_env()?;
    let (db, sync) = (&db, &sync);
    run(service_fn(move |event| async move {
        crm_sync::handle(db, sync, event).await
    }))
    .await
}
