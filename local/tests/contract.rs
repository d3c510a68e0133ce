//! The HTTP contract: schemathesis generates requests from `docs/openapi.json` (valid ones and
//! invalid ones) and sends them to `max-local serve`, with a valid key, a well-formed unknown key
//! and no key at all. Every check it has must pass: no 5xx, no answer the document does not
//! describe, no request the document allows that the server refuses, no invalid request accepted.
//!
//! Needs schemathesis on PATH (scripts/test installs it from infra/requirements.txt).

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;

use shared::testing::{TestDb, UNKNOWN_KEY};

const BIN: &str = env!("CARGO_BIN_EXE_max-local");
/// Examples per operation and phase: enough to reach every keyword of the document, few enough
/// for the three runs to take about a minute.
const MAX_EXAMPLES: &str = "40";
const SEED: &str = "20261201";

/// `max-local serve` on a free port and its own database, killed when dropped.
struct Serve {
    child: Child,
    base: String,
    key: String,
}

impl Drop for Serve {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn serve(test: &TestDb) -> Serve {
    let mut child = Command::new(BIN)
        .args(["serve", "--port", "0", "--evaluate-every", "0"])
        .env("DATABASE_URL", &test.url)
        .env("RUST_LOG", "warn")
        .env("JWT_SECRET", "contract-tests-secret-0123456789abcdef")
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .expect("max-local starts");
    let stdout = child.stdout.take().unwrap();
    let (lines_tx, lines_rx) = mpsc::channel();
    // Reads serve's output to its end, so that serve never writes to a closed pipe.
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            let _ = lines_tx.send(line);
        }
    });
    let (mut key, mut base) = (None, None);
    while key.is_none() || base.is_none() {
        let line = lines_rx
            .recv_timeout(Duration::from_secs(60))
            .expect("max-local serve printed its key and address");
        if line.starts_with("API key") {
            key = line.split_whitespace().last().map(str::to_owned);
        }
        if let Some(address) = line.strip_prefix("Listening on ") {
            base = Some(address.trim().to_owned());
        }
    }
    Serve {
        child,
        base: base.unwrap(),
        key: key.unwrap(),
    }
}

/// Runs schemathesis against `base` with these extra arguments; panics with its report unless
/// every check passed.
fn schemathesis(base: &str, label: &str, extra: &[String]) {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let reports = tempdir(label);
    let output = Command::new("schemathesis")
        .current_dir(&reports)
        .env("PYTHONPATH", root.join("local/tests/schemathesis"))
        .env("SCHEMATHESIS_HOOKS", "hooks")
        .env("NO_COLOR", "1")
        .arg("run")
        .arg(root.join("docs/openapi.json"))
        .args([
            "--url",
            base,
            "--checks",
            "all",
            "--max-examples",
            MAX_EXAMPLES,
        ])
        .args(["--seed", SEED, "--generation-database", "none"])
        .args(["--request-timeout", "10", "--workers", "1"])
        .args(extra)
        .output()
        .expect("schemathesis runs (scripts/test installs it into target/py)");
    let _ = std::fs::remove_dir_all(&reports);
    let report = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success(),
        "schemathesis found failures {label}:\n{report}\n{}",
        String::from_utf8_lossy(&output.stderr)
    );
    // It did test something: each of the four operations, in every phase.
    assert!(
        report.contains("Tested: 4"),
        "schemathesis tested every operation {label}:\n{report}"
    );
    for phase in ["Examples", "Coverage", "Fuzzing", "Stateful"] {
        assert!(
            report.contains(&format!("✅ {phase}")),
            "schemathesis ran its {phase} phase {label}:\n{report}"
        );
    }
    println!("schemathesis {label}:\n{report}");
}

/// A folder of its own for schemathesis's working files (it writes a cache where it runs).
fn tempdir(label: &str) -> std::path::PathBuf {
    let dir = std::env::temp_dir().join(format!(
        "max-contract-{}-{}",
        std::process::id(),
        label.replace(' ', "-")
    ));
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

#[test]
fn the_server_does_what_the_openapi_document_says_with_any_credential() {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let test = runtime.block_on(TestDb::new());
    let server = serve(&test);
    // Alerts to list, page through and resolve (the document links the list to the resolution).
    runtime.block_on(async {
        let owner = test.owner().await;
        owner
            .batch_execute(
                "INSERT INTO max_alerts (tenant_id, lead_id, type, severity, message)
                 SELECT 'macrea', 'lead_' || n, 'NoContact7d', 'high', 'Sans contact depuis 7 jours'
                 FROM generate_series(1, 60) AS n",
            )
            .await
            .unwrap();
    });

    let bearer = |key: &str| vec!["-H".to_owned(), format!("Authorization: Bearer {key}")];
    schemathesis(&server.base, "with a valid key", &bearer(&server.key));
    schemathesis(&server.base, "with an unknown key", &bearer(UNKNOWN_KEY));
    schemathesis(&server.base, "without a key", &[]);
    drop(server);
}
