//! The `alert-evaluator` Lambda function: builds the pool once, then runs a pass per event.

use lambda_runtime::{Error, run, service_fn};
use shared::db::{Db, DbConfig};

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Error> {
    lambda_runtime::tracing::init_default_subscriber();
    let secrets = shared::secrets::load().await?;
    let mut config = DbConfig::from_env(secrets.database_url, "alert-evaluator")?;
    let settings = alert_evaluator::Settings::from_env()?;
    // One connection per worker of a pass.
    config.pool_size = settings.workers;
    let db = Db::connect_lazily(&config)?;
    db.warm_up().await;
    let db = &db;
    run(service_fn(move |event| async move {
        alert_evaluator::handle(db, settings, event).await
    }))
    .await
}
