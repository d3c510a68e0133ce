//! The HTTP contract: schemathesis generates requests from `docs/openapi.json` (valid ones and
//! invalid ones) and sends them to `max-local serve`, with a valid key, a well-formed unknown key
//! and no key at all. Every check it has must pass: no 5xx, no answer the document does not
//! describe, no request the document allows that the server refuses, no invalid request accepted.
//!
//! Needs schemathesis on PATH (scripts/test installs it from infra/requirements.txt).

mod support;

use std::path::Path;
use std::process::Command;

use shared::testing::{TestDb, UNKNOWN_KEY};

/// Examples per operation and phase: enough to reach every keyword of the document, few enough
/// for the three runs to take about a minute.
const MAX_EXAMPLES: &str = "40";
const SEED: &str = "20261201";

/// `max-local serve` on its own database, killed when dropped.
struct Serve(support::Launched);

impl Drop for Serve {
    fn drop(&mut self) {
        let _ = self.0.child.kill();
        let _ = self.0.child.wait();
    }
}

fn serve(test: &TestDb) -> Serve {
    Serve(support::launch(|command| {
        command
            .args(["--evaluate-every", "0"])
            .env("DATABASE_URL", &test.url)
            .env("RUST_LOG", "warn")
            .env("JWT_SECRET", "contract-tests-secret-0123456789abcdef");
    }))
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
    // It did test something: each of the operations, in every phase.
    assert!(
        report.contains("Tested: 12"),
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
    let (runtime, test) = support::database();
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
    let (base, key) = (&server.0.base, server.0.key.as_deref().unwrap());
    schemathesis(base, "with a valid key", &bearer(key));
    schemathesis(base, "with an unknown key", &bearer(UNKNOWN_KEY));
    schemathesis(base, "without a key", &[]);
    drop(server);
}
