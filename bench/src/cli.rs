//! The command line: the subcommands and the options of how each route is loaded.

use std::path::PathBuf;

use clap::{Parser, Subcommand};

use crate::statistics::Staleness;

#[derive(Parser)]
#[command(
    name = "max-bench",
    about = "Benchmarks of M.A.X. Living Alerts; rewrites BENCHMARKS.md."
)]
pub(crate) struct Cli {
    #[command(subcommand)]
    pub(crate) command: Run,
}

#[derive(Subcommand)]
pub(crate) enum Run {
    /// Generate the data, run every benchmark, write the results.
    All {
        /// The small data set (50,000 leads): a run of a few minutes.
        #[arg(long, conflicts_with = "scale")]
        quick: bool,
        /// tiny, quick or full (1,000,000 leads, 10,000,000 activities).
        #[arg(long, default_value = "quick")]
        scale: String,
        #[command(flatten)]
        load: Load,
        /// Where to write the report (default: BENCHMARKS.md at the root of the repository).
        #[arg(long)]
        output: Option<PathBuf>,
        /// Drop the benchmark database at the end (it is kept by default, for `routes`).
        #[arg(long)]
        drop: bool,
    },
    /// Only load the data set into `max_bench_<scale>` (every lead due for the evaluator), for
    /// trying the evaluator or a query by hand.
    Generate {
        /// tiny, quick or full.
        #[arg(long, default_value = "quick")]
        scale: String,
        /// Leave the statistics as they were before the load (no `VACUUM ANALYZE` afterwards), as
        /// after a large import that autovacuum has not caught up with.
        #[arg(long)]
        stale_statistics: bool,
    },
    /// The evaluator's full pass with stale statistics and with fresh ones, on copies of the same
    /// data set; writes `bench/results/<scale>-statistics.json` and `-statistics-plans.txt`.
    Statistics {
        /// tiny, quick or full.
        #[arg(long, default_value = "quick")]
        scale: String,
        /// How the statistics went stale, comma-separated: never (never analyzed), empty
        /// (analyzed while empty), scheduled (analyzed with every lead scheduled ahead, then every
        /// lead due again).
        #[arg(long, value_delimiter = ',', default_value = "never,empty,scheduled")]
        stale: Vec<Staleness>,
        /// Comparisons of each kind.
        #[arg(long, default_value_t = 1)]
        rounds: usize,
        /// Where the report would go: the results are written to `bench/results/` beside it
        /// (default: the root of the repository).
        #[arg(long)]
        output: Option<PathBuf>,
    },
    /// Only the evaluator's passes and its writes alone, on copies of the data set an earlier `all`
    /// or `generate` left (`max_bench_<scale>`), each migrated to this version first; prints the
    /// figures and writes nothing. For trying a change of the evaluator or the schema quickly.
    Evaluator {
        /// tiny, quick or full: the data set `all` or `generate` loaded.
        #[arg(long, default_value = "quick")]
        scale: String,
        /// Copies measured one after the other.
        #[arg(long, default_value_t = 1)]
        rounds: usize,
        /// With the alerts' history triggers disabled on the copies: what the history costs the
        /// passes, measured against the same passes with it.
        #[arg(long)]
        without_history: bool,
    },
    /// Only the route benchmarks, on the data set an earlier `all` or `generate` left
    /// (`max_bench_<scale>`); prints the figures, and writes nothing unless asked (`--write`).
    /// For trying a change quickly.
    Routes {
        /// tiny, quick or full: the data set `all` loaded.
        #[arg(long, default_value = "quick")]
        scale: String,
        #[command(flatten)]
        load: Load,
        /// Only the routes whose name contains this text.
        #[arg(long, default_value = "")]
        only: String,
        /// Write the report too: its route sections (and those of `bench/results/<scale>.json`)
        /// from this run, every other section (the evaluator, the cold start, the plans) kept
        /// from the `all` run of the same scale that wrote them there. `all` measures the routes
        /// after the evaluator's passes: run one first (`max-local evaluate`) on a data set that
        /// `generate` loaded.
        #[arg(long)]
        write: bool,
        /// Where the report is (default: BENCHMARKS.md at the root of the repository).
        #[arg(long, requires = "write")]
        output: Option<PathBuf>,
    },
    /// Only the lead directory's section: the EspoCRM sync of a tenant's leads from a fake
    /// EspoCRM against the same rows written by PostgreSQL alone, and the plan of the alert
    /// listing with its directory rows, in a fresh database of its own (dropped afterwards);
    /// prints the figures, and writes nothing unless asked (`--write`).
    Directory {
        /// tiny, quick or full: how many leads are synced (500, 20,000, 100,000).
        #[arg(long, default_value = "quick")]
        scale: String,
        /// Write the report too: its "Lead directory" section (and the `directory` part of
        /// `bench/results/<scale>.json`, with `<scale>-directory-plans.txt`) from this run, every
        /// other section kept.
        #[arg(long)]
        write: bool,
        /// Where the report is (default: BENCHMARKS.md at the root of the repository).
        #[arg(long, requires = "write")]
        output: Option<PathBuf>,
    },
    /// Only the alerts' metrics: a tenant given many historical alerts (through the real
    /// triggers), its metrics of the last 30 and 366 days read through the functions' code,
    /// against the same month counted from the alerts; in a database of its own (dropped
    /// afterwards). Prints the figures, and writes nothing unless asked (`--write`).
    Metrics {
        /// Historical alerts of the tenant.
        #[arg(long, default_value_t = 1_000_000)]
        alerts: i64,
        /// Write the report too: its "Metrics" section and `bench/results/metrics.json`.
        #[arg(long)]
        write: bool,
        /// Where the report is (default: BENCHMARKS.md at the root of the repository).
        #[arg(long, requires = "write")]
        output: Option<PathBuf>,
    },
}

/// How each route is loaded.
#[derive(clap::Args)]
pub(crate) struct Load {
    /// Seconds per measurement.
    #[arg(long, default_value_t = 5)]
    pub(crate) duration: u64,
    /// Concurrency levels, comma-separated.
    #[arg(long, value_delimiter = ',', default_value = "1,8,32")]
    pub(crate) concurrency: Vec<usize>,
    /// Measure on shared cores only, not again with the database on cores of its own.
    #[arg(long)]
    pub(crate) no_split: bool,
    /// Concurrency of the measurements of PostgreSQL's CPU time per request against that of the
    /// routes' bare statements (commits flushed, then unflushed).
    #[arg(long, default_value_t = 16)]
    pub(crate) cpu_concurrency: usize,
}
