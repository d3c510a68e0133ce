//! A private PostgreSQL cluster of max-local's own, for a machine where PostgreSQL's server programs
//! are installed but nothing usable answers on the default address (Debian and Ubuntu let the
//! `postgres` role in only through its own Unix account; Homebrew has no `postgres` role; or no
//! server runs at all).
//!
//! It lives in the user's data folder (`~/.local/share/max-local/postgres` on Linux, or under
//! `$XDG_DATA_HOME`; `~/Library/Application Support/max-local/postgres` on macOS), listens on no
//! TCP port, and trusts only connections through its own Unix socket, which is in that folder
//! (mode 0700: only this user reaches it). Started when a command needs it and left running for
//! the next one; `pg_ctl -D <folder> stop` stops it.

use std::path::{Path, PathBuf};
use std::process::Command;

use super::Error;

/// The socket's port number (it names the socket file; no TCP port is opened).
const PORT: u16 = 5432;

pub struct Cluster {
    data: PathBuf,
}

impl Cluster {
    /// The cluster in the user's data folder, whether or not it exists yet.
    pub fn in_data_folder() -> Option<Self> {
        dirs::data_local_dir().map(|folder| Self {
            data: folder.join("max-local").join("postgres"),
        })
    }

    pub fn folder(&self) -> &Path {
        &self.data
    }

    /// Whether initdb has made it.
    pub fn exists(&self) -> bool {
        self.data.join("PG_VERSION").is_file()
    }

    /// The URL of its database `database`, through its socket, as the superuser `postgres`.
    pub fn url(&self, database: &str) -> String {
        socket_url(&self.data, PORT, "postgres", database)
    }

    /// Makes it: initdb, trust on the socket only, no TCP.
    pub fn create(&self) -> Result<(), Error> {
        let bin = server_programs()?;
        std::fs::create_dir_all(&self.data).map_err(|error| {
            Error::new(format!("cannot create {}: {error}", self.data.display()))
        })?;
        run(
            Command::new(bin.join("initdb"))
                .arg("--pgdata")
                .arg(&self.data)
                .args([
                    "--username",
                    "postgres",
                    "--encoding",
                    "UTF8",
                    "--locale",
                    "C",
                ])
                .args(["--auth-local", "trust", "--auth-host", "reject"])
                .arg("--no-instructions"),
            "initdb",
        )?;
        let settings = format!(
            "\n# max-local's private cluster: its own socket only, no TCP.\n\
             listen_addresses = ''\n\
             port = {PORT}\n\
             unix_socket_directories = '{}'\n\
             unix_socket_permissions = 0700\n",
            self.data.display().to_string().replace('\'', "''")
        );
        let conf = self.data.join("postgresql.conf");
        let mut text = std::fs::read_to_string(&conf)
            .map_err(|error| Error::new(format!("cannot read {}: {error}", conf.display())))?;
        text.push_str(&settings);
        std::fs::write(&conf, text)
            .map_err(|error| Error::new(format!("cannot write {}: {error}", conf.display())))
    }

    /// Starts it unless it runs; returns whether it was started now.
    pub fn start(&self) -> Result<bool, Error> {
        let bin = server_programs()?;
        let running = Command::new(bin.join("pg_ctl"))
            .arg("status")
            .arg("--pgdata")
            .arg(&self.data)
            .output()
            .is_ok_and(|output| output.status.success());
        if running {
            return Ok(false);
        }
        run(
            Command::new(bin.join("pg_ctl"))
                .arg("start")
                .arg("--pgdata")
                .arg(&self.data)
                .arg("--log")
                .arg(self.data.join("server.log"))
                .args(["--wait", "--timeout", "60", "--silent"]),
            "pg_ctl start",
        )
        .map_err(|error| {
            Error::new(format!(
                "{error} (its log: {})",
                self.data.join("server.log").display()
            ))
        })?;
        Ok(true)
    }
}

/// A `postgres://` URL through the Unix socket in `folder` (the path percent-encoded as the host,
/// as libpq and tokio-postgres read it).
pub fn socket_url(folder: &Path, port: u16, user: &str, database: &str) -> String {
    let host: String = folder
        .display()
        .to_string()
        .bytes()
        .map(|byte| match byte {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'.' | b'_' | b'~' => {
                char::from(byte).to_string()
            }
            _ => format!("%{byte:02X}"),
        })
        .collect();
    format!("postgres://{user}@{host}:{port}/{database}")
}

/// Runs a server program; its own words when it fails.
fn run(command: &mut Command, what: &str) -> Result<(), Error> {
    let output = command
        .output()
        .map_err(|error| Error::new(format!("cannot run {what}: {error}")))?;
    if output.status.success() {
        return Ok(());
    }
    let said = String::from_utf8_lossy(&output.stderr);
    Err(Error::new(format!("{what} failed: {}", said.trim())))
}

/// The folder holding `initdb` and `pg_ctl`: on PATH, where `pg_config` says, or where Debian,
/// Red Hat and Homebrew put them (the newest version first).
fn server_programs() -> Result<PathBuf, Error> {
    let has_both = |dir: &Path| dir.join("initdb").is_file() && dir.join("pg_ctl").is_file();
    let mut candidates: Vec<PathBuf> = std::env::var_os("PATH")
        .map(|path| std::env::split_paths(&path).collect())
        .unwrap_or_default();
    if let Ok(output) = Command::new("pg_config").arg("--bindir").output() {
        let dir = String::from_utf8_lossy(&output.stdout).trim().to_owned();
        if output.status.success() && !dir.is_empty() {
            candidates.push(dir.into());
        }
    }
    for (parent, prefix, suffix) in [
        ("/usr/lib/postgresql", "", "bin"),
        ("/usr", "pgsql-", "bin"),
        ("/opt/homebrew/opt", "postgresql", "bin"),
        ("/usr/local/opt", "postgresql", "bin"),
    ] {
        let mut found: Vec<(Vec<u32>, PathBuf)> = std::fs::read_dir(parent)
            .into_iter()
            .flatten()
            .flatten()
            .filter_map(|entry| {
                let name = entry.file_name().to_string_lossy().into_owned();
                let version = name.strip_prefix(prefix)?;
                let version = version.trim_start_matches('@');
                let key = version
                    .split('.')
                    .map(|part| part.parse().unwrap_or(0))
                    .collect();
                Some((key, entry.path().join(suffix)))
            })
            .collect();
        found.sort_by(|a, b| b.0.cmp(&a.0));
        candidates.extend(found.into_iter().map(|(_, dir)| dir));
    }
    candidates.into_iter().find(|dir| has_both(dir)).ok_or_else(|| {
        Error::new(
            "PostgreSQL's server programs (initdb, pg_ctl) are not installed: install PostgreSQL \
             (Debian and Ubuntu: apt-get install postgresql; macOS: brew install postgresql), \
             or set DATABASE_URL to a server that runs",
        )
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_socket_folder_is_the_urls_host_percent_encoded() {
        let url = socket_url(
            Path::new("/home/ana/.local/share/max local"),
            5432,
            "postgres",
            "db",
        );
        assert_eq!(
            url,
            "postgres://postgres@%2Fhome%2Fana%2F.local%2Fshare%2Fmax%20local:5432/db"
        );
        let config: tokio_postgres::Config = url.parse().unwrap();
        assert_eq!(
            config.get_hosts(),
            [tokio_postgres::config::Host::Unix(
                "/home/ana/.local/share/max local".into()
            )]
        );
        assert_eq!(config.get_dbname(), Some("db"));
    }
}
