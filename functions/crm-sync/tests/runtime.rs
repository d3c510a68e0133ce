//! The built binary, run as Lambda runs it (polled by an emulated Runtime API, fed the scheduled
//! event of `events/`), against a fake EspoCRM: each tenant synced from its own secret, a tenant
//! without one reported, the key in no log line.

use shared::admin;
use shared::tenancy::TenantId;
use shared::testing::TestDb;
use shared::testing::espocrm::{FakeEspoCrm, FakeLead, Fault};
use shared::testing::lambda::{FunctionProcess, RuntimeApi};
use shared::time::OffsetDateTime;

const SCHEDULED: &str = include_str!("../../../events/scheduled-crm-sync.json");
const KEY: &str = "espo-key-0123456789-runtime-test";

#[tokio::test]
async fn each_scheduled_event_syncs_every_tenant_from_its_own_secret() {
    let test = TestDb::new().await;
    let mut owner = test.owner().await;
    for tenant in ["macrea", "acme", "nocrm"] {
        admin::ensure_tenant(&mut owner, &TenantId::parse(tenant).unwrap(), tenant)
            .await
            .unwrap();
    }
    let macrea_crm = FakeEspoCrm::start(KEY);
    macrea_crm.put_lead(
        FakeLead::new(
            "6571b2c3d4e5f6a7b",
            "Sophie Martin",
            OffsetDateTime::from_unix_timestamp(1_795_680_000).unwrap(),
        )
        .with_phone("+33 6 12 34 56 78"),
    );
    let acme_crm = FakeEspoCrm::start("another-key");
    acme_crm.fail_next(&[Fault::Status(401)]);
    let secrets =
        std::env::temp_dir().join(format!("crm-sync-runtime-{}.json", std::process::id()));
    std::fs::write(
        &secrets,
        serde_json::json!({
            "macrea": {"url": macrea_crm.url(), "apiKey": KEY},
            "acme": {"url": acme_crm.url(), "apiKey": "another-key"},
        })
        .to_string(),
    )
    .unwrap();

    let api = RuntimeApi::start().await;
    let function = FunctionProcess::start(
        env!("CARGO_BIN_EXE_crm-sync"),
        &api,
        &[
            ("DATABASE_URL", &test.url),
            ("CRM_TENANTS", "macrea, acme, nocrm"),
            ("CRM_SECRETS_FILE", secrets.to_str().unwrap()),
        ],
    );
    let reports = api.invoke(SCHEDULED).await.response();
    let outcome = |n: usize| (reports[n]["tenant"].clone(), reports[n]["outcome"].clone());
    assert_eq!(outcome(0), ("macrea".into(), "ok".into()), "{reports}");
    assert_eq!(reports[0]["leadsWritten"], 1, "{reports}");
    assert_eq!(
        outcome(1),
        ("acme".into(), "unauthorized".into()),
        "{reports}"
    );
    assert_eq!(
        outcome(2),
        ("nocrm".into(), "not_configured".into()),
        "{reports}"
    );

    // The next event: macrea has nothing new; acme waits after its failure.
    let again = api.invoke(SCHEDULED).await.response();
    assert_eq!(again[0]["leadsWritten"], 0, "{again}");
    assert_eq!(again[1]["outcome"], "skipped", "{again}");

    let name: String = owner
        .query_one(
            "SELECT name::text FROM max_leads WHERE tenant_id = 'macrea'",
            &[],
        )
        .await
        .unwrap()
        .get(0);
    assert_eq!(name, "Sophie Martin");
    let logs = function.stop();
    std::fs::remove_file(&secrets).unwrap();
    assert!(logs.contains("crm sync"), "{logs}");
    assert!(
        !logs.contains(KEY) && !logs.contains("another-key"),
        "{logs}"
    );
    assert!(
        !logs.contains(&macrea_crm.url()),
        "a CRM's address reached the logs: {logs}"
    );
}

#[tokio::test]
async fn in_the_cloud_each_tenants_connection_is_its_own_secrets_manager_secret() {
    use shared::testing::lambda::Moto;
    let moto = Moto::start();
    let test = TestDb::new().await;
    let mut owner = test.owner().await;
    for tenant in ["macrea", "nocrm"] {
        admin::ensure_tenant(&mut owner, &TenantId::parse(tenant).unwrap(), tenant)
            .await
            .unwrap();
    }
    let crm = FakeEspoCrm::start(KEY);
    crm.put_lead(
        FakeLead::new(
            "6571b2c3d4e5f6a7b",
            "Sophie Martin",
            OffsetDateTime::from_unix_timestamp(1_795_680_000).unwrap(),
        )
        .with_phone("06 12 34 56 78"),
    );
    let secret = serde_json::json!({"url": crm.url(), "apiKey": KEY, "countryCode": "33"});
    moto.aws(&[
        "secretsmanager",
        "create-secret",
        "--name",
        "max-alerts/espocrm/macrea",
        "--secret-string",
        &secret.to_string(),
    ]);

    let api = RuntimeApi::start().await;
    let mut env: Vec<(&str, String)> = moto.env();
    env.push(("DATABASE_URL", test.url.clone()));
    env.push(("CRM_TENANTS", "macrea,nocrm".to_owned()));
    env.push(("CRM_SECRET_PREFIX", "max-alerts/espocrm/".to_owned()));
    let env: Vec<(&str, &str)> = env.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let function = FunctionProcess::start(env!("CARGO_BIN_EXE_crm-sync"), &api, &env);
    let reports = api.invoke(SCHEDULED).await.response();
    assert_eq!(reports[0]["outcome"], "ok", "{reports}");
    assert_eq!(reports[0]["leadsWritten"], 1, "{reports}");
    assert_eq!(reports[1]["outcome"], "not_configured", "{reports}");
    let phones: Vec<String> = owner
        .query_one(
            "SELECT phones::text[] FROM max_leads WHERE tenant_id = 'macrea'",
            &[],
        )
        .await
        .unwrap()
        .get(0);
    assert_eq!(phones, ["+33612345678"]);
    let logs = function.stop();
    assert!(
        !logs.contains(KEY),
        "the CRM's key reached the logs: {logs}"
    );
}
