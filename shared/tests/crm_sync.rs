//! The EspoCRM sync against a fake EspoCRM the tests start (the documented list endpoint, its
//! paging and filters), into a real database: a first full sync, an incremental one, a deleted
//! lead, 401, 429 with backoff, 500, a timeout, pages of 200; and no other tenant touched.

use std::time::{Duration, Instant};

use shared::admin;
use shared::config::Secret;
use shared::crm::sync::{Connection, Report, Settings, sync_tenant};
use shared::db::Db;
use shared::tenancy::TenantId;
use shared::testing::TestDb;
use shared::testing::espocrm::{FakeEspoCrm, FakeLead, Fault};
use shared::time::OffsetDateTime;
use shared::time::macros::datetime;

const KEY: &str = "espo-api-key-for-tests-0123456789";

struct Setup {
    test: TestDb,
    db: Db,
    crm: FakeEspoCrm,
    connection: Connection,
    tenant: TenantId,
}

async fn setup() -> Setup {
    let test = TestDb::new().await;
    let mut owner = test.owner().await;
    for tenant in ["macrea", "other"] {
        admin::ensure_tenant(&mut owner, &TenantId::parse(tenant).unwrap(), tenant)
            .await
            .unwrap();
    }
    let crm = FakeEspoCrm::start(KEY);
    let connection = Connection {
        url: crm.url(),
        api_key: Secret::new(KEY.to_owned()),
        country_code: Some("33".to_owned()),
    };
    Setup {
        db: test.db(),
        test,
        crm,
        connection,
        tenant: TenantId::parse("macrea").unwrap(),
    }
}

/// Quick retries, for tests.
fn settings() -> Settings {
    Settings {
        request_timeout: Duration::from_millis(500),
        first_wait: Duration::from_millis(20),
        max_wait: Duration::from_secs(2),
        ..Settings::default()
    }
}

async fn sync(setup: &Setup, settings: &Settings, full: bool) -> Report {
    sync_tenant(
        &setup.db,
        &setup.tenant,
        &setup.connection,
        settings,
        full,
        true,
    )
    .await
    .unwrap()
}

fn at(minute: i64) -> OffsetDateTime {
    datetime!(2026-11-20 08:00 UTC) + shared::time::Duration::minutes(minute)
}

/// (lead, name, phones, url, removed) of a tenant's directory, as the owner sees it.
async fn directory(
    test: &TestDb,
    tenant: &str,
) -> Vec<(String, Option<String>, Vec<String>, Option<String>, bool)> {
    test.owner()
        .await
        .query(
            "SELECT lead_id::text, name::text, phones::text[], crm_url::text, removed_at IS NOT NULL \
               FROM max_leads WHERE tenant_id = $1 ORDER BY lead_id",
            &[&tenant],
        )
        .await
        .unwrap()
        .iter()
        .map(|row| (row.get(0), row.get(1), row.get(2), row.get(3), row.get(4)))
        .collect()
}

fn fill(crm: &FakeEspoCrm, count: usize) {
    for n in 0..count {
        // Several leads per second of `modifiedAt`, as after an import.
        crm.put_lead(
            FakeLead::new(
                &format!("lead{n:04}"),
                &format!("Prénom{n} Nom{n}"),
                at((n / 7) as i64),
            )
            .with_phone(&format!("06 12 34 {:02} {:02}", n / 100, n % 100))
            .with_email(&format!("lead{n}@exemple.fr")),
        );
    }
}

#[tokio::test]
async fn a_first_sync_reads_every_lead_by_pages_of_200_and_fills_the_directory() {
    let setup = setup().await;
    fill(&setup.crm, 450);
    let report = sync(&setup, &settings(), false).await;
    assert_eq!(report.outcome, "ok", "{report:?}");
    assert!(report.full);
    assert_eq!(report.leads_written, 450);
    assert_eq!(report.phones_skipped, 0);

    let rows = directory(&setup.test, "macrea").await;
    assert_eq!(rows.len(), 450);
    let first = &rows[0];
    assert_eq!(first.0, "lead0000");
    assert_eq!(first.1.as_deref(), Some("Prénom0 Nom0"));
    assert_eq!(first.2, vec!["+33612340000".to_owned()]);
    assert_eq!(
        first.3.as_deref(),
        Some(format!("{}/#Lead/view/lead0000", setup.crm.url()).as_str())
    );

    // Pages of 200 asked as EspoCRM documents it, with the tenant's key.
    let requests = setup.crm.requests();
    assert!(requests.len() >= 3, "{requests:?}");
    for request in &requests {
        assert_eq!(request.api_key.as_deref(), Some(KEY));
        let param = |name: &str| {
            request
                .query
                .iter()
                .find(|(k, _)| k == name)
                .map(|(_, v)| v.as_str())
        };
        assert_eq!(param("maxSize"), Some("200"));
        assert_eq!(param("orderBy"), Some("modifiedAt"));
        assert_eq!(param("order"), Some("asc"));
    }
    // The numbers now lead the WhatsApp webhook to their lead.
    let mapped: i64 = setup
        .test
        .owner()
        .await
        .query_one(
            "SELECT count(*) FROM max_lead_phones WHERE tenant_id = 'macrea' AND from_directory",
            &[],
        )
        .await
        .unwrap()
        .get(0);
    assert_eq!(mapped, 450);
}

#[tokio::test]
async fn an_incremental_sync_asks_only_for_what_changed_since_the_last_one() {
    let setup = setup().await;
    fill(&setup.crm, 30);
    assert_eq!(sync(&setup, &settings(), false).await.outcome, "ok");
    setup.crm.put_lead(
        FakeLead::new("lead0003", "Renommée Trois", at(600)).with_phone("+44 20 7946 0958"),
    );
    setup
        .crm
        .put_lead(FakeLead::new("lead9999", "Nouvelle Venue", at(601)));
    let before = setup.crm.requests().len();

    let report = sync(&setup, &settings(), false).await;
    assert_eq!(report.outcome, "ok", "{report:?}");
    assert!(!report.full);
    // The two changes, and the leads of the last second already read (taken again, harmlessly).
    assert!(
        report.leads_read >= 2 && report.leads_read < 30,
        "{report:?}"
    );
    let asked = &setup.crm.requests()[before];
    let filter: Vec<&(String, String)> = asked
        .query
        .iter()
        .filter(|(k, _)| k.starts_with("where"))
        .collect();
    assert!(
        filter.iter().any(|(_, v)| v == "greaterThanOrEquals")
            && filter.iter().any(|(_, v)| v == "modifiedAt"),
        "{filter:?}"
    );
    let rows = directory(&setup.test, "macrea").await;
    assert_eq!(rows.len(), 31);
    let renamed = rows.iter().find(|row| row.0 == "lead0003").unwrap();
    assert_eq!(renamed.1.as_deref(), Some("Renommée Trois"));
    assert_eq!(renamed.2, vec!["+442079460958".to_owned()]);
}

#[tokio::test]
async fn a_lead_deleted_in_the_crm_loses_its_link_and_numbers_at_the_next_full_pass_but_keeps_its_name()
 {
    let setup = setup().await;
    fill(&setup.crm, 5);
    assert_eq!(sync(&setup, &settings(), false).await.outcome, "ok");
    setup.crm.delete_lead("lead0002");
    let report = sync(&setup, &settings(), true).await;
    assert_eq!(
        (report.outcome, report.leads_removed),
        ("ok", 1),
        "{report:?}"
    );
    let rows = directory(&setup.test, "macrea").await;
    let gone = rows.iter().find(|row| row.0 == "lead0002").unwrap();
    assert_eq!(gone.1.as_deref(), Some("Prénom2 Nom2"));
    assert_eq!((gone.3.clone(), gone.4), (None, true));
    assert!(gone.2.is_empty() || gone.4);
    let phones: i64 = setup
        .test
        .owner()
        .await
        .query_one(
            "SELECT count(*) FROM max_lead_phones WHERE lead_id = 'lead0002'",
            &[],
        )
        .await
        .unwrap()
        .get(0);
    assert_eq!(phones, 0);
    assert_eq!(rows.iter().filter(|row| row.4).count(), 1);
}

#[tokio::test]
async fn a_refused_key_stops_at_once_and_the_next_run_waits() {
    let setup = setup().await;
    fill(&setup.crm, 3);
    setup.crm.fail_next(&[Fault::Status(401)]);
    let report = sync(&setup, &settings(), false).await;
    assert_eq!(report.outcome, "unauthorized");
    assert_eq!(report.retries, 0);
    assert_eq!(setup.crm.requests().len(), 1);
    assert!(
        report
            .retry_after
            .is_some_and(|at| at > OffsetDateTime::now_utc())
    );
    assert!(directory(&setup.test, "macrea").await.is_empty());

    // The scheduled run respects the pause; an operator's command does not.
    let waiting = sync_tenant(
        &setup.db,
        &setup.tenant,
        &setup.connection,
        &settings(),
        false,
        false,
    )
    .await
    .unwrap();
    assert_eq!(waiting.outcome, "skipped");
    assert_eq!(setup.crm.requests().len(), 1);
    assert_eq!(sync(&setup, &settings(), false).await.outcome, "ok");
    let (outcome, failures): (String, i32) = {
        let row = setup
            .test
            .owner()
            .await
            .query_one(
                "SELECT last_outcome, failures FROM max_crm_syncs WHERE tenant_id = 'macrea'",
                &[],
            )
            .await
            .unwrap();
        (row.get(0), row.get(1))
    };
    assert_eq!((outcome.as_str(), failures), ("ok", 0));
}

#[tokio::test]
async fn rate_limiting_is_waited_out_as_the_crm_asks() {
    let setup = setup().await;
    fill(&setup.crm, 3);
    setup.crm.fail_next(&[
        Fault::TooManyRequests {
            retry_after_secs: 1,
        },
        Fault::TooManyRequests {
            retry_after_secs: 1,
        },
    ]);
    let started = Instant::now();
    let report = sync(&setup, &settings(), false).await;
    assert_eq!(
        (report.outcome, report.retries, report.leads_written),
        ("ok", 2, 3),
        "{report:?}"
    );
    assert!(
        started.elapsed() >= Duration::from_secs(2),
        "{:?}",
        started.elapsed()
    );
}

#[tokio::test]
async fn server_errors_are_retried_then_reported_and_what_was_written_stays() {
    let setup = setup().await;
    fill(&setup.crm, 3);
    setup.crm.fail_next(&[Fault::Status(500)]);
    let report = sync(&setup, &settings(), false).await;
    assert_eq!((report.outcome, report.retries), ("ok", 1), "{report:?}");

    let settings = settings();
    setup
        .crm
        .put_lead(FakeLead::new("lead0001", "Changée", at(900)));
    setup
        .crm
        .fail_next(&vec![Fault::Status(503); settings.attempts as usize]);
    let report = sync(&setup, &settings, false).await;
    assert_eq!(report.outcome, "server_error", "{report:?}");
    assert_eq!(report.retries, settings.attempts - 1);
    // The directory keeps its last known names.
    let rows = directory(&setup.test, "macrea").await;
    assert_eq!(rows.len(), 3);
    assert_eq!(rows[1].1.as_deref(), Some("Prénom1 Nom1"));
}

#[tokio::test]
async fn a_crm_slower_than_the_timeout_is_a_timeout_and_never_holds_up_logging() {
    let setup = setup().await;
    fill(&setup.crm, 3);
    let settings = Settings {
        attempts: 2,
        ..settings()
    };
    setup.crm.fail_next(&[
        Fault::Delay(Duration::from_secs(2)),
        Fault::Delay(Duration::from_secs(2)),
    ]);
    let logging = async {
        // Meanwhile the tenant's activities are logged as usual.
        tokio::time::sleep(Duration::from_millis(100)).await;
        let started = Instant::now();
        setup
            .test
            .owner()
            .await
            .batch_execute(
                "INSERT INTO lead_activities (tenant_id, lead_id, channel, direction, status) \
                 VALUES ('macrea', 'lead0001', 'call', 'out', 'completed')",
            )
            .await
            .unwrap();
        started.elapsed()
    };
    let (report, logged_in) = tokio::join!(sync(&setup, &settings, false), logging);
    assert_eq!(report.outcome, "timeout", "{report:?}");
    assert!(logged_in < Duration::from_millis(500), "{logged_in:?}");
}

#[tokio::test]
async fn a_sync_writes_only_its_own_tenants_directory() {
    let setup = setup().await;
    let owner = setup.test.owner().await;
    owner
        .batch_execute(
            "INSERT INTO max_leads (tenant_id, lead_id, name, phones, source) \
             VALUES ('other', 'lead0001', 'Lead d''un autre', '{+33612340001}', 'api')",
        )
        .await
        .unwrap();
    let before = directory(&setup.test, "other").await;
    fill(&setup.crm, 5);
    assert_eq!(sync(&setup, &settings(), true).await.outcome, "ok");
    setup.crm.delete_lead("lead0001");
    assert_eq!(sync(&setup, &settings(), true).await.leads_removed, 1);
    assert_eq!(directory(&setup.test, "other").await, before);
    let syncs: i64 = owner
        .query_one(
            "SELECT count(*) FROM max_crm_syncs WHERE tenant_id <> 'macrea'",
            &[],
        )
        .await
        .unwrap()
        .get(0);
    assert_eq!(syncs, 0);
}
