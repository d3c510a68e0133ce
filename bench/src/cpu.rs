//! Where the processor time of a measurement goes: the CPU time (user + system) that the server,
//! this process (the load generator) and PostgreSQL's processes used, read from `/proc` before and
//! after. Divided by the requests served, it is each part's cost per request.

use serde::Serialize;

/// Linux reports process times in clock ticks of 1/100 s (`USER_HZ`).
const TICKS_PER_SECOND: f64 = 100.0;

/// CPU seconds used so far.
#[derive(Debug, Clone, Copy, Default)]
pub struct Snapshot {
    server: f64,
    load_generator: f64,
    postgres: f64,
}

/// CPU time per request, in microseconds.
#[derive(Debug, Clone, Copy, Default, Serialize)]
pub struct PerRequest {
    pub server_us: f64,
    pub load_generator_us: f64,
    pub postgres_us: f64,
}

/// A process's CPU time, and with `children`, that of its children that ended too.
fn process_seconds(pid: &str, children: bool) -> Option<f64> {
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

/// The CPU time of every process named `postgres`: the server, its backends, and the backends
/// that ended (counted in the server's children's time), such as pgbench's.
fn postgres_seconds() -> f64 {
    let Ok(entries) = std::fs::read_dir("/proc") else {
        return 0.0;
    };
    entries
        .filter_map(Result::ok)
        .filter_map(|entry| entry.file_name().into_string().ok())
        .filter(|pid| pid.bytes().all(|b| b.is_ascii_digit()))
        .filter(|pid| {
            std::fs::read_to_string(format!("/proc/{pid}/comm"))
                .is_ok_and(|comm| comm.trim() == "postgres")
        })
        .filter_map(|pid| process_seconds(&pid, true))
        .sum()
}

impl Snapshot {
    /// Now, for the server process `server` (or none).
    pub fn take(server: Option<u32>) -> Self {
        Self {
            server: server
                .and_then(|pid| process_seconds(&pid.to_string(), false))
                .unwrap_or(0.0),
            load_generator: process_seconds("self", false).unwrap_or(0.0),
            postgres: postgres_seconds(),
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
