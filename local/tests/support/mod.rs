//! Starting `max-local serve` for the tests that talk to it: what it printed at start (its
//! address, the demo key and dashboard link), and its output read to the end, so that it never
//! writes to a closed pipe.

// Each test file uses the part it needs.
#![allow(dead_code)]

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex, mpsc};
use std::time::Duration;

pub const BIN: &str = env!("CARGO_BIN_EXE_max-local");

/// A `max-local serve` that has said where it listens.
pub struct Launched {
    pub child: Child,
    /// `http://127.0.0.1:<port>`.
    pub base: String,
    pub port: u16,
    /// The demo key, unless it was started with `--no-demo`.
    pub key: Option<String>,
    /// The signed-in dashboard link, with the demo key.
    pub dashboard: Option<String>,
    /// Every line it wrote to stderr so far (its logs), also passed on to the test's stderr.
    pub stderr: Arc<Mutex<Vec<String>>>,
}

/// `max-local serve` on a free port, with the options and environment `configure` adds.
pub fn launch(configure: impl FnOnce(&mut Command)) -> Launched {
    let mut command = Command::new(BIN);
    command.args(["serve", "--port", "0"]).stdin(Stdio::null());
    configure(&mut command);
    let mut child = command
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("max-local starts");
    let stderr = Arc::new(Mutex::new(Vec::new()));
    let (pipe, logs) = (child.stderr.take().unwrap(), Arc::clone(&stderr));
    std::thread::spawn(move || {
        for line in BufReader::new(pipe).lines().map_while(Result::ok) {
            eprintln!("{line}");
            logs.lock().unwrap().push(line);
        }
    });
    let stdout = child.stdout.take().unwrap();
    let (lines_tx, lines) = mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            let _ = lines_tx.send(line);
        }
    });
    let (mut key, mut base, mut dashboard) = (None, None, None);
    // The key comes before the address, the dashboard link (with a key only) after it.
    while base.is_none() || (key.is_some() && dashboard.is_none()) {
        let line = lines
            .recv_timeout(Duration::from_secs(60))
            .unwrap_or_else(|_| {
                panic!(
                    "max-local serve printed no address; stderr: {:?}",
                    stderr.lock().unwrap()
                )
            });
        if line.starts_with("API key") {
            key = line.split_whitespace().last().map(str::to_owned);
        }
        if let Some(address) = line.strip_prefix("Listening on ") {
            base = Some(address.trim().to_owned());
        }
        if line.starts_with("Dashboard") {
            dashboard = line.split_whitespace().last().map(str::to_owned);
        }
    }
    let base = base.unwrap();
    let port = base
        .rsplit(':')
        .next()
        .and_then(|port| port.parse().ok())
        .expect("the address ends with its port");
    Launched {
        child,
        base,
        port,
        key,
        dashboard,
        stderr,
    }
}

/// A runtime for the test's own database calls, and a fresh database.
pub fn database() -> (tokio::runtime::Runtime, shared::testing::TestDb) {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let test = runtime.block_on(shared::testing::TestDb::new());
    (runtime, test)
}

/// Runs `query` on the test's database as the tables' owner.
pub fn sql(
    runtime: &tokio::runtime::Runtime,
    test: &shared::testing::TestDb,
    query: &str,
) -> Vec<tokio_postgres::Row> {
    runtime.block_on(async {
        test.owner()
            .await
            .query(query, &[])
            .await
            .expect("SQL runs")
    })
}
