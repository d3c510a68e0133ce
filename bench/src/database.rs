//! The benchmark's database: where the PostgreSQL server is, what the database is named, and
//! creating, loading and dropping it.

use shared::admin;
use tokio_postgres::Client;

use crate::generate::{self, Scale, Statistics};

/// The PostgreSQL server the benchmark uses: `BENCH_DATABASE_URL`, or the local one.
pub(crate) fn server_url() -> String {
    std::env::var("BENCH_DATABASE_URL")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/postgres".to_owned())
}

/// The URL of the database `name` on the benchmark's server.
pub(crate) fn url_of(name: &str) -> String {
    admin::with_database(&server_url(), name).expect("url")
}

/// The benchmark's database: `max_bench_<scale>`, or `MAX_BENCH_DATABASE` when set (a name of
/// lowercase letters, digits and underscores).
pub(crate) fn database_name(scale: &Scale) -> String {
    match std::env::var("MAX_BENCH_DATABASE") {
        Ok(name) if !name.is_empty() => {
            assert!(
                name.bytes()
                    .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_'),
                "MAX_BENCH_DATABASE: lowercase letters, digits and underscores only"
            );
            name
        }
        _ => format!("max_bench_{}", scale.name),
    }
}

/// The data set of a name given on the command line: tiny, quick or full.
pub(crate) fn scale_named(name: &str) -> Scale {
    match name {
        "quick" => generate::QUICK,
        "tiny" => generate::TINY,
        "full" => generate::FULL,
        other => panic!("unknown scale {other}: tiny, quick or full"),
    }
}

/// A fresh `max_bench_<scale>` database, migrated and loaded with the data set, its statistics
/// refreshed or left stale.
pub(crate) async fn load_database(
    scale: &Scale,
    statistics: Statistics,
) -> (String, tokio_postgres::Client, generate::Loaded) {
    let name = database_name(scale);
    let admin_client = admin::connect(&server_url())
        .await
        .expect("reach PostgreSQL");
    for statement in [
        format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"),
        format!("CREATE DATABASE {name}"),
    ] {
        admin_client
            .batch_execute(&statement)
            .await
            .expect("create the benchmark database");
    }
    let url = url_of(&name);
    admin::migrate(&url).await.expect("migrate");

    println!("Loading the {} data set into {name}...", scale.name);
    let mut client = admin::connect(&url).await.expect("connect");
    let loaded = generate::load(&mut client, scale, statistics)
        .await
        .expect("load");
    println!(
        "  {} activities and {} alerts in {:.1} s",
        loaded.activities, loaded.alerts, loaded.seconds
    );
    (url, client, loaded)
}

/// The benchmark database an earlier run loaded: its URL, and a connection to it.
pub(crate) async fn connect(scale: &Scale) -> (String, tokio_postgres::Client) {
    let url = url_of(&database_name(scale));
    let client = admin::connect(&url)
        .await
        .expect("the benchmark database (run `all` or `generate` first)");
    (url, client)
}

/// A setting of the server (`SHOW`), as the report states it.
pub(crate) async fn show(client: &Client, setting: &str) -> String {
    client
        .query_one(&format!("SHOW {setting}"), &[])
        .await
        .expect("show a setting")
        .get(0)
}

/// Drops the benchmark database (`all --drop`).
pub(crate) async fn drop_database(scale: &Scale) {
    admin::connect(&server_url())
        .await
        .expect("reach PostgreSQL")
        .batch_execute(&format!(
            "DROP DATABASE IF EXISTS {} WITH (FORCE)",
            database_name(scale)
        ))
        .await
        .expect("drop the benchmark database");
}

/// Drops `name` and, with a `template`, creates it again as a copy of that database (its files
/// copied at once, not written block by block to the WAL).
pub(crate) async fn recreate(server: &Client, name: &str, template: Option<&str>) {
    server
        .batch_execute(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
        .await
        .expect("drop a copy");
    if let Some(template) = template {
        server
            .batch_execute(&format!(
                "CREATE DATABASE {name} TEMPLATE {template} STRATEGY FILE_COPY"
            ))
            .await
            .expect("copy the data set");
    }
}

/// A connection to the database `name` on the benchmark's server.
pub(crate) async fn connect_to(name: &str) -> Client {
    admin::connect(&url_of(name)).await.expect("connect")
}
