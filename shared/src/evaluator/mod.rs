//! The alert evaluator: raises, refreshes and resolves living alerts by rule, for every tenant in
//! one pass, set-wise.
//!
//! The rules (`crate::rules`) read `max_lead_states`, the per-lead summary that every activity
//! insert keeps up to date. A pass only looks at leads that are due (`next_check_at <= now()`):
//! those with new activity, or a threshold crossed, or an alert message whose wording changes.
//! Each evaluated lead gets its next due time, so a pass with nothing new reads an empty range of
//! `max_lead_states_due`.
//!
//! One statement (`statement.rs`) evaluates a batch of due leads: it resolves the alerts whose
//! condition no longer holds (`resolution = 'auto'`), refreshes the wording of those that still
//! hold, raises the new ones (unless a person resolved the same alert since the situation began
//! and the rule's hold-back has not passed), and schedules the next check. A second statement
//! escalates high alerts left open for 24 hours. Only the rules' own alert types are touched.
//!
//! A pass runs its first batch alone; when more leads are due, the rest run on up to
//! `EVALUATOR_WORKERS` connections at once (each a PostgreSQL backend); the escalation runs after
//! them.
//!
//! Safe under concurrency: each worker's batch takes a transaction-scoped advisory lock of its own
//! (a worker of an overlapping pass finds it taken and stops; a pass none of whose workers got one
//! is reported skipped); due leads are locked `FOR UPDATE SKIP LOCKED`, so workers share them out
//! without overlap, and a lead whose activity is being logged is left for the next pass (its
//! `next_check_at` is now); raising uses `ON CONFLICT DO NOTHING` on the one-active-alert index.
//! Lead rows are locked before alert rows, in the same order as the activity insert trigger, so
//! the two cannot deadlock. Measured figures are in BENCHMARKS.md and bench/PROFILE.md.

mod statement;
mod summary;

use std::time::{Duration, Instant};

use futures_util::future::try_join_all;
use tokio_postgres::types::Type;

pub use summary::Summary;

use crate::config::EvaluatorSettings;
use deadpool_postgres::Object;

use crate::db::{Db, DbError, abandon};
use crate::rules::{self, Rule};

/// High alerts open for this long are escalated (the seed's rule).
pub const ESCALATE_AFTER_HOURS: i32 = 24;

/// The advisory lock a pass's first worker holds during each batch (worker `k` holds
/// `PASS_LOCK + k`): keeps two passes from working at once (transaction-scoped: safe behind
/// poolers).
pub const PASS_LOCK: i64 = 0x004d_4158_4556_414c; // "MAXEVAL"

/// Due leads evaluated per statement: bounds a transaction's size, its locks and its memory.
pub const BATCH_SIZE: i64 = 20_000;

/// How much longer than its statements' timeout a batch is waited for, when the database does not
/// answer at all (the statement timeout is the server's, and a silent server enforces nothing).
pub const BATCH_GRACE: Duration = Duration::from_secs(2);

/// The settings of a batch's transaction (transaction-local, beside its role and statement
/// timeout): no JIT compilation, an asynchronous commit, memory for each sort and hash (a batch's
/// intermediate results then stay in memory instead of spilling to temporary files), and no nested
/// loop where another join will do. The statement's only nested loops are then its per-lead index
/// probes (`LATERAL`, which nothing else can join) and the cross join of the batch's tenants with
/// the rules: its intermediate results are joined to each other by hash or merge joins, whatever
/// the planner expects of their sizes. With statistics taken when no lead was due, it expected one
/// due lead and rescanned an intermediate result for each lead of the batch (bench/PROFILE.md,
/// "Stale statistics"). And `max.evaluator_marks_leads`: the batch marks the leads it raises an
/// alert for itself, in the update that reschedules them, so the trigger that marks the leads of
/// other alert writers (`max_alerts_mark_leads`, migrations/V7) stands aside.
pub const BATCH_SETTINGS: [(&str, &str); 5] = [
    ("jit", "off"),
    ("synchronous_commit", "off"),
    ("work_mem", "64MB"),
    ("enable_nestloop", "off"),
    ("max.evaluator_marks_leads", "on"),
];

/// An evaluator of a list of rules (in priority order), with its statement put together once.
#[derive(Debug, Clone)]
pub struct Evaluator {
    names: Vec<&'static str>,
    statement: String,
}

impl Default for Evaluator {
    /// Every rule, in their priority order.
    fn default() -> Self {
        Self::new(&rules::ALL)
    }
}

impl Evaluator {
    /// An evaluator of `rules`; when several hold for a lead, the first in this order wins.
    pub fn new(rules: &[&Rule]) -> Self {
        Self {
            names: rules::names(rules),
            statement: statement::evaluate(rules),
        }
    }

    /// The evaluation statement (`$1`: the batch size, `$2`: the rules' names), for plans.
    pub fn statement(&self) -> &str {
        &self.statement
    }

    /// The rules' names, in priority order, as the statement binds them.
    pub fn rule_names(&self) -> &[&'static str] {
        &self.names
    }

    /// Runs one pass over every tenant: batches of due leads, each in its own short transaction,
    /// on up to `settings.workers` connections at once (no more than the pool holds), then
    /// escalation. Each batch may run for `settings.timeout` on the server, and is given up a
    /// little later ([`BATCH_GRACE`]) if the database does not answer at all.
    pub async fn pass(&self, db: &Db, settings: &EvaluatorSettings) -> Result<Summary, DbError> {
        let started = Instant::now();
        let bounds = Bounds {
            statement_timeout: format!("{}ms", settings.timeout.as_millis()),
            batch: settings.timeout + BATCH_GRACE,
        };
        let workers = settings.workers.min(db.max_connections()).max(1);
        // One batch first, alone: most passes have less than a batch of work, and a second
        // connection would cost them more than it saves.
        let (mut summary, mut ran, more) = self.work(db, 0, &bounds, Some(1)).await?;
        if more {
            let parts =
                try_join_all((0..workers).map(|slot| self.work(db, slot as i64, &bounds, None)))
                    .await?;
            for (part, part_ran, _) in parts {
                ran |= part_ran;
                summary.add(part);
            }
        }
        // Another pass is running (or took over between two batches): it does the rest.
        summary.skipped = !ran;
        if ran {
            self.escalate(db, &bounds, &mut summary).await?;
        }
        summary.elapsed_ms = started.elapsed().as_secs_f64() * 1000.0;
        Ok(summary)
    }

    /// One worker of a pass: batches of due leads until none is left, or `max_batches`. Returns
    /// what it did, whether it ran at all (false when another pass held its lock), and whether
    /// more leads may be due (its last batch was full).
    async fn work(
        &self,
        db: &Db,
        slot: i64,
        bounds: &Bounds,
        max_batches: Option<usize>,
    ) -> Result<(Summary, bool, bool), DbError> {
        let mut summary = Summary::default();
        let mut client = db.connection().await?;
        let mut ran = false;
        let mut batches = 0;
        loop {
            let batch = self.batch(&mut client, &bounds.statement_timeout, slot);
            let batch = match tokio::time::timeout(bounds.batch, batch).await {
                Ok(batch) => batch?,
                Err(_) => return Err(abandon(client)),
            };
            let Some(Batch {
                summary: part,
                locked,
            }) = batch
            else {
                break;
            };
            ran = true;
            summary.add(part);
            batches += 1;
            // A batch that locked fewer due leads than it could found the end of the backlog (the
            // other workers hold the rest). Not the leads it rescheduled: a lead whose row another
            // worker updated, still due, after this statement's snapshot is locked in its newest
            // version, which the statement cannot see to update; it stays due for the next batch,
            // and a batch one lead short must not end the pass with the backlog still there.
            if locked < BATCH_SIZE as u64 {
                return Ok((summary, ran, false));
            }
            if max_batches.is_some_and(|max| batches >= max) {
                return Ok((summary, ran, true));
            }
        }
        Ok((summary, ran, false))
    }

    /// One batch in its own transaction; `None` when another pass holds this worker's lock.
    async fn batch(
        &self,
        client: &mut Object,
        statement_timeout: &str,
        slot: i64,
    ) -> Result<Option<Batch>, DbError> {
        let tx = client.transaction().await?;
        if !begin_batch(&tx, statement_timeout, slot).await? {
            tx.rollback().await?;
            return Ok(None);
        }
        let mut summary = Summary::default();
        let mut locked = 0;
        for row in tx
            .query_typed(
                &self.statement,
                &[(&BATCH_SIZE, Type::INT8), (&self.names, Type::TEXT_ARRAY)],
            )
            .await?
        {
            let outcome: &str = row.try_get(0)?;
            let rule: Option<String> = row.try_get(1)?;
            let n = row.try_get::<_, i64>(2)? as u64;
            let map = match outcome {
                "raised" => &mut summary.raised,
                "resolved" => &mut summary.auto_resolved,
                "refreshed" => &mut summary.refreshed,
                "due" => {
                    locked = n;
                    continue;
                }
                _ => {
                    summary.leads_evaluated = n;
                    continue;
                }
            };
            *map.entry(rule.unwrap_or_default()).or_default() += n;
        }
        tx.commit().await?;
        Ok(Some(Batch { summary, locked }))
    }

    /// Escalates the high alerts left open too long, and ends the snoozes whose time has come,
    /// under the first worker's lock.
    async fn escalate(
        &self,
        db: &Db,
        bounds: &Bounds,
        summary: &mut Summary,
    ) -> Result<(), DbError> {
        let mut client = db.connection().await?;
        let escalation = async {
            let tx = client.transaction().await?;
            if begin_batch(&tx, &bounds.statement_timeout, 0).await? {
                for row in tx
                    .query_typed(
                        statement::ESCALATE,
                        &[
                            (&ESCALATE_AFTER_HOURS, Type::INT4),
                            (&self.names, Type::TEXT_ARRAY),
                        ],
                    )
                    .await?
                {
                    *summary.escalated.entry(row.try_get(0)?).or_default() += 1;
                }
                for row in tx.query_typed(statement::WAKE_EXPIRED, &[]).await? {
                    *summary.woken.entry(row.try_get(0)?).or_default() += 1;
                }
            }
            Ok::<_, DbError>(tx.commit().await?)
        };
        match tokio::time::timeout(bounds.batch, escalation).await {
            Ok(result) => result,
            Err(_) => Err(abandon(client)),
        }
    }
}

/// What one batch did, and how many due leads it locked.
struct Batch {
    summary: Summary,
    locked: u64,
}

/// How long a batch may take: on the server (its statements' timeout), and in all.
struct Bounds {
    statement_timeout: String,
    batch: Duration,
}

/// Starts a batch transaction as the evaluator: its role and settings, and the advisory lock of
/// worker `slot` (false when another pass holds it).
async fn begin_batch(
    tx: &deadpool_postgres::Transaction<'_>,
    timeout: &str,
    slot: i64,
) -> Result<bool, DbError> {
    let (names, values): (Vec<&str>, Vec<&str>) = BATCH_SETTINGS.into_iter().unzip();
    let rows = tx
        .query_typed(
            "SELECT set_config('role', 'max_evaluator', true), \
                    set_config('statement_timeout', $1, true), \
                    (SELECT count(set_config(name, value, true)) \
                       FROM unnest($3::text[], $4::text[]) AS s(name, value)), \
                    pg_try_advisory_xact_lock($2) AS locked",
            &[
                (&timeout, Type::TEXT),
                (&(PASS_LOCK + slot), Type::INT8),
                (&names, Type::TEXT_ARRAY),
                (&values, Type::TEXT_ARRAY),
            ],
        )
        .await?;
    Ok(rows[0].try_get("locked")?)
}
