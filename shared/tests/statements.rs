//! Prepared statements: reused on a connection when the statement cache is on, never left on the
//! server when it is off (as behind a transaction-mode pooler), and prepared again when the
//! server forgot them or a migration changed what they return.

use shared::alerts::{self, ListQuery};
use shared::db::Db;
use shared::tenancy::{TenantId, TenantScope};
use shared::testing::{SEED_INSERT, TestDb};

/// A database holding the seed's manual alert, and a pool of one connection (so that the
/// statements it prepared can be counted), with the statement cache on or off.
async fn seeded(statement_cache: bool) -> (TestDb, Db) {
    let test = TestDb::new().await;
    test.owner().await.batch_execute(SEED_INSERT).await.unwrap();
    let db = test.db_with(|config| {
        config.size = Some(1);
        config.statement_cache = statement_cache;
    });
    (test, db)
}

async fn list(db: &Db) -> usize {
    let tenant = TenantId::parse("macrea").unwrap();
    let page = alerts::list_active(db, &TenantScope::Verified(&tenant), &ListQuery::default())
        .await
        .expect("list");
    let alerts = page.alerts().expect("alerts");
    assert_eq!(alerts[0].lead_id, "test_prod_alert");
    alerts.len()
}

/// The statements prepared on the pool's (only) connection (asked with the simple protocol, which
/// prepares nothing itself).
async fn prepared_on_the_connection(db: &Db) -> i64 {
    let messages = db
        .connection()
        .await
        .unwrap()
        .simple_query("SELECT count(*) FROM pg_prepared_statements")
        .await
        .unwrap();
    messages
        .iter()
        .find_map(|message| match message {
            tokio_postgres::SimpleQueryMessage::Row(row) => row.get(0)?.parse().ok(),
            _ => None,
        })
        .expect("a count")
}

#[tokio::test]
async fn with_the_cache_each_statement_is_prepared_once_per_connection() {
    let (_test, db) = seeded(true).await;
    assert_eq!(list(&db).await, 1);
    let prepared = prepared_on_the_connection(&db).await;
    // The scope statement, the counters and the page.
    assert_eq!(prepared, 3);
    for _ in 0..5 {
        assert_eq!(list(&db).await, 1);
    }
    assert_eq!(prepared_on_the_connection(&db).await, prepared);
}

#[tokio::test]
async fn without_the_cache_nothing_outlives_the_transaction() {
    let (_test, db) = seeded(false).await;
    for _ in 0..3 {
        assert_eq!(list(&db).await, 1);
    }
    assert_eq!(prepared_on_the_connection(&db).await, 0);
}

#[tokio::test]
async fn statements_the_server_forgot_are_prepared_again() {
    let (_test, db) = seeded(true).await;
    assert_eq!(list(&db).await, 1);
    db.connection()
        .await
        .unwrap()
        .batch_execute("DEALLOCATE ALL")
        .await
        .unwrap();
    assert_eq!(list(&db).await, 1);
    assert_eq!(prepared_on_the_connection(&db).await, 3);
}

#[tokio::test]
async fn a_migration_that_changes_a_result_type_does_not_break_cached_statements() {
    let (test, db) = seeded(true).await;
    let owner = test.owner().await;
    assert_eq!(list(&db).await, 1);
    // The page's cached plan returned `text` for lead_name; it now returns `varchar`.
    owner
        .batch_execute("ALTER TABLE max_alerts ALTER COLUMN lead_name TYPE varchar(300)")
        .await
        .unwrap();
    assert_eq!(list(&db).await, 1);
}

/// The backend process a pooled connection talks to.
async fn backend_of(connection: &deadpool_postgres::Object) -> String {
    connection
        .simple_query("SELECT pg_backend_pid()")
        .await
        .unwrap()
        .iter()
        .find_map(|message| match message {
            tokio_postgres::SimpleQueryMessage::Row(row) => row.get(0).map(str::to_owned),
            _ => None,
        })
        .expect("a pid")
}

#[tokio::test]
async fn the_pool_hands_out_the_connection_used_last_whose_statements_are_prepared() {
    let test = TestDb::new().await;
    let db = test.db_with(|config| config.size = Some(3));
    // A burst opens three connections; they are given back in this order.
    let (first, second, last) = tokio::join!(db.connection(), db.connection(), db.connection());
    let (first, second, last) = (first.unwrap(), second.unwrap(), last.unwrap());
    let last_pid = backend_of(&last).await;
    assert_ne!(backend_of(&first).await, last_pid);
    assert_ne!(backend_of(&second).await, last_pid);
    drop(first);
    drop(second);
    drop(last);
    // One request at a time keeps to the warm connection instead of going round all three.
    for _ in 0..4 {
        assert_eq!(backend_of(&db.connection().await.unwrap()).await, last_pid);
    }
}
