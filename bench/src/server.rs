//! The server under load: `max-local serve` (the functions' handlers behind the local gateway),
//! built in this binary's profile and started on a free port; and `cargo build` for this
//! workspace, which the cold start uses too.

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

/// The repository's root (this crate's parent folder).
pub(crate) fn repository() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("the bench crate lives in the repository")
}

/// `cargo build` for this workspace, wherever the benchmark is started from, in the profile of
/// the binaries in `dir` (named by its folder: `debug`, `release`, `profiling`).
pub fn cargo_build(dir: &Path) -> Command {
    let mut command = Command::new(std::env::var("CARGO").unwrap_or_else(|_| "cargo".into()));
    command
        .arg("build")
        .arg("--manifest-path")
        .arg(repository().join("Cargo.toml"));
    if let Some(profile) = dir.file_name().and_then(|name| name.to_str())
        && profile != "debug"
    {
        command.args(["--profile", profile]);
    }
    command
}

/// The max-local binary beside this one, built (or checked up to date) in the same profile.
fn max_local() -> PathBuf {
    let exe = std::env::current_exe().expect("current exe");
    let dir = exe.parent().expect("exe dir");
    let mut command = cargo_build(dir);
    command.args(["-p", "max-local"]);
    assert!(
        command.status().expect("cargo").success(),
        "cannot build max-local"
    );
    dir.join("max-local")
}

/// A running `max-local serve`, stopped when dropped.
pub(crate) struct Serve {
    child: std::process::Child,
    address: String,
}

impl Serve {
    /// The server's process id.
    pub(crate) fn pid(&self) -> u32 {
        self.child.id()
    }

    /// The address it listens on (`host:port`).
    pub(crate) fn address(&self) -> &str {
        &self.address
    }
}

impl Drop for Serve {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// `max-local serve` with at most `connections` database connections: the pool opens them as
/// requests need them, so at each concurrency up to it the server holds as many backends as
/// pgbench opens for the same concurrency.
pub(crate) fn serve(url: &str, connections: usize) -> Serve {
    let mut child = Command::new(max_local())
        .args(["serve", "--port", "0", "--evaluate-every", "0"])
        .env("DATABASE_URL", url)
        .env("RUST_LOG", "warn")
        .env("JWT_SECRET", "max-bench-secret-0123456789abcdefghij")
        .env("DB_POOL_SIZE", connections.to_string())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .expect("max-local serve");
    let stdout = child.stdout.take().expect("stdout");
    let mut lines = BufReader::new(stdout).lines();
    let mut address = None;
    for line in lines.by_ref().map_while(Result::ok) {
        if let Some(rest) = line.strip_prefix("Listening on http://") {
            address = Some(rest.trim().to_owned());
            break;
        }
    }
    // Keep reading what it prints later, so that it never writes to a closed pipe.
    std::thread::spawn(move || lines.for_each(drop));
    Serve {
        child,
        address: address.expect("max-local serve printed its address"),
    }
}
