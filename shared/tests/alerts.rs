//! Listing and resolving alerts against a real database.

use std::collections::HashSet;

use shared::alerts::{self, ListQuery, Severity};
use shared::db::{Access, Stmt};
use shared::leads::LeadId;
use shared::parse::Parse;
use shared::tenancy::{TenantId, TenantScope};
use shared::testing::TestDb;
use tokio_postgres::types::Type;
use uuid::Uuid;

/// Inserts `n` alerts for a tenant, spread over severities and ages (oldest first by lead number).
async fn insert_alerts(owner: &tokio_postgres::Client, tenant: &str, n: i32) {
    owner
        .execute(
            "INSERT INTO max_alerts (tenant_id, lead_id, type, severity, message, created_at, escalated_at)
             SELECT $1, 'lead-' || i, 'NoContact7d', (ARRAY['high', 'medium', 'low'])[1 + i % 3], 'm',
                    now() - make_interval(mins => $2 - i),
                    CASE WHEN i % 10 = 0 THEN now() END
               FROM generate_series(1, $2) AS i",
            &[&tenant, &n],
        )
        .await
        .unwrap();
}

fn urgency(alert: &alerts::Alert) -> (usize, bool, shared::time::OffsetDateTime, Uuid) {
    let rank = Severity::parse(alert.severity).unwrap().rank() as usize;
    (rank, !alert.escalated, alert.created_at, alert.id)
}

#[tokio::test]
async fn pages_walk_every_active_alert_once_most_urgent_first() {
    let test = TestDb::new().await;
    let owner = test.owner().await;
    insert_alerts(&owner, "big", 250).await;
    insert_alerts(&owner, "other", 5).await;
    let db = test.db();
    let tenant = TenantId::parse("big").unwrap();
    let scope = TenantScope::Verified(&tenant);
    let mut query = ListQuery {
        limit: 100,
        ..ListQuery::default()
    };
    let mut seen = Vec::new();
    let mut pages = 0;
    loop {
        let page = alerts::list_active(&db, &scope, &query).await.unwrap();
        pages += 1;
        assert_eq!(page.stats.total, 250);
        assert_eq!(page.stats.high + page.stats.medium + page.stats.low, 250);
        assert_eq!(page.stats.escalated, 25);
        seen.extend(
            page.alerts()
                .unwrap()
                .iter()
                .map(|a| (urgency(a), a.escalated, a.severity.to_owned())),
        );
        match page.next_cursor {
            Some(cursor) => query.cursor = alerts::Cursor::decode(&cursor),
            None => break,
        }
    }
    assert_eq!(pages, 3);
    assert_eq!(seen.len(), 250);
    assert_eq!(
        seen.iter()
            .map(|(urgency, ..)| urgency.3)
            .collect::<HashSet<_>>()
            .len(),
        250
    );
    let order: Vec<_> = seen.iter().map(|(urgency, ..)| *urgency).collect();
    let mut sorted = order.clone();
    sorted.sort();
    assert_eq!(order, sorted, "alerts are not in urgency order");
    assert!(seen[0].1 && seen[0].2 == "high");
}

#[tokio::test]
async fn a_page_that_ends_exactly_at_the_last_alert_has_no_next_cursor() {
    let test = TestDb::new().await;
    insert_alerts(&test.owner().await, "t", 10).await;
    let tenant = TenantId::parse("t").unwrap();
    let page = alerts::list_active(
        &test.db(),
        &TenantScope::Verified(&tenant),
        &ListQuery {
            limit: 10,
            ..ListQuery::default()
        },
    )
    .await
    .unwrap();
    assert_eq!(page.alerts().unwrap().len(), 10);
    assert_eq!(page.next_cursor, None);
}

#[tokio::test]
async fn alerts_filter_by_severity_and_by_lead() {
    let test = TestDb::new().await;
    insert_alerts(&test.owner().await, "t", 30).await;
    let db = test.db();
    let tenant = TenantId::parse("t").unwrap();
    let scope = TenantScope::Verified(&tenant);
    let medium = alerts::list_active(
        &db,
        &scope,
        &ListQuery {
            severity: Some(Severity::Medium),
            ..ListQuery::default()
        },
    )
    .await
    .unwrap();
    assert_eq!(medium.alerts().unwrap().len(), 10);
    assert!(
        medium
            .alerts()
            .unwrap()
            .iter()
            .all(|a| a.severity == "medium")
    );
    assert_eq!(
        medium.stats.total, 30,
        "stats always count every active alert"
    );
    let one = alerts::list_active(
        &db,
        &scope,
        &ListQuery {
            lead_id: Some(LeadId::parse("lead-7").unwrap()),
            ..ListQuery::default()
        },
    )
    .await
    .unwrap();
    assert_eq!(one.alerts().unwrap().len(), 1);
    assert_eq!(one.alerts().unwrap()[0].lead_id, "lead-7");
}

#[tokio::test]
async fn resolving_sets_resolved_at_once_and_again_changes_nothing() {
    let test = TestDb::new().await;
    let owner = test.owner().await;
    insert_alerts(&owner, "t", 3).await;
    let id: Uuid = owner
        .query_one("SELECT id FROM max_alerts WHERE lead_id = 'lead-1'", &[])
        .await
        .unwrap()
        .get(0);
    let db = test.db();
    let tenant = TenantId::parse("t").unwrap();
    let scope = TenantScope::Verified(&tenant);
    let first_row = alerts::resolve(&db, &scope, id, "user:alice")
        .await
        .unwrap()
        .unwrap();
    let first = first_row.alert().unwrap();
    assert!(first.resolved_at.is_some());
    assert_eq!(first.resolved_by, Some("user:alice"));
    assert_eq!(first.resolution, Some("manual"));
    let again_row = alerts::resolve(&db, &scope, id, "user:bob")
        .await
        .unwrap()
        .unwrap();
    assert_eq!(again_row.alert().unwrap(), first);
    let resolved_at: Option<shared::time::OffsetDateTime> = owner
        .query_one(
            "SELECT resolved_at FROM max_alerts WHERE lead_id = 'lead-1'",
            &[],
        )
        .await
        .unwrap()
        .get(0);
    assert_eq!(resolved_at, first.resolved_at);
    let page = alerts::list_active(&db, &scope, &ListQuery::default())
        .await
        .unwrap();
    assert_eq!(page.stats.total, 2);
    assert!(page.alerts().unwrap().iter().all(|a| a.id != id));
}

#[tokio::test]
async fn resolving_an_alert_already_resolved_writes_nothing() {
    let test = TestDb::new().await;
    let owner = test.owner().await;
    insert_alerts(&owner, "t", 1).await;
    let version = async || -> (Uuid, String) {
        let row = owner
            .query_one("SELECT id, xmin::text FROM max_alerts", &[])
            .await
            .unwrap();
        (row.get(0), row.get(1))
    };
    let (id, unresolved) = version().await;
    let db = test.db();
    let tenant = TenantId::parse("t").unwrap();
    let scope = TenantScope::Verified(&tenant);
    let first = alerts::resolve(&db, &scope, id, "user:alice")
        .await
        .unwrap()
        .unwrap();
    let (_, resolved) = version().await;
    assert_ne!(resolved, unresolved, "the first resolution writes the row");
    for actor in ["user:bob", "api-key:mxk_t_AbCd1"] {
        let again = alerts::resolve(&db, &scope, id, actor)
            .await
            .unwrap()
            .unwrap();
        assert_eq!(again.alert().unwrap(), first.alert().unwrap());
        assert_eq!(version().await.1, resolved, "no new row version");
    }
}

#[tokio::test]
async fn concurrent_resolutions_agree() {
    let test = TestDb::new().await;
    let owner = test.owner().await;
    insert_alerts(&owner, "t", 1).await;
    let id: Uuid = owner
        .query_one("SELECT id FROM max_alerts", &[])
        .await
        .unwrap()
        .get(0);
    let db = test.db();
    let attempts = (0..6).map(|i| {
        let db = db.clone();
        tokio::spawn(async move {
            let tenant = TenantId::parse("t").unwrap();
            let row = alerts::resolve(
                &db,
                &TenantScope::Verified(&tenant),
                id,
                &format!("user:{i}"),
            )
            .await
            .unwrap()
            .unwrap();
            let alert = row.alert().unwrap();
            (alert.resolved_at, alert.resolved_by.map(str::to_owned))
        })
    });
    let results: Vec<_> = futures_util::future::join_all(attempts)
        .await
        .into_iter()
        .map(Result::unwrap)
        .collect();
    assert!(results.windows(2).all(|w| w[0] == w[1]), "{results:?}");
}

#[tokio::test]
async fn another_tenants_alert_cannot_be_resolved_or_seen() {
    let test = TestDb::new().await;
    let owner = test.owner().await;
    insert_alerts(&owner, "tenant-b", 1).await;
    let id: Uuid = owner
        .query_one("SELECT id FROM max_alerts", &[])
        .await
        .unwrap()
        .get(0);
    let db = test.db();
    let a = TenantId::parse("tenant-a").unwrap();
    let scope = TenantScope::Verified(&a);
    assert!(
        alerts::resolve(&db, &scope, id, "user:mallory")
            .await
            .unwrap()
            .is_none()
    );
    let page = alerts::list_active(&db, &scope, &ListQuery::default())
        .await
        .unwrap();
    assert_eq!(page.stats.total, 0);
    assert!(page.alerts().unwrap().is_empty());
    let still_open: bool = owner
        .query_one(
            "SELECT resolved_at IS NULL FROM max_alerts WHERE id = $1",
            &[&id],
        )
        .await
        .unwrap()
        .get(0);
    assert!(still_open);
}

/// The plan of a page for a tenant with 10,000 open alerts: read in index order, no sort, and
/// only about a page of rows touched, whatever the tenant's size.
#[tokio::test]
async fn a_page_of_a_huge_tenant_is_read_in_index_order_without_sorting() {
    let test = TestDb::new().await;
    let owner = test.owner().await;
    insert_alerts(&owner, "huge", 10_000).await;
    insert_alerts(&owner, "small", 20).await;
    owner.batch_execute("ANALYZE max_alerts").await.unwrap();
    let tenant = TenantId::parse("huge").unwrap();
    let explain = format!("EXPLAIN (ANALYZE, FORMAT JSON) {}", alerts::ACTIVE_ALERTS);
    let (tenant_text, min, max, rank, not_escalated, limit) =
        ("huge", 0i16, 2i16, -1i16, false, 51i64);
    let start = shared::time::macros::datetime!(1900-01-01 0:00 UTC);
    let nil = Uuid::nil();
    let results = test
        .db()
        .run(
            &TenantScope::Verified(&tenant),
            Access::ReadOnlySnapshot,
            &[Stmt {
                sql: &explain,
                params: &[
                    (&tenant_text, Type::TEXT),
                    (&min, Type::INT2),
                    (&max, Type::INT2),
                    (&rank, Type::INT2),
                    (&not_escalated, Type::BOOL),
                    (&start, Type::TIMESTAMPTZ),
                    (&nil, Type::UUID),
                    (&limit, Type::INT8),
                ],
            }],
        )
        .await
        .unwrap();
    let plan: serde_json::Value = results[0][0].get(0);
    let text = plan.to_string();
    assert!(text.contains("max_alerts_active_by_urgency"), "{text}");
    assert!(
        !text.contains("\"Sort\""),
        "the page is sorted instead of read in order: {text}"
    );
    // The scan stops after the page: it does not visit the 10,000 rows.
    fn max_rows(node: &serde_json::Value) -> i64 {
        let own = node["Actual Rows"].as_f64().unwrap_or(0.0) as i64;
        node["Plans"]
            .as_array()
            .map(|plans| plans.iter().map(max_rows).max().unwrap_or(0))
            .unwrap_or(0)
            .max(own)
    }
    assert!(max_rows(&plan[0]["Plan"]) <= 51, "{text}");
}
