//! The `alert-evaluator` Lambda function: builds the pool and the evaluation statement once, then
//! runs a pass per event.

use lambda_runtime::{Error, run, service_fn};
use shared::config::Config;
use shared::db::Db;
use shared::evaluator::Evaluator;

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Error> {
    lambda_runtime::tracing::init_default_subscriber();
    let mut config = Config::from_env()?;
    let secrets = shared::secrets::load(&config).await?;
    // One connection per worker of a pass.
    config.pool.size = Some(config.evaluator.workers);
    let db = Db::connect_lazily(secrets.database, &config.pool, "alert-evaluator")?;
    db.warm_up().await;
    let (db, evaluator, settings) = (&db, &Evaluator::default(), &config.evaluator);
    run(service_fn(move |event| async move {
        alert_evaluator::handle(db, evaluator, settings, event).await
    }))
    .await
}
