//! The database on cores of its own. On one machine the load generator, the server and pgbench
//! take their processor time from the cores PostgreSQL runs on, so a route's throughput over
//! pgbench's measures how much CPU the HTTP side takes as much as how well it uses the database.
//! Split, PostgreSQL's processes (and every backend it starts later) run on the first half of the
//! cores, and this process, the server and pgbench on the rest: PostgreSQL has the same processor
//! time under the functions as under pgbench, as where the functions run on other machines.
//!
//! Uses `taskset` (util-linux). Setting another user's processes' affinity needs the right to
//! (root, or CAP_SYS_NICE); without it the split is skipped and the reason reported.

use std::process::{Command, Stdio};
use std::sync::Mutex;

use crate::cpu;

/// The cores each side runs on, as `taskset` lists (`0`, `0-1`, `2,3`).
#[derive(Debug, Clone, serde::Serialize)]
pub struct Split {
    pub database: String,
    pub clients: String,
}

/// What to put back: each process's affinity before the split.
struct Saved {
    postgres: String,
    own: String,
    server: Option<(u32, String)>,
}

static SAVED: Mutex<Option<Saved>> = Mutex::new(None);

/// The cores process `pid` (or `self`) may run on, as `taskset` lists them.
fn allowed(pid: &str) -> Option<String> {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .ok()?
        .lines()
        .find_map(|line| line.strip_prefix("Cpus_allowed_list:"))
        .map(|list| list.trim().to_owned())
}

/// Sets the affinity of every thread of `pid`.
fn pin(pid: &str, cores: &str) -> Result<(), String> {
    let status = Command::new("taskset")
        .args(["-a", "-p", "-c", cores, pid])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .map_err(|error| format!("taskset: {error}"))?;
    if status.success() {
        Ok(())
    } else {
        Err(format!(
            "taskset could not move process {pid} (the right to set another user's affinity is \
             needed)"
        ))
    }
}

/// The split for this machine, or why the cores cannot be split.
pub fn plan() -> Result<Split, String> {
    let cores: Vec<usize> = expand(&allowed("self").ok_or("no /proc/self/status")?);
    if cores.len() < 2 {
        return Err(format!("{} core(s) only", cores.len()));
    }
    let (database, clients) = cores.split_at(cores.len().div_ceil(2));
    let list = |cores: &[usize]| {
        cores
            .iter()
            .map(usize::to_string)
            .collect::<Vec<_>>()
            .join(",")
    };
    Ok(Split {
        database: list(database),
        clients: list(clients),
    })
}

/// `0-2,5` → [0, 1, 2, 5].
fn expand(list: &str) -> Vec<usize> {
    list.split(',')
        .filter_map(|part| match part.split_once('-') {
            Some((from, to)) => {
                Some((from.trim().parse().ok()?..=to.trim().parse().ok()?).collect())
            }
            None => part.trim().parse().ok().map(|core| vec![core]),
        })
        .flatten()
        .collect()
}

/// While alive, the cores are split; dropping it (or a panic, see [`restore_on_panic`]) puts
/// every process back.
pub struct Applied(());

impl Drop for Applied {
    fn drop(&mut self) {
        restore();
    }
}

impl Split {
    /// Moves PostgreSQL's processes (and so every backend it starts later) to the database's
    /// cores, and this process and `server` to the clients'.
    pub fn apply(&self, server: Option<u32>) -> Result<Applied, String> {
        let postgres = cpu::postgres_pids();
        let first = postgres
            .first()
            .ok_or("no PostgreSQL process on this machine")?;
        let saved = Saved {
            postgres: allowed(first).ok_or("PostgreSQL's affinity is unknown")?,
            own: allowed("self").ok_or("no /proc/self/status")?,
            server: server.and_then(|pid| Some((pid, allowed(&pid.to_string())?))),
        };
        *SAVED.lock().unwrap_or_else(|e| e.into_inner()) = Some(saved);
        let applied = Applied(());
        pin_postgres(postgres, &self.database)?;
        pin(&std::process::id().to_string(), &self.clients)?;
        if let Some(pid) = server {
            pin(&pid.to_string(), &self.clients)?;
        }
        Ok(applied)
    }
}

/// Moves PostgreSQL's processes `pids` to `cores`. Backends started meanwhile follow the
/// server's process once it has moved: lists again until no new process shows up.
fn pin_postgres(mut pids: Vec<String>, cores: &str) -> Result<(), String> {
    let mut moved: Vec<String> = Vec::new();
    while !pids.is_empty() {
        for pid in &pids {
            // A backend may end between the listing and now: only the live ones must move.
            if let Err(error) = pin(pid, cores)
                && std::path::Path::new(&format!("/proc/{pid}")).exists()
            {
                return Err(error);
            }
        }
        moved.append(&mut pids);
        pids = cpu::postgres_pids()
            .into_iter()
            .filter(|pid| !moved.contains(pid))
            .collect();
    }
    Ok(())
}

/// Puts every process back as it was before the split (nothing when none is in force).
pub fn restore() {
    let Some(saved) = SAVED.lock().unwrap_or_else(|e| e.into_inner()).take() else {
        return;
    };
    let _ = pin_postgres(cpu::postgres_pids(), &saved.postgres);
    let _ = pin(&std::process::id().to_string(), &saved.own);
    if let Some((pid, cores)) = saved.server {
        let _ = pin(&pid.to_string(), &cores);
    }
}

/// A panic (which aborts in release builds, running no destructor) first puts PostgreSQL back on
/// all its cores.
pub fn restore_on_panic() {
    let previous = std::panic::take_hook();
    std::panic::set_hook(Box::new(move |info| {
        restore();
        previous(info);
    }));
}

#[cfg(test)]
mod tests {
    use super::expand;

    #[test]
    fn core_lists_expand_as_taskset_writes_them() {
        assert_eq!(expand("0-1"), vec![0, 1]);
        assert_eq!(expand("0,2-4,7"), vec![0, 2, 3, 4, 7]);
        assert_eq!(expand("3"), vec![3]);
        assert!(expand("").is_empty());
    }
}
