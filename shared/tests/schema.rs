//! The schema on a freshly migrated database: the seed's checks word for word, migrations that
//! are safe to run twice, Row Level Security, and the alert counters.

use shared::db::{Access, Stmt};
use shared::tenancy::{Scope, TenantId, TenantScope};
use shared::testing::{SEED_INSERT, TestDb};
use tokio_postgres::types::Type;

#[tokio::test]
async fn the_seed_tables_exist() {
    let test = TestDb::new().await;
    let rows = test
        .owner()
        .await
        .query(
            "SELECT tablename FROM pg_tables
             WHERE schemaname = 'public'
             AND tablename IN ('lead_activities', 'max_alerts');",
            &[],
        )
        .await
        .unwrap();
    assert_eq!(rows.len(), 2);
}

#[tokio::test]
async fn the_seed_indexes_exist() {
    let test = TestDb::new().await;
    let names: Vec<String> = test
        .owner()
        .await
        .query(
            "SELECT indexname FROM pg_indexes
             WHERE tablename IN ('lead_activities', 'max_alerts');",
            &[],
        )
        .await
        .unwrap()
        .iter()
        .map(|row| row.get(0))
        .collect();
    for expected in [
        "idx_lead_activities_tenant_lead",
        "idx_lead_activities_created",
        "idx_max_alerts_unique_active",
        "idx_max_alerts_tenant_lead",
    ] {
        assert!(
            names.iter().any(|n| n == expected),
            "{expected} missing from {names:?}"
        );
    }
}

#[tokio::test]
async fn the_seed_manual_insert_works_as_written_and_is_unique_while_active() {
    let test = TestDb::new().await;
    let owner = test.owner().await;
    owner.batch_execute(SEED_INSERT).await.unwrap();
    let row = owner
        .query_one(
            "SELECT id::text, resolved_at IS NULL, suggested_action->>'label' FROM max_alerts WHERE lead_id = 'test_prod_alert'",
            &[],
        )
        .await
        .unwrap();
    let id: String = row.get(0);
    assert_eq!(id.len(), 36, "alert ids are uuids");
    assert!(row.get::<_, bool>(1));
    assert_eq!(row.get::<_, String>(2), "Test Action");
    // idx_max_alerts_unique_active: one active alert per tenant, lead and type.
    let error = owner.batch_execute(SEED_INSERT).await.unwrap_err();
    assert_eq!(error.code().unwrap().code(), "23505");
}

#[tokio::test]
async fn migrating_twice_applies_nothing_the_second_time() {
    let test = TestDb::new().await;
    let again = shared::admin::migrate(&test.url).await.unwrap();
    assert!(again.is_empty(), "{again:?}");
    let applied: i64 = test
        .owner()
        .await
        .query_one("SELECT count(*) FROM refinery_schema_history", &[])
        .await
        .unwrap()
        .get(0);
    assert!(applied >= 1);
}

#[tokio::test]
async fn migrating_installs_the_rules_again_when_the_database_holds_another_version_of_them() {
    let test = TestDb::new().await;
    let owner = test.owner().await;
    // As if an earlier release had installed other rules: no clearing, another default.
    owner
        .batch_execute(&format!(
            "CREATE OR REPLACE FUNCTION {} RETURNS boolean LANGUAGE sql AS $$ SELECT false $$;
             COMMENT ON FUNCTION {} IS 'rules 0000000000000000';
             UPDATE max_alert_rule_defaults SET threshold = '1 day' WHERE rule = 'NoReply3d';",
            shared::rules::CLEARED_FUNCTION,
            shared::rules::CLEARED_SIGNATURE
        ))
        .await
        .unwrap();
    let applied = shared::admin::migrate(&test.url).await.unwrap();
    let script = shared::rules::install_script(&shared::rules::ALL);
    assert_eq!(applied, vec![shared::rules::version(&script)]);
    let threshold: String = owner
        .query_one(
            "SELECT threshold::text FROM max_alert_rule_defaults WHERE rule = 'NoReply3d'",
            &[],
        )
        .await
        .unwrap()
        .get(0);
    assert_eq!(threshold, "3 days");
    // The clearing is the rules' again: an outbound message clears UnansweredInbound.
    let cleared: bool = owner
        .query_one(
            "SELECT max_alert_cleared('UnansweredInbound', 't', NULL, now(), now(), false, NULL,
                                      NULL, NULL, now(), now(), NULL)",
            &[],
        )
        .await
        .unwrap()
        .get(0);
    assert!(cleared);
}

#[tokio::test]
async fn the_functions_role_owns_nothing_and_cannot_bypass_rls() {
    let test = TestDb::new().await;
    let owner = test.owner().await;
    let row = owner
        .query_one(
            "SELECT bool_or(rolsuper), bool_or(rolbypassrls), count(*) FROM pg_roles
              WHERE rolname IN ('max_app', 'max_evaluator')",
            &[],
        )
        .await
        .unwrap();
    assert_eq!(row.get::<_, i64>(2), 2);
    assert!(
        !row.get::<_, bool>(0),
        "the functions' roles must not be superusers"
    );
    assert!(
        !row.get::<_, bool>(1),
        "the functions' roles must not bypass RLS"
    );
    let owned: i64 = owner
        .query_one(
            "SELECT count(*) FROM pg_class c JOIN pg_roles r ON r.oid = c.relowner WHERE r.rolname IN ('max_app', 'max_evaluator')",
            &[],
        )
        .await
        .unwrap()
        .get(0);
    assert_eq!(owned, 0);
    let unprotected: Vec<String> = owner
        .query(
            "SELECT c.relname::text FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
             WHERE n.nspname = 'public' AND c.relkind = 'r'
               AND (c.relname = 'max_tenants'
                    OR EXISTS (SELECT FROM pg_attribute a
                                WHERE a.attrelid = c.oid AND a.attname = 'tenant_id' AND NOT a.attisdropped))
               AND NOT (c.relrowsecurity AND c.relforcerowsecurity)",
            &[],
        )
        .await
        .unwrap()
        .iter()
        .map(|row| row.get(0))
        .collect();
    assert!(
        unprotected.is_empty(),
        "RLS not enabled and forced on {unprotected:?}"
    );
}

async fn insert_alert(owner: &tokio_postgres::Client, tenant: &str, lead: &str, severity: &str) {
    owner
        .execute(
            "INSERT INTO max_alerts (tenant_id, lead_id, type, severity, message) VALUES ($1, $2, 'NoContact7d', $3, 'm')",
            &[&tenant, &lead, &severity],
        )
        .await
        .unwrap();
}

#[tokio::test]
async fn a_query_without_any_tenant_filter_sees_only_the_current_tenants_rows() {
    let test = TestDb::new().await;
    let owner = test.owner().await;
    insert_alert(&owner, "tenant-a", "lead-a1", "high").await;
    insert_alert(&owner, "tenant-a", "lead-a2", "low").await;
    insert_alert(&owner, "tenant-b", "lead-b1", "high").await;
    owner
        .batch_execute(
            "INSERT INTO lead_activities (tenant_id, lead_id, channel, direction, status) VALUES
             ('tenant-a', 'lead-a1', 'email', 'out', 'sent'), ('tenant-b', 'lead-b1', 'email', 'out', 'sent')",
        )
        .await
        .unwrap();

    let db = test.db();
    let tenant = TenantId::parse("tenant-a").unwrap();
    let results = db
        .run(
            &TenantScope::Verified(&tenant),
            Access::ReadOnlySnapshot,
            &[
                Stmt {
                    sql: "SELECT lead_id FROM max_alerts ORDER BY lead_id",
                    params: &[],
                },
                Stmt {
                    sql: "SELECT lead_id FROM lead_activities",
                    params: &[],
                },
                Stmt {
                    sql: "SELECT tenant_id FROM max_alert_counters",
                    params: &[],
                },
                Stmt {
                    sql: "SELECT current_user::text",
                    params: &[],
                },
            ],
        )
        .await
        .unwrap();
    let leads: Vec<String> = results[0].iter().map(|row| row.get(0)).collect();
    assert_eq!(leads, ["lead-a1", "lead-a2"]);
    let activity_leads: Vec<String> = results[1].iter().map(|row| row.get(0)).collect();
    assert_eq!(activity_leads, ["lead-a1"]);
    let counter_tenants: Vec<String> = results[2].iter().map(|row| row.get(0)).collect();
    assert_eq!(counter_tenants, ["tenant-a"]);
    assert_eq!(results[3][0].get::<_, String>(0), "max_app");
}

#[tokio::test]
async fn the_metrics_roll_ups_and_widget_visits_show_a_tenant_only_its_own() {
    let test = TestDb::new().await;
    let owner = test.owner().await;
    insert_alert(&owner, "tenant-a", "lead-a1", "high").await;
    insert_alert(&owner, "tenant-b", "lead-b1", "high").await;
    owner
        .batch_execute(
            "INSERT INTO max_widget_visits (tenant_id, day, user_id)
             VALUES ('tenant-a', current_date, 'ua'), ('tenant-b', current_date, 'ub')",
        )
        .await
        .unwrap();
    let tenant = TenantId::parse("tenant-a").unwrap();
    let results = test
        .db()
        .run(
            &TenantScope::Verified(&tenant),
            Access::ReadOnlySnapshot,
            &[
                Stmt {
                    sql: "SELECT tenant_id, raised FROM max_alert_days",
                    params: &[],
                },
                Stmt {
                    sql: "SELECT user_id FROM max_widget_visits",
                    params: &[],
                },
            ],
        )
        .await
        .unwrap();
    let days: Vec<(String, i32)> = results[0]
        .iter()
        .map(|row| (row.get(0), row.get(1)))
        .collect();
    assert_eq!(days, [("tenant-a".to_owned(), 1)]);
    let users: Vec<String> = results[1].iter().map(|row| row.get(0)).collect();
    assert_eq!(users, ["ua"]);
}

#[tokio::test]
async fn whatsapps_tables_show_a_tenant_only_its_own_numbers_and_never_the_tokens() {
    let test = TestDb::new().await;
    test.map_phone("tenant-a", "+33611111111", "lead-a").await;
    test.map_phone("tenant-b", "+33622222222", "lead-b").await;
    let owner = test.owner().await;
    owner
        .batch_execute(
            "INSERT INTO max_unmatched_messages
                    (tenant_id, phone, direction, status, external_id, occurred_at)
             VALUES ('tenant-a', '+33633333333', 'in', 'received', 'A1', now()),
                    ('tenant-b', '+33644444444', 'in', 'received', 'B1', now());
             INSERT INTO max_webhook_tokens (tenant_id, instance_id, token_hash, prefix)
             VALUES ('tenant-b', 7, sha256('b'::bytea), 'mxw_tenant-b_xxxxx')",
        )
        .await
        .unwrap();
    let db = test.db();
    let tenant = TenantId::parse("tenant-a").unwrap();
    let results = db
        .run(
            &TenantScope::Verified(&tenant),
            Access::ReadOnlySnapshot,
            &[
                Stmt {
                    sql: "SELECT phone::text FROM max_lead_phones",
                    params: &[],
                },
                Stmt {
                    sql: "SELECT phone::text FROM max_unmatched_messages",
                    params: &[],
                },
            ],
        )
        .await
        .unwrap();
    let phones: Vec<String> = results[0].iter().map(|row| row.get(0)).collect();
    assert_eq!(phones, ["+33611111111"]);
    let unmatched: Vec<String> = results[1].iter().map(|row| row.get(0)).collect();
    assert_eq!(unmatched, ["+33633333333"]);
    // Tokens are reached only through max_authorize_webhook: the functions' role may not read them.
    let denied = db
        .run(
            &TenantScope::Verified(&TenantId::parse("tenant-b").unwrap()),
            Access::ReadOnlySnapshot,
            &[Stmt {
                sql: "SELECT count(*) FROM max_webhook_tokens",
                params: &[],
            }],
        )
        .await
        .unwrap_err();
    assert_eq!(denied.sqlstate(), Some("42501"), "{denied}");
}

#[tokio::test]
async fn without_a_tenant_setting_the_functions_role_sees_nothing() {
    let test = TestDb::new().await;
    let owner = test.owner().await;
    insert_alert(&owner, "tenant-a", "lead-a1", "high").await;
    owner.batch_execute("SET ROLE max_app").await.unwrap();
    let visible: i64 = owner
        .query_one("SELECT count(*) FROM max_alerts", &[])
        .await
        .unwrap()
        .get(0);
    assert_eq!(visible, 0);
    // Nor can it read keys at all: they are reached only through max_authorize_key.
    let error = owner
        .query("SELECT * FROM max_api_keys", &[])
        .await
        .unwrap_err();
    assert_eq!(error.code().unwrap().code(), "42501");
}

#[tokio::test]
async fn an_alert_s_history_is_only_ever_added_to_and_only_for_its_own_tenant() {
    let test = TestDb::new().await;
    let owner = test.owner().await;
    insert_alert(&owner, "tenant-a", "lead-a1", "high").await;
    insert_alert(&owner, "tenant-b", "lead-b1", "high").await;
    let db = test.db();
    let tenant = TenantId::parse("tenant-a").unwrap();
    let run = |sql: &'static str| {
        let db = db.clone();
        let tenant = tenant.clone();
        async move {
            db.run(
                &TenantScope::Verified(&tenant),
                Access::ReadWrite,
                &[Stmt { sql, params: &[] }],
            )
            .await
        }
    };
    // The functions' role sees its tenant's history, cannot change or delete it, and cannot
    // write history for another tenant.
    let rows = run("SELECT kind FROM max_alert_events").await.unwrap();
    assert_eq!(rows[0].len(), 1);
    for sql in [
        "UPDATE max_alert_events SET comment = 'rewritten'",
        "DELETE FROM max_alert_events",
        "INSERT INTO max_alert_events (tenant_id, alert_id, at, kind, severity, message)
         SELECT 'tenant-b', gen_random_uuid(), now(), 'resolved', 'high', 'forged'",
    ] {
        let error = run(sql).await.unwrap_err();
        assert_eq!(error.sqlstate(), Some("42501"), "{sql}: {error}");
    }
    let events: i64 = owner
        .query_one("SELECT count(*) FROM max_alert_events", &[])
        .await
        .unwrap()
        .get(0);
    assert_eq!(events, 2, "one `raised` per alert, nothing else");
}

#[tokio::test]
async fn a_tenant_cannot_write_rows_of_another_tenant() {
    let test = TestDb::new().await;
    let db = test.db();
    let tenant = TenantId::parse("tenant-a").unwrap();
    let other = "tenant-b";
    let error = db
        .run(
            &TenantScope::Verified(&tenant),
            Access::ReadWrite,
            &[Stmt {
                sql: "INSERT INTO lead_activities (tenant_id, lead_id, channel, direction, status) VALUES ($1, 'x', 'email', 'out', 'sent')",
                params: &[(&other, Type::TEXT)],
            }],
        )
        .await
        .unwrap_err();
    assert_eq!(error.sqlstate(), Some("42501"), "{error}");
    let stored: i64 = test
        .owner()
        .await
        .query_one("SELECT count(*) FROM lead_activities", &[])
        .await
        .unwrap()
        .get(0);
    assert_eq!(stored, 0);
}

#[tokio::test]
async fn an_api_key_is_checked_by_the_database_for_tenant_scope_and_revocation() {
    let test = TestDb::new().await;
    let key_text = test.key("tenant-a", &[Scope::ReadAlerts]).await;
    let key = shared::tenancy::ApiKey::parse(&key_text).unwrap();
    let db = test.db();
    let run = |scope: Scope| {
        let db = db.clone();
        let key = key.clone();
        async move {
            db.run(
                &TenantScope::ApiKey { key: &key, scope },
                Access::ReadOnlySnapshot,
                &[Stmt {
                    sql: "SELECT current_setting('app.tenant_id')",
                    params: &[],
                }],
            )
            .await
        }
    };
    let rows = run(Scope::ReadAlerts).await.unwrap();
    assert_eq!(rows[0][0].get::<_, String>(0), "tenant-a");
    assert_eq!(
        run(Scope::ResolveAlerts).await.unwrap_err().sqlstate(),
        Some("MX403")
    );

    // The same secret presented for another tenant is unknown.
    let forged = key_text.replace("mxk_tenant-a_", "mxk_tenant-b_");
    let forged = shared::tenancy::ApiKey::parse(&forged).unwrap();
    let error = db
        .run(
            &TenantScope::ApiKey {
                key: &forged,
                scope: Scope::ReadAlerts,
            },
            Access::ReadOnlySnapshot,
            &[],
        )
        .await
        .unwrap_err();
    assert_eq!(error.sqlstate(), Some("MX401"));

    let mut owner = test.owner().await;
    let revoked = shared::admin::revoke_key(&mut owner, &key_text)
        .await
        .unwrap();
    assert_eq!(revoked.len(), 1);
    assert_eq!(
        run(Scope::ReadAlerts).await.unwrap_err().sqlstate(),
        Some("MX401")
    );
}

/// The counters must always equal a real count of active alerts.
async fn assert_counters_match(owner: &tokio_postgres::Client) {
    let mismatches: Vec<String> = owner
        .query(
            "WITH real AS (
                 SELECT tenant_id,
                        count(*) FILTER (WHERE severity = 'high') AS high,
                        count(*) FILTER (WHERE severity = 'medium') AS medium,
                        count(*) FILTER (WHERE severity = 'low') AS low,
                        count(*) FILTER (WHERE escalated_at IS NOT NULL) AS escalated
                   FROM max_alerts WHERE resolved_at IS NULL GROUP BY tenant_id)
             SELECT coalesce(r.tenant_id, c.tenant_id)
               FROM real r FULL JOIN max_alert_counters c USING (tenant_id)
              WHERE (coalesce(r.high, 0), coalesce(r.medium, 0), coalesce(r.low, 0), coalesce(r.escalated, 0))
                 <> (coalesce(c.high, 0), coalesce(c.medium, 0), coalesce(c.low, 0), coalesce(c.escalated, 0))",
            &[],
        )
        .await
        .unwrap()
        .iter()
        .map(|row| row.get(0))
        .collect();
    assert!(mismatches.is_empty(), "counters drifted for {mismatches:?}");
}

#[tokio::test]
async fn the_alert_counters_follow_every_kind_of_change() {
    let test = TestDb::new().await;
    let owner = test.owner().await;
    owner
        .batch_execute(
            "INSERT INTO max_alerts (tenant_id, lead_id, type, severity, message)
             SELECT CASE WHEN i % 3 = 0 THEN 't1' ELSE 't2' END, 'lead-' || i, 'NoContact7d',
                    (ARRAY['high', 'medium', 'low'])[1 + i % 3], 'm'
               FROM generate_series(1, 300) AS i",
        )
        .await
        .unwrap();
    assert_counters_match(&owner).await;
    owner
        .batch_execute("UPDATE max_alerts SET escalated_at = now() WHERE severity = 'high' AND lead_id LIKE 'lead-1%'")
        .await
        .unwrap();
    assert_counters_match(&owner).await;
    owner
        .batch_execute("UPDATE max_alerts SET severity = 'low' WHERE lead_id LIKE 'lead-2%'")
        .await
        .unwrap();
    assert_counters_match(&owner).await;
    owner
        .batch_execute(
            "UPDATE max_alerts SET resolved_at = now(), resolution = 'manual' WHERE lead_id LIKE '%5'",
        )
        .await
        .unwrap();
    assert_counters_match(&owner).await;
    owner
        .batch_execute("DELETE FROM max_alerts WHERE lead_id LIKE '%7'")
        .await
        .unwrap();
    assert_counters_match(&owner).await;
    owner.batch_execute("TRUNCATE max_alerts").await.unwrap();
    assert_counters_match(&owner).await;
}
