//! The alert evaluator: raises, refreshes and resolves living alerts by rule, for every tenant in
//! one pass, set-wise.
//!
//! The rules read `max_lead_states`, the per-lead summary that every activity insert keeps up to
//! date (see `migrations/V2__alert_evaluator.sql`). A pass only looks at leads that are due
//! (`next_check_at <= now()`): those with new activity, or a threshold crossed, or an alert message
//! whose wording changes ("depuis 9 jours" becomes "depuis 10 jours"). Each evaluated lead gets its
//! next due time. So a pass with nothing new reads an empty range of `max_lead_states_due`.
//!
//! One statement evaluates the due leads, resolves the alerts whose condition no longer holds
//! (`resolution = 'auto'`), refreshes the wording of those that still hold, raises the new ones
//! (unless a person resolved the same alert since the situation began and the rule's period has
//! not passed again), and schedules the next check. A second statement escalates high alerts left
//! open for 24 hours. Only the four rule types are ever touched.
//!
//! A pass runs its first batch alone; when more leads are due, the rest run on up to [`WORKERS`]
//! connections at once (each a PostgreSQL backend, so a pass can use that many of the database's
//! cores); the escalation runs after them.
//!
//! Safe under concurrency: each worker's batch takes a transaction-scoped advisory lock of its own
//! (a worker of an overlapping pass finds it taken and stops; a pass none of whose workers got one
//! is reported skipped); due leads are locked `FOR UPDATE SKIP LOCKED`, so workers share them out
//! without overlap, and a lead whose
//! activity is being logged is simply left for the next pass (its `next_check_at` is now); raising
//! uses `ON CONFLICT DO NOTHING` on the one-active-alert index. Lead rows are locked before alert
//! rows, in the same order as the activity insert trigger, so the two cannot deadlock.
//!
//! Plans (PostgreSQL 15), chosen so that they hold whatever the statistics say (a full pass
//! changes a large part of both tables before autovacuum analyzes them):
//! - due leads: Index Scan on `max_lead_states_due` (`next_check_at <= now()`, in order, `LIMIT`
//!   a batch), then LockRows;
//! - per-tenant settings: a hash aggregate over four rules for each tenant of the batch;
//! - open alerts of a lead: a parameterized Index Scan on `idx_max_alerts_unique_active` per lead
//!   (`LATERAL ... OFFSET 0`), never a scan of every open alert;
//! - the last manual resolution of a candidate: Index Scan on `idx_max_alerts_tenant_lead`;
//! - alert updates: Index Scan on `max_alerts_pkey` with `id = ANY (...)`; lead updates: Tid Scan
//!   with `ctid = ANY (...)` on the rows the batch locked;
//! - escalation: a range scan on the partial `max_alerts_to_escalate`.
//!
//! Measured on 2 cores with the benchmark's 1,000,000 leads (1,000 tenants), 977,000 of which get
//! an alert: a full pass takes 20-29 s with two workers (33-38 s with one; 50 batches of 650-850 ms
//! of one core each, about 60 % of it PostgreSQL's heap and B-tree work for the alerts raised and
//! the leads rescheduled: the same writes alone take about 14 s); the next pass, with nothing due,
//! about 10 ms (BENCHMARKS.md, bench/PROFILE.md).

use std::collections::BTreeMap;
use std::ops::RangeInclusive;
use std::time::{Duration, Instant};

use futures_util::future::try_join_all;
use serde::Serialize;
use tokio_postgres::types::Type;

use crate::db::{ConfigError, Db, DbError, env_number_in};

/// The rule types the evaluator owns; any other alert type is never touched.
pub const RULES: [&str; 4] = [
    "UnansweredInbound",
    "DeliveryFailed",
    "NoContact7d",
    "NoReply3d",
];

/// High alerts open for this long are escalated (the seed's rule).
pub const ESCALATE_AFTER_HOURS: i32 = 24;

/// The advisory lock a pass's first worker holds during each batch (worker `k` holds
/// `PASS_LOCK + k`): keeps two passes from working at once (transaction-scoped: safe behind
/// poolers).
pub const PASS_LOCK: i64 = 0x004d_4158_4556_414c; // "MAXEVAL"

/// The evaluation of every due lead, in one statement (see the module documentation).
pub const EVALUATE: &str = r#"
WITH due AS (
    SELECT s.ctid AS row_id, s.*
      FROM max_lead_states s
     WHERE s.next_check_at <= now()
     ORDER BY s.next_check_at
     LIMIT $1
       FOR UPDATE OF s SKIP LOCKED
),
settings AS (
    SELECT t.tenant_id,
           bool_or(coalesce(o.enabled, d.enabled)) FILTER (WHERE d.rule = 'UnansweredInbound') AS ui_on,
           max(coalesce(o.threshold, d.threshold)) FILTER (WHERE d.rule = 'UnansweredInbound') AS ui_after,
           max(coalesce(o.severity, d.severity)) FILTER (WHERE d.rule = 'UnansweredInbound') AS ui_severity,
           bool_or(coalesce(o.enabled, d.enabled)) FILTER (WHERE d.rule = 'DeliveryFailed') AS df_on,
           max(coalesce(o.threshold, d.threshold)) FILTER (WHERE d.rule = 'DeliveryFailed') AS df_after,
           max(coalesce(o.severity, d.severity)) FILTER (WHERE d.rule = 'DeliveryFailed') AS df_severity,
           bool_or(coalesce(o.enabled, d.enabled)) FILTER (WHERE d.rule = 'NoContact7d') AS nc_on,
           max(coalesce(o.threshold, d.threshold)) FILTER (WHERE d.rule = 'NoContact7d') AS nc_after,
           max(coalesce(o.severity, d.severity)) FILTER (WHERE d.rule = 'NoContact7d') AS nc_severity,
           bool_or(coalesce(o.enabled, d.enabled)) FILTER (WHERE d.rule = 'NoReply3d') AS nr_on,
           max(coalesce(o.threshold, d.threshold)) FILTER (WHERE d.rule = 'NoReply3d') AS nr_after,
           max(coalesce(o.severity, d.severity)) FILTER (WHERE d.rule = 'NoReply3d') AS nr_severity
      FROM (SELECT DISTINCT tenant_id FROM due) t
     CROSS JOIN max_alert_rule_defaults d
      LEFT JOIN max_alert_rules o ON o.tenant_id = t.tenant_id AND o.rule = d.rule
     GROUP BY t.tenant_id
),
-- When each enabled rule holds (or will hold) for a lead; NULL when it cannot.
crossings AS (
    SELECT s.row_id, s.tenant_id, s.lead_id, s.lead_name, s.last_contact_at IS NOT NULL AS contacted,
           s.last_touch_at, s.last_touch_channel, s.last_outcome_at, s.last_outcome_channel,
           coalesce(s.last_contact_at, s.first_seen_at) AS quiet_since, s.last_contact_at,
           s.last_contact_channel,
           c.ui_after, c.nc_after, c.nr_after,
           c.ui_severity, c.df_severity, c.nc_severity, c.nr_severity,
           CASE WHEN c.ui_on AND s.last_touch_in THEN s.last_touch_at + c.ui_after END AS ui_at,
           CASE WHEN c.df_on AND s.last_outcome_failed THEN s.last_outcome_at + c.df_after END AS df_at,
           CASE WHEN c.nc_on THEN coalesce(s.last_contact_at, s.first_seen_at) + c.nc_after END AS nc_at,
           CASE WHEN c.nr_on AND s.last_contact_at > coalesce(s.last_in_at, '-infinity')
                THEN s.last_contact_at + c.nr_after END AS nr_at
      FROM due s
      JOIN settings c ON c.tenant_id = s.tenant_id
),
-- The rule that wins for each lead (by priority) and what it is about. Materialized (and the inner
-- query kept apart by OFFSET 0) so that each value is computed once per lead: the message
-- functions below are inlined and read their arguments many times.
ruled AS MATERIALIZED (
    SELECT x.*,
           CASE x.rule WHEN 'UnansweredInbound' THEN x.last_touch_at
                       WHEN 'DeliveryFailed' THEN x.last_outcome_at
                       WHEN 'NoContact7d' THEN x.quiet_since
                       WHEN 'NoReply3d' THEN x.last_contact_at END AS since,
           CASE x.rule WHEN 'UnansweredInbound' THEN x.last_touch_channel
                       WHEN 'DeliveryFailed' THEN x.last_outcome_channel
                       ELSE x.last_contact_channel END AS channel,
           CASE x.rule WHEN 'UnansweredInbound' THEN x.ui_severity
                       WHEN 'DeliveryFailed' THEN x.df_severity
                       WHEN 'NoContact7d' THEN x.nc_severity
                       WHEN 'NoReply3d' THEN x.nr_severity END AS severity,
           -- How long a person's resolution holds the alert back while the situation lasts.
           CASE x.rule WHEN 'UnansweredInbound' THEN greatest(x.ui_after, interval '1 hour')
                       WHEN 'DeliveryFailed' THEN NULL
                       WHEN 'NoContact7d' THEN greatest(x.nc_after, interval '1 hour')
                       WHEN 'NoReply3d' THEN greatest(x.nr_after, interval '1 hour') END AS period
      FROM (
        SELECT c.*,
               CASE WHEN c.ui_at <= now() THEN 'UnansweredInbound'
                    WHEN c.df_at <= now() THEN 'DeliveryFailed'
                    WHEN c.nc_at <= now() THEN 'NoContact7d'
                    WHEN c.nr_at <= now() THEN 'NoReply3d' END AS rule
          FROM crossings c
        OFFSET 0
      ) x
),
-- What each alert says, and when to look at the lead again: the next threshold to be crossed, or
-- the next change of wording.
judged AS (
    SELECT r.*,
           max_alert_message(r.rule, r.lead_name, r.channel, r.since, r.contacted, now()) AS message,
           least(
               CASE WHEN r.ui_at > now() THEN r.ui_at END,
               CASE WHEN r.df_at > now() THEN r.df_at END,
               CASE WHEN r.nc_at > now() THEN r.nc_at END,
               CASE WHEN r.nr_at > now() THEN r.nr_at END,
               CASE WHEN r.rule <> 'DeliveryFailed' THEN max_duration_fr_changes_at(r.since, now()) END
           ) AS next_check_at
      FROM ruled r
),
-- The open rule alerts of each due lead: an index probe per lead (OFFSET 0 keeps the planner
-- from turning it into a scan of every open alert).
open_alerts AS (
    SELECT a.id, a.type, a.message, a.severity, a.lead_name, j.tenant_id, j.lead_id,
           j.rule AS wanted, j.message AS wanted_message, j.severity AS wanted_severity,
           coalesce(j.lead_name, a.lead_name) AS wanted_lead_name
      FROM judged j
     CROSS JOIN LATERAL (
           SELECT a.id, a.type, a.message, a.severity, a.lead_name
             FROM max_alerts a
            WHERE a.tenant_id = j.tenant_id AND a.lead_id = j.lead_id AND a.resolved_at IS NULL
              AND a.type IN ('UnansweredInbound', 'DeliveryFailed', 'NoContact7d', 'NoReply3d')
           OFFSET 0
     ) a
),
-- Updates find their rows by primary key (`= ANY` of the ids), whatever the statistics say.
resolved AS (
    UPDATE max_alerts a
       SET resolved_at = now(), resolution = 'auto'
     WHERE a.id = ANY (ARRAY(SELECT o.id FROM open_alerts o WHERE o.type IS DISTINCT FROM o.wanted))
       AND a.resolved_at IS NULL
    RETURNING a.type
),
refreshed AS (
    UPDATE max_alerts a
       SET message = o.wanted_message, severity = o.wanted_severity, lead_name = o.wanted_lead_name
      FROM open_alerts o
     WHERE a.id = ANY (ARRAY(SELECT o.id FROM open_alerts o
                              WHERE o.type = o.wanted
                                AND (o.message, o.severity, o.lead_name) IS DISTINCT FROM
                                    (o.wanted_message, o.wanted_severity, o.wanted_lead_name)))
       AND o.id = a.id
    RETURNING a.type
),
candidates AS (
    SELECT j.*
      FROM judged j
     WHERE j.rule IS NOT NULL
       AND NOT EXISTS (SELECT FROM open_alerts o
                        WHERE o.tenant_id = j.tenant_id AND o.lead_id = j.lead_id AND o.type = j.rule)
),
-- Held back: a person resolved this alert after the situation began, less than a period ago
-- (DeliveryFailed: until a new failure).
held_back AS (
    SELECT c.tenant_id, c.lead_id, m.resolved_at + c.period AS until
      FROM candidates c
     CROSS JOIN LATERAL (
           SELECT max(a.resolved_at) AS resolved_at
             FROM max_alerts a
            WHERE a.tenant_id = c.tenant_id AND a.lead_id = c.lead_id AND a.type = c.rule
              AND a.resolution = 'manual'
     ) m
     WHERE m.resolved_at > c.since
       AND (c.period IS NULL OR now() < m.resolved_at + c.period)
),
raised AS (
    INSERT INTO max_alerts (tenant_id, lead_id, lead_name, type, severity, message, suggested_action)
    SELECT c.tenant_id, c.lead_id, c.lead_name, c.rule, c.severity, c.message,
           jsonb_build_object('label', d.action_label, 'action', d.action)
      FROM candidates c
      JOIN max_alert_rule_defaults d ON d.rule = c.rule
     WHERE NOT EXISTS (SELECT FROM held_back h WHERE h.tenant_id = c.tenant_id AND h.lead_id = c.lead_id)
     ORDER BY c.tenant_id, c.lead_id
    ON CONFLICT (tenant_id, lead_id, type) WHERE resolved_at IS NULL DO NOTHING
    RETURNING type
),
-- The due rows are locked by this statement, so their row ids are stable until it commits.
rescheduled AS (
    UPDATE max_lead_states s
       SET next_check_at = least(j.next_check_at, h.until)
      FROM judged j
      LEFT JOIN held_back h ON h.tenant_id = j.tenant_id AND h.lead_id = j.lead_id
     WHERE s.ctid = ANY (ARRAY(SELECT row_id FROM judged))
       AND s.ctid = j.row_id
    RETURNING 1
)
SELECT 'raised' AS outcome, type, count(*) AS n FROM raised GROUP BY type
UNION ALL
SELECT 'resolved', type, count(*) FROM resolved GROUP BY type
UNION ALL
SELECT 'refreshed', type, count(*) FROM refreshed GROUP BY type
UNION ALL
SELECT 'evaluated', NULL, count(*) FROM rescheduled
UNION ALL
SELECT 'due', NULL, count(*) FROM due
"#;

/// Escalates the high alerts of the rule types left open for 24 hours.
pub const ESCALATE: &str = "\
UPDATE max_alerts SET escalated_at = now()
 WHERE resolved_at IS NULL AND severity = 'high' AND escalated_at IS NULL
   AND created_at <= now() - make_interval(hours => $1)
   AND type IN ('UnansweredInbound', 'DeliveryFailed', 'NoContact7d', 'NoReply3d')
RETURNING type";

/// What a pass did, per rule.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Summary {
    /// True when another pass was running: this one did nothing.
    pub skipped: bool,
    /// Leads whose situation was looked at.
    pub leads_evaluated: u64,
    pub raised: BTreeMap<String, u64>,
    pub auto_resolved: BTreeMap<String, u64>,
    pub escalated: BTreeMap<String, u64>,
    /// Open alerts whose message or severity was brought up to date.
    pub refreshed: BTreeMap<String, u64>,
    pub elapsed_ms: f64,
}

impl Summary {
    fn total(map: &BTreeMap<String, u64>) -> u64 {
        map.values().sum()
    }

    /// Adds what another worker of the same pass did.
    fn add(&mut self, other: Summary) {
        self.leads_evaluated += other.leads_evaluated;
        for (total, counts) in [
            (&mut self.raised, other.raised),
            (&mut self.auto_resolved, other.auto_resolved),
            (&mut self.refreshed, other.refreshed),
        ] {
            for (rule, n) in counts {
                *total.entry(rule).or_default() += n;
            }
        }
    }

    /// Whether the pass changed any alert.
    pub fn changed_anything(&self) -> bool {
        Self::total(&self.raised)
            + Self::total(&self.auto_resolved)
            + Self::total(&self.escalated)
            + Self::total(&self.refreshed)
            > 0
    }

    /// Logs the summary as structured fields.
    pub fn log(&self) {
        tracing::info!(
            skipped = self.skipped,
            leads_evaluated = self.leads_evaluated,
            raised = Self::total(&self.raised),
            auto_resolved = Self::total(&self.auto_resolved),
            escalated = Self::total(&self.escalated),
            refreshed = Self::total(&self.refreshed),
            raised_by_rule = ?self.raised,
            auto_resolved_by_rule = ?self.auto_resolved,
            escalated_by_rule = ?self.escalated,
            elapsed_ms = self.elapsed_ms,
            "evaluation pass"
        );
    }
}

/// Due leads evaluated per statement: bounds a transaction's size, its locks and its memory.
pub const BATCH_SIZE: i64 = 20_000;

/// Batches of a pass run side by side on up to this many connections by default (as the pool
/// allows): each batch is one PostgreSQL backend, busy with index maintenance, so a pass can use
/// that many of the database's cores. `EVALUATOR_WORKERS` sets it (see [`workers_from_env`]).
pub const WORKERS: usize = 2;

/// The most workers `EVALUATOR_WORKERS` may ask for.
pub const MAX_WORKERS: usize = 32;

/// What `EVALUATOR_WORKERS` accepts.
const WORKERS_SETTING: RangeInclusive<u64> = 1..=MAX_WORKERS as u64;

/// The number of workers of a pass: `EVALUATOR_WORKERS` (1 to [`MAX_WORKERS`]), else [`WORKERS`].
/// More than the database server's cores only makes the workers wait for each other.
pub fn workers_from_env() -> Result<usize, ConfigError> {
    Ok(env_number_in(
        "EVALUATOR_WORKERS",
        WORKERS_SETTING,
        "EVALUATOR_WORKERS (a number of connections, 1 to 32)",
    )?
    .map_or(WORKERS, |n| n as usize))
}

/// Memory for each sort and hash of a batch (transaction-local): a batch's intermediate results
/// (20,000 leads) then stay in memory instead of spilling to temporary files.
const BATCH_WORK_MEM: &str = "64MB";

/// Runs one pass over every tenant: batches of due leads, each in its own short transaction, on up
/// to [`WORKERS`] connections at once, then escalation.
pub async fn evaluate(db: &Db, statement_timeout: Duration) -> Result<Summary, DbError> {
    evaluate_with(db, statement_timeout, WORKERS).await
}

/// [`evaluate`] on up to `workers` connections at once (no more than the pool holds).
pub async fn evaluate_with(
    db: &Db,
    statement_timeout: Duration,
    workers: usize,
) -> Result<Summary, DbError> {
    let started = Instant::now();
    let timeout = format!("{}ms", statement_timeout.as_millis());
    let workers = workers.min(db.max_connections()).max(1);
    // One batch first, alone: most passes have less than a batch of work, and a second connection
    // would cost them more than it saves.
    let (mut summary, mut ran, more) = work(db, 0, &timeout, Some(1)).await?;
    if more {
        let parts =
            try_join_all((0..workers).map(|slot| work(db, slot as i64, &timeout, None))).await?;
        for (part, part_ran, _) in parts {
            ran |= part_ran;
            summary.add(part);
        }
    }
    // Another pass is running (or took over between two batches): it does the rest.
    summary.skipped = !ran;
    if ran {
        escalate(db, &timeout, &mut summary).await?;
    }
    summary.elapsed_ms = started.elapsed().as_secs_f64() * 1000.0;
    Ok(summary)
}

/// Starts a batch transaction as the evaluator: its role and settings, and the advisory lock of
/// worker `slot` (false when another pass holds it).
async fn begin_batch(
    tx: &deadpool_postgres::Transaction<'_>,
    timeout: &str,
    slot: i64,
) -> Result<bool, DbError> {
    let rows = tx
        .query_typed(
            "SELECT set_config('role', 'max_evaluator', true), \
                    set_config('statement_timeout', $1, true), \
                    set_config('jit', 'off', true), \
                    set_config('synchronous_commit', 'off', true), \
                    set_config('work_mem', $3, true), \
                    pg_try_advisory_xact_lock($2) AS locked",
            &[
                (&timeout, Type::TEXT),
                (&(PASS_LOCK + slot), Type::INT8),
                (&BATCH_WORK_MEM, Type::TEXT),
            ],
        )
        .await
        .map_err(DbError::Query)?;
    Ok(rows[0].get("locked"))
}

/// One worker of a pass: batches of due leads until none is left, or `max_batches`. Returns what
/// it did, whether it ran at all (false when another pass held its lock), and whether more leads
/// may be due (its last batch was full).
async fn work(
    db: &Db,
    slot: i64,
    timeout: &str,
    max_batches: Option<usize>,
) -> Result<(Summary, bool, bool), DbError> {
    let mut summary = Summary::default();
    let mut client = db.connection().await?;
    let mut ran = false;
    let mut batches = 0;
    loop {
        let tx = client.transaction().await.map_err(DbError::Query)?;
        if !begin_batch(&tx, timeout, slot).await? {
            tx.rollback().await.map_err(DbError::Query)?;
            break;
        }
        ran = true;
        let (mut evaluated, mut locked) = (0, 0);
        for row in tx
            .query_typed(EVALUATE, &[(&BATCH_SIZE, Type::INT8)])
            .await
            .map_err(DbError::Query)?
        {
            let outcome: &str = row.get(0);
            let rule: Option<String> = row.get(1);
            let n = row.get::<_, i64>(2) as u64;
            let map = match outcome {
                "raised" => &mut summary.raised,
                "resolved" => &mut summary.auto_resolved,
                "refreshed" => &mut summary.refreshed,
                "due" => {
                    locked = n;
                    continue;
                }
                _ => {
                    evaluated = n;
                    continue;
                }
            };
            *map.entry(rule.unwrap_or_default()).or_default() += n;
        }
        tx.commit().await.map_err(DbError::Query)?;
        summary.leads_evaluated += evaluated;
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

/// Escalates the high alerts left open too long, under the first worker's lock.
async fn escalate(db: &Db, timeout: &str, summary: &mut Summary) -> Result<(), DbError> {
    let mut client = db.connection().await?;
    let tx = client.transaction().await.map_err(DbError::Query)?;
    if begin_batch(&tx, timeout, 0).await? {
        for row in tx
            .query_typed(ESCALATE, &[(&ESCALATE_AFTER_HOURS, Type::INT4)])
            .await
            .map_err(DbError::Query)?
        {
            *summary.escalated.entry(row.get(0)).or_default() += 1;
        }
    }
    tx.commit().await.map_err(DbError::Query)
}

#[cfg(test)]
mod tests {
    use super::WORKERS_SETTING;
    use crate::db::parse_number_in;

    fn parse_workers(text: &str) -> Option<u64> {
        parse_number_in(text, WORKERS_SETTING)
    }

    #[test]
    fn workers_are_a_number_of_connections_from_1_to_32() {
        assert_eq!(parse_workers("4"), Some(4));
        assert_eq!(parse_workers(" 1 "), Some(1));
        assert_eq!(parse_workers("32"), Some(32));
        for bad in ["0", "33", "-1", "two", ""] {
            assert_eq!(parse_workers(bad), None, "{bad:?}");
        }
    }
}
