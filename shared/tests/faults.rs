//! A database that stops answering (connections open, nothing said: a failover, a partition, a
//! frozen server): every wait has a bound, and the system heals without a restart.

use std::time::{Duration, Instant};

use shared::admin::parse_url;
use shared::alerts::{self, ListQuery};
use shared::config::{EvaluatorSettings, PoolSettings};
use shared::db::Db;
use shared::evaluator::{BATCH_GRACE, Evaluator};
use shared::tenancy::{TenantId, TenantScope};
use shared::testing::TestDb;
use shared::testing::proxy::SilentProxy;

/// The longest a request may wait on the database, whatever it does (the bar).
const BOUND: Duration = Duration::from_secs(3);

async fn through_proxy() -> (TestDb, SilentProxy, Db) {
    let test = TestDb::new().await;
    let proxy = SilentProxy::start(test.address().await).await;
    let settings = PoolSettings {
        size: Some(2),
        ..PoolSettings::default()
    };
    let db = Db::connect_lazily(
        parse_url(&test.url_via(proxy.port())).unwrap(),
        &settings,
        "max-test",
    )
    .unwrap();
    (test, proxy, db)
}

async fn list(db: &Db) -> Result<usize, shared::db::DbError> {
    let tenant = TenantId::parse("macrea").unwrap();
    let page =
        alerts::list_active(db, &TenantScope::Verified(&tenant), &ListQuery::default()).await?;
    Ok(page.rows.len())
}

#[tokio::test]
async fn a_database_gone_silent_is_unavailable_within_the_bound_and_healed_once_it_answers() {
    let (_test, proxy, db) = through_proxy().await;
    assert_eq!(list(&db).await.unwrap(), 0);

    proxy.go_silent();
    // On the pooled connection that went silent, then on a new one that cannot even open.
    for attempt in ["pooled connection", "new connection"] {
        let started = Instant::now();
        let error = list(&db).await.unwrap_err();
        let waited = started.elapsed();
        assert!(error.is_unavailable(), "{attempt}: {error}");
        assert!(waited < BOUND, "{attempt}: waited {waited:?}");
    }

    proxy.answer_again();
    let started = Instant::now();
    assert_eq!(list(&db).await.unwrap(), 0);
    assert!(started.elapsed() < BOUND);
}

#[tokio::test]
async fn an_evaluator_pass_on_a_silent_database_ends_within_its_own_bound_and_says_so() {
    let (test, proxy, db) = through_proxy().await;
    test.owner()
        .await
        .batch_execute(
            "INSERT INTO lead_activities (tenant_id, lead_id, channel, direction, status, occurred_at)
             VALUES ('macrea', 'lead-1', 'email', 'out', 'sent', now() - interval '8 days')",
        )
        .await
        .unwrap();
    let settings = EvaluatorSettings {
        timeout: Duration::from_secs(1),
        workers: 1,
    };
    let evaluator = Evaluator::default();
    // A connection in the pool, as between two scheduled passes of a warm function.
    db.ping().await.unwrap();
    proxy.go_silent();
    let started = Instant::now();
    let error = evaluator.pass(&db, &settings).await.unwrap_err();
    let waited = started.elapsed();
    assert!(error.is_unavailable(), "{error}");
    assert!(
        waited < settings.timeout + BATCH_GRACE + Duration::from_millis(500),
        "waited {waited:?}"
    );

    proxy.answer_again();
    let summary = evaluator.pass(&db, &settings).await.unwrap();
    assert_eq!(summary.raised.get("NoContact7d"), Some(&1));
}
