//! Where the processor time of a measurement goes: the CPU time (user + system) that the server,
//! this process (the load generator) and PostgreSQL's processes used, read from `/proc` before and
//! after. Divided by the requests served, it is each part's cost per request.

use serde::Serialize;

/// Linux reports process times in clock ticks of 1/100 s (`USER_HZ`).
const TICKS_PER_SECOND: f64 = 100.0;

/// CPU seconds used so far.
#[derive(Debug, Clone, Default)]
pub struct Snapshot {
    server: f64,
    load_generator: f64,
    postgres: f64,
    /// The PostgreSQL processes running then.
    postgres_pids: Vec<String>,
}

/// CPU time per request, in microseconds.
#[derive(Debug, Clone, Copy, Default, Serialize)]
pub struct PerRequest {
    pub server_us: f64,
    pub load_generator_us: f64,
    pub postgres_us: f64,
}

/// A process's CPU time, and with `children`, that of its children that ended too.
pub(crate) fn process_seconds(pid: &str, children: bool) -> Option<f64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // The fields after the command name, which is in parentheses and may hold spaces: utime and
    // stime are the 12th and 13th, cutime and cstime the next two.
    let fields: Vec<&str> = stat.rsplit_once(')')?.1.split_whitespace().collect();
    let ticks = |index: usize| fields.get(index).and_then(|f| f.parse::<f64>().ok());
    let mut total = ticks(11)? + ticks(12)?;
    if children {
        total += ticks(13)? + ticks(14)?;
    }
    Some(total / TICKS_PER_SECOND)
}

/// The processes named `postgres`: the server and its backends.
pub fn postgres_pids() -> Vec<String> {
    let Ok(entries) = std::fs::read_dir("/proc") else {
        return Vec::new();
    };
    entries
        .filter_map(Result::ok)
        .filter_map(|entry| entry.file_name().into_string().ok())
        .filter(|pid| pid.bytes().all(|b| b.is_ascii_digit()))
        .filter(|pid| {
            std::fs::read_to_string(format!("/proc/{pid}/comm"))
                .is_ok_and(|comm| comm.trim() == "postgres")
        })
        .collect()
}

/// Whether the process `pid` has ended and waits to be reaped (a zombie).
fn ended(pid: &str) -> bool {
    std::fs::read_to_string(format!("/proc/{pid}/stat")).is_ok_and(|stat| {
        stat.rsplit_once(')')
            .and_then(|(_, rest)| rest.split_whitespace().next())
            .is_some_and(|state| state == "Z" || state == "X")
    })
}

/// The CPU time of the PostgreSQL processes `pids`, with the backends that ended and were reaped
/// (counted in the server's children's time), such as pgbench's.
fn postgres_seconds(pids: &[String]) -> f64 {
    pids.iter()
        .filter_map(|pid| process_seconds(pid, true))
        .sum()
}

/// Waits (up to 5 s) until every PostgreSQL backend started since `earlier` has ended and been
/// reaped by the server: until then its time is in neither its own entry nor the server's
/// children's time, and a measurement would miss it.
pub fn settle(earlier: &Snapshot) {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(5);
    while std::time::Instant::now() < deadline
        && postgres_pids()
            .iter()
            .any(|pid| !earlier.postgres_pids.contains(pid))
    {
        std::thread::sleep(std::time::Duration::from_millis(10));
    }
}

impl Snapshot {
    /// Now, for the server process `server` (or none).
    pub fn take(server: Option<u32>) -> Self {
        // A backend that ended but is not reaped yet (a zombie) may show in neither its own entry
        // nor the server's children's time: wait for the server to reap it first.
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(5);
        let mut pids = postgres_pids();
        while std::time::Instant::now() < deadline && pids.iter().any(|pid| ended(pid)) {
            std::thread::sleep(std::time::Duration::from_millis(10));
            pids = postgres_pids();
        }
        Self {
            server: server
                .and_then(|pid| process_seconds(&pid.to_string(), false))
                .unwrap_or(0.0),
            load_generator: process_seconds("self", false).unwrap_or(0.0),
            postgres: postgres_seconds(&pids),
            postgres_pids: pids,
        }
    }

    /// What each part used since `earlier`, per request.
    pub fn per_request_since(&self, earlier: &Snapshot, requests: usize) -> PerRequest {
        let per = |now: f64, then: f64| (now - then).max(0.0) * 1e6 / requests.max(1) as f64;
        PerRequest {
            server_us: per(self.server, earlier.server),
            load_generator_us: per(self.load_generator, earlier.load_generator),
            postgres_us: per(self.postgres, earlier.postgres),
        }
    }
}
