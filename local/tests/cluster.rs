//! A fresh machine: with DATABASE_URL unset and nothing usable on the default address, max-local
//! makes a PostgreSQL cluster of its own, says so, and reuses it; a database it cannot reach is
//! named with the cause and the fix.

use std::os::unix::fs::MetadataExt;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use shared::testing::server_url;

const BIN: &str = env!("CARGO_BIN_EXE_max-local");
/// PostgreSQL refuses to run as root: as root, the test runs max-local as `nobody`.
const NOBODY: u32 = 65534;

fn as_root() -> bool {
    std::fs::metadata("/proc/self").is_ok_and(|meta| meta.uid() == 0)
}

/// max-local with a clean environment: no DATABASE_URL, the data folder `home`.
fn max_local(home: &Path, args: &[&str], env: &[(&str, String)]) -> Output {
    let mut command = Command::new(BIN);
    command
        .args(args)
        .env_clear()
        .env("PATH", std::env::var_os("PATH").unwrap_or_default())
        .env("HOME", home)
        .env("XDG_DATA_HOME", home.join("data"))
        .env("RUST_LOG", "warn")
        .envs(env.iter().map(|(name, value)| (name, value)));
    if as_root() {
        command.uid(NOBODY).gid(NOBODY);
    }
    command.output().expect("max-local runs")
}

fn text(output: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    )
}

/// A loopback port nothing listens on.
fn closed_port() -> u16 {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    listener.local_addr().unwrap().port()
}

/// A folder of the test's own, owned by whoever runs max-local; stops the cluster in it and
/// removes it when dropped.
struct Home(PathBuf);

impl Home {
    fn new(name: &str) -> Self {
        let path = std::env::temp_dir().join(format!("max-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&path);
        std::fs::create_dir_all(&path).unwrap();
        if as_root() {
            std::os::unix::fs::chown(&path, Some(NOBODY), Some(NOBODY)).unwrap();
        }
        Self(path)
    }

    fn cluster(&self) -> PathBuf {
        self.0.join("data/max-local/postgres")
    }
}

impl Drop for Home {
    fn drop(&mut self) {
        if self.cluster().join("postmaster.pid").exists() {
            let pid = std::fs::read_to_string(self.cluster().join("postmaster.pid"))
                .ok()
                .and_then(|text| text.lines().next().map(str::to_owned));
            if let Some(pid) = pid {
                // Fast shutdown, as pg_ctl stop does.
                let _ = Command::new("kill").args(["-INT", &pid]).status();
                for _ in 0..100 {
                    if !self.cluster().join("postmaster.pid").exists() {
                        break;
                    }
                    std::thread::sleep(std::time::Duration::from_millis(100));
                }
            }
        }
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

#[test]
fn without_a_usable_postgresql_max_local_makes_a_cluster_of_its_own_and_reuses_it() {
    let home = Home::new("cluster");
    let port = closed_port().to_string();
    let env = [("PGPORT", port.clone())];

    let first = max_local(&home.0, &["migrate"], &env);
    let said = text(&first);
    assert!(first.status.success(), "{said}");
    // It says why and where, and what it did.
    assert!(
        said.contains(&format!("127.0.0.1:{port}/max_local: connection refused")),
        "{said}"
    );
    assert!(
        said.contains("Creating a PostgreSQL cluster of max-local's own in"),
        "{said}"
    );
    assert!(
        said.contains(&home.cluster().display().to_string()),
        "{said}"
    );
    assert!(said.contains("Migrations applied: V1__core"), "{said}");

    // Trust on its own socket only: no TCP, the socket in a folder only its user reaches.
    let conf = std::fs::read_to_string(home.cluster().join("postgresql.conf")).unwrap();
    assert!(conf.contains("listen_addresses = ''"), "{conf}");
    let hba = std::fs::read_to_string(home.cluster().join("pg_hba.conf")).unwrap();
    let rules: Vec<&str> = hba
        .lines()
        .filter(|line| !line.trim_start().starts_with('#') && !line.trim().is_empty())
        .collect();
    assert!(
        rules
            .iter()
            .all(|rule| rule.starts_with("local") || rule.ends_with("reject")),
        "{rules:?}"
    );
    assert!(home.cluster().join(".s.PGSQL.5432").exists());
    let mode = std::fs::metadata(home.cluster()).unwrap().mode() & 0o777;
    assert_eq!(mode, 0o700, "the cluster's folder is private");

    // Next time it is reused, not made again, and holds what was done before.
    let created = max_local(&home.0, &["create-key", "--tenant", "acme"], &env);
    assert!(created.status.success(), "{}", text(&created));
    let listed = max_local(&home.0, &["list-keys", "--tenant", "acme"], &env);
    let said = text(&listed);
    assert!(listed.status.success(), "{said}");
    assert!(
        said.contains("(DATABASE_URL is not set: max-local's own cluster"),
        "{said}"
    );
    assert!(!said.contains("Creating"), "{said}");
    assert!(
        said.contains("mxk_acme_"),
        "the key made before is listed: {said}"
    );
}

#[test]
fn a_database_that_cannot_be_reached_is_named_with_the_cause_and_the_fix() {
    let home = Home::new("unreachable");
    let server: tokio_postgres::Config = server_url().parse().unwrap();
    let host = match &server.get_hosts()[0] {
        tokio_postgres::config::Host::Tcp(host) => host.clone(),
        other => panic!("the test server is reached over TCP, not {other:?}"),
    };
    let port = server.get_ports()[0];

    let closed = closed_port();
    let url = format!("postgres://postgres:hunter2@127.0.0.1:{closed}/max_local");
    let refused = max_local(&home.0, &["migrate"], &[("DATABASE_URL", url)]);
    let said = text(&refused);
    assert!(!refused.status.success());
    assert!(
        said.contains(&format!(
            "cannot connect to postgres://postgres@127.0.0.1:{closed}/max_local: connection refused"
        )),
        "{said}"
    );
    assert!(said.contains("set DATABASE_URL"), "{said}");
    assert!(!said.contains("hunter2"), "no password in messages: {said}");

    let url = format!("postgres://no_such_role_here@{host}:{port}/max_local");
    let unknown = max_local(&home.0, &["migrate"], &[("DATABASE_URL", url)]);
    let said = text(&unknown);
    assert!(!unknown.status.success());
    assert!(said.contains("authentication refused"), "{said}");
    assert!(said.contains("no_such_role_here"), "{said}");

    // A role that may log in but not create the database it is given.
    let role = format!("max_no_createdb_{}", std::process::id());
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let admin = runtime
        .block_on(shared::admin::connect(&server_url()))
        .unwrap();
    runtime
        .block_on(admin.batch_execute(&format!("CREATE ROLE {role} LOGIN")))
        .unwrap();
    let url = format!("postgres://{role}@{host}:{port}/max_missing_{role}");
    let denied = max_local(&home.0, &["migrate"], &[("DATABASE_URL", url)]);
    runtime
        .block_on(admin.batch_execute(&format!("DROP ROLE {role}")))
        .unwrap();
    let said = text(&denied);
    assert!(!denied.status.success());
    assert!(
        said.contains(&format!(
            "there is no database max_missing_{role} at postgres://{role}@{host}:{port}/max_missing_{role} and role {role} may not create it"
        )),
        "{said}"
    );
    assert!(said.contains("CREATEDB"), "{said}");
}
