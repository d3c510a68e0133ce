//! TLS to the database: `sslmode=require` connects over TLS and verifies the server's certificate
//! (the local server's own, Debian's "snakeoil" certificate for `localhost`, stands in for
//! Supabase's or RDS's CA).

use shared::admin::parse_url;
use shared::config::PoolSettings;
use shared::db::Db;
use shared::testing::TestDb;

const LOCAL_CERT: &str = "/etc/ssl/certs/ssl-cert-snakeoil.pem";

fn over_tls(test: &TestDb, ca_cert: Option<&str>) -> Db {
    let url = format!(
        "{}?sslmode=require",
        test.url.replace("127.0.0.1", "localhost")
    );
    let settings = PoolSettings {
        ca_cert: ca_cert.map(str::to_owned),
        connect_timeout: std::time::Duration::from_secs(2),
        ..PoolSettings::default()
    };
    Db::connect_lazily(parse_url(&url).unwrap(), &settings, "max-test").unwrap()
}

#[tokio::test]
async fn sslmode_require_connects_over_tls_to_a_trusted_server() {
    let test = TestDb::new().await;
    let db = over_tls(&test, Some(LOCAL_CERT));
    let client = db.connection().await.expect("a TLS connection");
    let ssl: bool = client
        .query_one(
            "SELECT ssl FROM pg_stat_ssl WHERE pid = pg_backend_pid()",
            &[],
        )
        .await
        .unwrap()
        .get(0);
    assert!(ssl);
}

#[tokio::test]
async fn a_server_whose_certificate_is_not_trusted_is_refused() {
    let test = TestDb::new().await;
    let error = over_tls(&test, None).ping().await.unwrap_err();
    assert!(error.is_unavailable(), "{error}");
}

#[test]
fn a_ca_that_is_not_a_certificate_is_a_configuration_error() {
    let config = parse_url("postgres://u@localhost/db?sslmode=require").unwrap();
    let settings = PoolSettings {
        ca_cert: Some("/nonexistent/ca.pem".into()),
        ..PoolSettings::default()
    };
    assert!(Db::connect_lazily(config, &settings, "max-test").is_err());
}
