//! The `alert-metrics` Lambda function: builds the pool once, then serves every invocation.

use lambda_http::{Error, run, service_fn};

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Error> {
    lambda_http::tracing::init_default_subscriber();
    let app = shared::http::App::load("alert-metrics").await?;
    app.db.warm_up().await;
    let app = &app;
    run(service_fn(move |req| async move {
        Ok::<_, Error>(alert_metrics::handle(app, req).await)
    }))
    .await
}
