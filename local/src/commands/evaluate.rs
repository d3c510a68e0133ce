//! `evaluate`: one pass of the alert evaluator, through the Lambda function's own handler.

use std::collections::BTreeMap;

use lambda_runtime::LambdaEvent;
use shared::admin;
use shared::config::{Config, EvaluatorSettings};
use shared::db::Db;
use shared::evaluator::{Evaluator, Summary};
use shared::time::OffsetDateTime;
use shared::time::format_description::well_known::Rfc3339;

use super::{Error, migrate};

/// One pass, as a schedule triggers it: an EventBridge event handed to the function's handler.
pub async fn run(
    db: &Db,
    evaluator: &Evaluator,
    settings: &EvaluatorSettings,
) -> Result<Summary, lambda_runtime::Error> {
    let event = serde_json::json!({
        "version": "0",
        "detail-type": "Scheduled Event",
        "source": "max-local",
        "time": OffsetDateTime::now_utc().format(&Rfc3339).unwrap_or_default(),
        "detail": {}
    });
    alert_evaluator::handle(
        db,
        evaluator,
        settings,
        LambdaEvent::new(event, lambda_runtime::Context::default()),
    )
    .await
}

pub async fn once(config: Config) -> Result<(), Error> {
    let url = migrate(&config, false).await?;
    let mut pool = config.pool.clone();
    // One connection per worker, unless DB_POOL_SIZE says otherwise (it bounds the workers).
    pool.size = pool.size.or(Some(config.evaluator.workers));
    let db = Db::connect_lazily(admin::parse_url(&url)?, &pool, "max-local")
        .map_err(|error| Error::new(error.to_string()))?;
    let summary = run(&db, &Evaluator::default(), &config.evaluator)
        .await
        .map_err(|error| Error::new(error.to_string()))?;
    let list = |map: &BTreeMap<String, u64>| {
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
    println!("Woken:           {}", list(&summary.woken));
    println!("Took:            {:.1} ms", summary.elapsed_ms);
    Ok(())
}
