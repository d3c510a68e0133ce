//! Logging activities against a real database: stored once, whatever the retries.

use serde_json::json;
use shared::activities::{self, NewActivity};
use shared::db::{Access, Stmt};
use shared::http::activities::LogActivityBody;
use shared::tenancy::{ApiKey, Refusal, Scope, TenantId, TenantScope};
use shared::testing::TestDb;
use shared::time::OffsetDateTime;
use tokio_postgres::types::{ToSql, Type};

/// An activity as the API reads it from a request body and its `Idempotency-Key`.
fn new_activity(body: serde_json::Value, idempotency_key: Option<&str>) -> NewActivity {
    serde_json::from_value::<LogActivityBody>(body)
        .unwrap()
        .into_activity(idempotency_key, OffsetDateTime::now_utc())
        .unwrap()
}

fn seed_body() -> serde_json::Value {
    json!({
        "leadId": "test_deploy",
        "channel": "whatsapp",
        "direction": "out",
        "status": "sent",
        "messageSnippet": "Test déploiement"
    })
}

async fn count(test: &TestDb, tenant: &str) -> i64 {
    test.owner()
        .await
        .query_one(
            "SELECT count(*) FROM lead_activities WHERE tenant_id = $1",
            &[&tenant],
        )
        .await
        .unwrap()
        .get(0)
}

#[tokio::test]
async fn a_logged_activity_is_stored_and_shows_in_the_seed_query() {
    let test = TestDb::new().await;
    let tenant = TenantId::parse("macrea").unwrap();
    let logged = activities::log(
        &test.db(),
        &TenantScope::Verified(&tenant),
        &new_activity(seed_body(), None),
    )
    .await
    .unwrap();
    assert!(!logged.replayed);
    assert_eq!(logged.activity.lead_id, "test_deploy");
    assert_eq!(
        logged.activity.message_snippet.as_deref(),
        Some("Test déploiement")
    );
    let rows = test
        .owner()
        .await
        .query(
            "SELECT * FROM lead_activities WHERE tenant_id = 'macrea' ORDER BY created_at DESC LIMIT 10;",
            &[],
        )
        .await
        .unwrap();
    assert_eq!(rows.len(), 1);
    assert_eq!(rows[0].get::<_, uuid::Uuid>("id"), logged.activity.id);
    assert_eq!(rows[0].get::<_, String>("channel"), "whatsapp");
}

#[tokio::test]
async fn a_retry_with_the_same_idempotency_key_stores_nothing_twice() {
    let test = TestDb::new().await;
    let db = test.db();
    let tenant = TenantId::parse("macrea").unwrap();
    let scope = TenantScope::Verified(&tenant);
    let first = activities::log(&db, &scope, &new_activity(seed_body(), Some("req-1")))
        .await
        .unwrap();
    // Even with a different body, the key names the same request.
    let mut changed = seed_body();
    changed["messageSnippet"] = json!("something else");
    let retry = activities::log(&db, &scope, &new_activity(changed, Some("req-1")))
        .await
        .unwrap();
    assert!(retry.replayed);
    assert_eq!(retry.activity, first.activity);
    assert_eq!(count(&test, "macrea").await, 1);
    // Another key is another activity.
    activities::log(&db, &scope, &new_activity(seed_body(), Some("req-2")))
        .await
        .unwrap();
    assert_eq!(count(&test, "macrea").await, 2);
}

#[tokio::test]
async fn an_external_id_with_a_status_names_one_event() {
    let test = TestDb::new().await;
    let db = test.db();
    let tenant = TenantId::parse("macrea").unwrap();
    let scope = TenantScope::Verified(&tenant);
    let mut sent = seed_body();
    sent["externalId"] = json!("wamid.123");
    let first = activities::log(&db, &scope, &new_activity(sent.clone(), None))
        .await
        .unwrap();
    let retried = activities::log(&db, &scope, &new_activity(sent.clone(), None))
        .await
        .unwrap();
    assert!(retried.replayed);
    assert_eq!(retried.activity.id, first.activity.id);
    let mut delivered = sent;
    delivered["status"] = json!("delivered");
    let next = activities::log(&db, &scope, &new_activity(delivered, None))
        .await
        .unwrap();
    assert!(!next.replayed);
    assert_eq!(count(&test, "macrea").await, 2);
}

#[tokio::test]
async fn concurrent_retries_store_one_activity_and_all_return_it() {
    let test = TestDb::new().await;
    let db = test.db();
    let tenant = TenantId::parse("macrea").unwrap();
    let new = new_activity(seed_body(), Some("same-request"));
    let attempts = (0..8).map(|_| {
        let db = db.clone();
        let tenant = tenant.clone();
        let new = new.clone();
        tokio::spawn(
            async move { activities::log(&db, &TenantScope::Verified(&tenant), &new).await },
        )
    });
    let results = futures_util::future::join_all(attempts).await;
    let ids: std::collections::HashSet<_> = results
        .into_iter()
        .map(|result| result.unwrap().unwrap().activity.id)
        .collect();
    assert_eq!(ids.len(), 1);
    assert_eq!(count(&test, "macrea").await, 1);
}

#[tokio::test]
async fn idempotency_keys_belong_to_a_tenant() {
    let test = TestDb::new().await;
    let db = test.db();
    let a = TenantId::parse("tenant-a").unwrap();
    let b = TenantId::parse("tenant-b").unwrap();
    let new = new_activity(seed_body(), Some("shared-key"));
    let in_a = activities::log(&db, &TenantScope::Verified(&a), &new)
        .await
        .unwrap();
    let in_b = activities::log(&db, &TenantScope::Verified(&b), &new)
        .await
        .unwrap();
    assert!(!in_b.replayed);
    assert_ne!(in_a.activity.id, in_b.activity.id);
}

#[tokio::test]
async fn a_long_snippet_is_stored_truncated_and_back_filled_time_is_kept() {
    let test = TestDb::new().await;
    let tenant = TenantId::parse("macrea").unwrap();
    let mut body = seed_body();
    body["messageSnippet"] = json!("x".repeat(5000));
    body["occurredAt"] = json!("2026-01-02T03:04:05Z");
    let new = new_activity(body, None);
    assert!(new.snippet_truncated());
    let logged = activities::log(&test.db(), &TenantScope::Verified(&tenant), &new)
        .await
        .unwrap();
    assert_eq!(
        logged.activity.message_snippet.unwrap().len(),
        activities::MAX_SNIPPET_CHARS
    );
    assert_eq!(logged.activity.occurred_at.unix_timestamp(), 1_767_323_045);
}

#[tokio::test]
async fn with_an_api_key_logging_is_one_statement_that_checks_the_key_and_leaves_nothing_behind() {
    let test = TestDb::new().await;
    // One connection, so that what the statement set would be seen by the next one.
    let db = test.db_with(|settings| settings.size = Some(1));
    let key_text = test.key("macrea", &[Scope::LogActivities]).await;
    let key = ApiKey::parse(&key_text).unwrap();
    let scope = TenantScope::ApiKey {
        key: &key,
        scope: Scope::LogActivities,
    };
    let new = new_activity(seed_body(), Some("one-request"));
    let first = activities::log(&db, &scope, &new).await.unwrap();
    let again = activities::log(&db, &scope, &new).await.unwrap();
    assert!(!first.replayed);
    assert!(again.replayed);
    assert_eq!(first.activity.id, again.activity.id);
    assert_eq!(count(&test, "macrea").await, 1);

    // The role, the tenant and the lock timeout were the statement's own transaction's.
    let client = db.connection().await.unwrap();
    let row = client
        .query_one(
            "SELECT current_user::text, current_setting('app.tenant_id', true), \
                    current_setting('lock_timeout')",
            &[],
        )
        .await
        .unwrap();
    assert_ne!(row.get::<_, String>(0), "max_app");
    assert_eq!(row.get::<_, Option<String>>(1).unwrap_or_default(), "");
    assert_eq!(row.get::<_, String>(2), "0");
    drop(client);

    // A key without the scope, or another tenant's key, stores nothing.
    let reader_text = test.key("macrea", &[Scope::ReadAlerts]).await;
    let reader = ApiKey::parse(&reader_text).unwrap();
    let other_text = test.key("other", &[Scope::LogActivities]).await;
    let forged = ApiKey::parse(&other_text.replacen("other", "macrea", 1)).unwrap();
    for (key, refusal) in [
        (&reader, Refusal::MissingScope),
        (&forged, Refusal::UnknownKey),
    ] {
        let scope = TenantScope::ApiKey {
            key,
            scope: Scope::LogActivities,
        };
        let new = new_activity(seed_body(), None);
        let error = activities::log(&db, &scope, &new).await.unwrap_err();
        assert_eq!(Refusal::of(&error), Some(refusal));
    }
    assert_eq!(count(&test, "macrea").await, 1);
    assert_eq!(count(&test, "other").await, 0);
}

#[tokio::test]
async fn a_verified_tenant_cannot_log_for_another_through_the_statement() {
    let test = TestDb::new().await;
    let tenant = TenantId::parse("macrea").unwrap();
    let other = TenantId::parse("other").unwrap();
    // The statement is given one tenant while the transaction was opened for another.
    let db = test.db();
    let own = TenantScope::Verified(&other);
    let stmt_tenant = tenant.as_str();
    let lock_timeout = db.statement_timeout();
    let no_key: Option<&[u8]> = None;
    let (lead, channel, direction, status) = ("x", "email", "out", "sent");
    let none: Option<&str> = None;
    let at: Option<OffsetDateTime> = None;
    let params: &[(&(dyn ToSql + Sync), Type)] = &[
        (&stmt_tenant, Type::TEXT),
        (&no_key, Type::BYTEA),
        (&"", Type::TEXT),
        (&lock_timeout, Type::TEXT),
        (&lead, Type::TEXT),
        (&none, Type::TEXT),
        (&channel, Type::TEXT),
        (&direction, Type::TEXT),
        (&status, Type::TEXT),
        (&none, Type::TEXT),
        (&none, Type::TEXT),
        (&none, Type::TEXT),
        (&at, Type::TIMESTAMPTZ),
    ];
    let error = db
        .run(
            &own,
            Access::ReadWrite,
            &[Stmt {
                sql: activities::LOG_ACTIVITY,
                params,
            }],
        )
        .await
        .unwrap_err();
    assert_eq!(Refusal::of(&error), Some(Refusal::UnknownKey));
    // Alone, without an opening, no tenant at all.
    let error = db
        .run_alone(&Stmt {
            sql: activities::LOG_ACTIVITY,
            params,
        })
        .await
        .unwrap_err();
    assert_eq!(Refusal::of(&error), Some(Refusal::UnknownKey));
    assert_eq!(count(&test, "macrea").await, 0);
}

#[tokio::test]
async fn with_an_api_key_a_lock_wait_ends_at_the_statement_timeout_and_stores_nothing() {
    let test = TestDb::new().await;
    let db = test.db_with(|settings| {
        settings.statement_timeout = std::time::Duration::from_millis(200);
        settings.request_timeout = std::time::Duration::from_secs(10);
    });
    let key_text = test.key("macrea", &[Scope::LogActivities]).await;
    let key = ApiKey::parse(&key_text).unwrap();
    let scope = TenantScope::ApiKey {
        key: &key,
        scope: Scope::LogActivities,
    };
    activities::log(&db, &scope, &new_activity(seed_body(), None))
        .await
        .unwrap();

    // Another transaction holds the lead's summary, which the next activity must update.
    let mut holder = test.owner().await;
    let holding = holder.transaction().await.unwrap();
    holding
        .execute(
            "SELECT FROM max_lead_states WHERE tenant_id = 'macrea' AND lead_id = 'test_deploy' \
             FOR UPDATE",
            &[],
        )
        .await
        .unwrap();
    let started = std::time::Instant::now();
    let error = activities::log(&db, &scope, &new_activity(seed_body(), None))
        .await
        .unwrap_err();
    assert_eq!(error.sqlstate(), Some("55P03"), "{error}");
    assert!(started.elapsed() < std::time::Duration::from_secs(5));
    holding.rollback().await.unwrap();
    assert_eq!(count(&test, "macrea").await, 1);
}
