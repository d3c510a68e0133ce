//! Whether a commit waits for its WAL to be flushed to disk (`synchronous_commit`), set per
//! connection on both sides of a comparison: in the server's database URL and in pgbench's
//! `PGOPTIONS`, never for the whole database, so that nothing else running is affected.

use serde::Serialize;

/// How commits end.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub(crate) enum Commits {
    /// The server's default (`synchronous_commit = on`): a commit returns once its WAL is on disk.
    Flushed,
    /// `synchronous_commit = off`: a commit returns at once, its WAL flushed soon after.
    Unflushed,
}

impl Commits {
    /// Both, in the order they are measured.
    pub(crate) const BOTH: [Commits; 2] = [Commits::Flushed, Commits::Unflushed];

    /// The settings that give them, as `-c name=value` options (empty: the server's own).
    pub(crate) fn options(self) -> &'static str {
        match self {
            Commits::Flushed => "",
            Commits::Unflushed => "-c synchronous_commit=off",
        }
    }

    /// What the report and the console call them.
    pub(crate) fn name(self) -> &'static str {
        match self {
            Commits::Flushed => "flushed",
            Commits::Unflushed => "unflushed",
        }
    }

    /// `url` with these options for every connection made from it (the `options` connection
    /// parameter, which tokio-postgres sends at start-up as libpq does).
    pub(crate) fn url(self, url: &str) -> String {
        let options = self.options();
        if options.is_empty() {
            return url.to_owned();
        }
        let separator = if url.contains('?') { '&' } else { '?' };
        format!("{url}{separator}options={}", percent_encoded(options))
    }
}

/// `text` with every byte but letters, digits and `-._~` percent-encoded, as a URL's query value.
fn percent_encoded(text: &str) -> String {
    text.bytes()
        .map(|b| {
            if b.is_ascii_alphanumeric() || b"-._~".contains(&b) {
                char::from(b).to_string()
            } else {
                format!("%{b:02X}")
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unflushed_commits_are_asked_for_in_the_url_options() {
        assert_eq!(
            Commits::Unflushed.url("postgres://postgres@127.0.0.1:5432/max_bench_quick"),
            "postgres://postgres@127.0.0.1:5432/max_bench_quick\
             ?options=-c%20synchronous_commit%3Doff"
        );
        assert_eq!(
            Commits::Unflushed.url("postgres://h/db?sslmode=require"),
            "postgres://h/db?sslmode=require&options=-c%20synchronous_commit%3Doff"
        );
        assert_eq!(Commits::Flushed.url("postgres://h/db"), "postgres://h/db");
    }

    #[test]
    fn tokio_postgres_reads_the_options_back() {
        let config: tokio_postgres::Config = Commits::Unflushed
            .url("postgres://postgres@127.0.0.1:5432/db")
            .parse()
            .unwrap();
        assert_eq!(config.get_options(), Some("-c synchronous_commit=off"));
    }
}
