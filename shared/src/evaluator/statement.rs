//! The evaluation of every due lead, in one statement put together from the rules' homes.
//!
//! Rule `k` (1-based, in priority order) gets the columns `r<k>_on`, `r<k>_threshold`,
//! `r<k>_severity` (the tenant's settings) and `r<k>_at` (when it holds); `$2` is the rules' names
//! in the same order, so a lead's `winner` (the first rule that holds) names its alert as
//! `($2::text[])[k]`.
//!
//! Plans (PostgreSQL 15). A pass may meet statistics that no longer describe the tables (a full
//! pass or an import changes a large part of them, and autovacuum may be behind or off), so the
//! statement is written for plans whose shape does not depend on them; the batch transaction
//! turns nested loops off (`BATCH_SETTINGS`), so that only the per-lead probes below (and the
//! cross join of the batch's tenants with the rules) loop;
//! `shared/tests/stale_statistics.rs` checks the shape with stale statistics:
//! - due leads: `max_lead_states_due` (`next_check_at <= now()`, in order, `LIMIT` a batch), then
//!   LockRows; a bitmap scan and a sort of the due leads where the planner expects few;
//! - per-tenant settings: an aggregate over the rules, probed for each tenant of the batch;
//! - open alerts of a lead: a parameterized probe of `idx_max_alerts_unique_active` per lead
//!   (`LATERAL ... OFFSET 0`), never a scan of every open alert of a tenant;
//! - the last manual resolution of a candidate: a probe of `idx_max_alerts_tenant_lead` (manual
//!   resolutions only);
//! - the intermediate results joined to each other by hash or merge joins, never a nested loop;
//! - alert updates: `max_alerts_pkey` with `id = ANY (...)`; lead updates: Tid Scan with
//!   `ctid = ANY (...)` on the rows the batch locked.

use crate::rules::Rule;

/// The statement: `$1` is the batch size, `$2` the rules' names in priority order.
pub(super) fn evaluate(rules: &[&Rule]) -> String {
    // One line per rule, `k` counting from 1.
    let each = |line: &dyn Fn(usize, &Rule) -> String, separator: &str| {
        rules
            .iter()
            .enumerate()
            .map(|(index, rule)| line(index + 1, rule))
            .collect::<Vec<_>>()
            .join(separator)
    };
    let threshold = |k: usize, fragment: &str, table: &str| {
        fragment.replace("{threshold}", &format!("{table}.r{k}_threshold"))
    };
    let settings = each(
        &|k, _| {
            format!(
                "bool_or(coalesce(o.enabled, d.enabled)) FILTER (WHERE d.rule = ($2::text[])[{k}]) AS r{k}_on,
           max(coalesce(o.threshold, d.threshold)) FILTER (WHERE d.rule = ($2::text[])[{k}]) AS r{k}_threshold,
           max(coalesce(o.severity, d.severity)) FILTER (WHERE d.rule = ($2::text[])[{k}]) AS r{k}_severity"
            )
        },
        ",\n           ",
    );
    let crossings = each(
        &|k, rule| {
            format!(
                "c.r{k}_threshold, c.r{k}_severity,
           CASE WHEN c.r{k}_on THEN {} END AS r{k}_at",
                threshold(k, rule.holds_from, "c")
            )
        },
        ",\n           ",
    );
    let winner = each(&|k, _| format!("WHEN s.r{k}_at <= now() THEN {k}"), " ");
    let by_winner = |value: &dyn Fn(usize, &Rule) -> Option<String>| {
        let branches: Vec<String> = rules
            .iter()
            .enumerate()
            .filter_map(|(index, rule)| {
                value(index + 1, rule).map(|v| format!("WHEN {} THEN {v}", index + 1))
            })
            .collect();
        (!branches.is_empty()).then(|| format!("CASE s.winner {} END", branches.join(" ")))
    };
    let since = by_winner(&|_, rule| Some(rule.since.to_owned())).unwrap_or("NULL".into());
    let severity = by_winner(&|k, _| Some(format!("s.r{k}_severity"))).unwrap_or("NULL".into());
    let period = by_winner(&|k, rule| Some(threshold(k, rule.hold_back, "s")))
        .unwrap_or("NULL::interval".into());
    let message = by_winner(&|_, rule| Some(rule.message.to_owned())).unwrap_or("NULL".into());
    let message_en =
        by_winner(&|_, rule| Some(rule.message_en.to_owned())).unwrap_or("NULL".into());
    let mut next_checks = each(
        &|k, _| format!("CASE WHEN s.r{k}_at > now() THEN s.r{k}_at END"),
        ",\n               ",
    );
    if let Some(reworded) = by_winner(&|_, rule| rule.rewords_at.map(str::to_owned)) {
        next_checks.push_str(",\n               ");
        next_checks.push_str(&reworded);
    }
    format!(
        r#"
WITH due AS (
    SELECT s.ctid AS row_id, s.*
      FROM max_lead_states s
     WHERE s.next_check_at <= now()
     ORDER BY s.next_check_at
     LIMIT $1
       FOR UPDATE OF s SKIP LOCKED
),
-- Each tenant's settings of each rule: its own where it set them, else the defaults.
-- Per tenant of the batch, the rules read for that tenant (`LATERAL`: the batch's tenants are
-- always the outer side, and the few rules the inner, whatever the statistics say).
settings AS (
    SELECT t.tenant_id, r.*
      FROM (SELECT DISTINCT tenant_id FROM due) t
     CROSS JOIN LATERAL (
           SELECT {settings}
             FROM max_alert_rule_defaults d
             LEFT JOIN max_alert_rules o ON o.tenant_id = t.tenant_id AND o.rule = d.rule
            WHERE d.rule = ANY ($2::text[])
     ) r
),
-- When each enabled rule holds (or will hold) for a lead; NULL when it cannot.
crossings AS (
    SELECT s.*,
           {crossings}
      FROM due s
      JOIN settings c ON c.tenant_id = s.tenant_id
),
-- The rule that wins for each lead (the first that holds) and what it is about. Materialized (and
-- the inner query kept apart by OFFSET 0) so that each value is computed once per lead: the
-- message functions below are inlined and read their arguments many times.
ruled AS MATERIALIZED (
    SELECT s.*,
           ($2::text[])[s.winner] AS rule,
           {since} AS since,
           {severity} AS severity,
           -- How long a person's resolution holds the alert back while the situation lasts.
           {period} AS period
      FROM (
        SELECT s.*, CASE {winner} END AS winner
          FROM crossings s
        OFFSET 0
      ) s
),
-- What each alert says, and when to look at the lead again: the next threshold to be crossed, or
-- the next change of wording. Only what the writes below need: this is kept for the rest of the
-- statement, and read, sorted and hashed several times.
judged AS (
    SELECT s.row_id, s.tenant_id, s.lead_id, s.lead_name, s.alerted, s.rule, s.since, s.severity,
           s.period,
           {message} AS message,
           {message_en} AS message_en,
           least({next_checks}) AS check_again_at
      FROM ruled s
),
-- The open rule alerts of each due lead: an index probe per lead of `idx_max_alerts_unique_active`
-- on its (tenant, lead), the rule condition kept above it. OFFSET 0 keeps the planner from
-- turning the probe into a scan of every open alert. `max_alerts_active_by_urgency`, led by the
-- tenant alone, would fit "open" as well, and stale statistics rated it the cheaper (a read of
-- all of a tenant's open alerts for every lead); its condition also names `resolution` (V6), so
-- that only the listing, which says it the same way, can take it. Only a lead that had an alert
-- (`alerted`, V7) can have one open.
open_alerts AS (
    SELECT a.id, a.type, a.message, a.message_en, a.severity, a.lead_name, j.tenant_id, j.lead_id,
           j.rule AS wanted, j.message AS wanted_message, j.message_en AS wanted_message_en,
           j.severity AS wanted_severity,
           coalesce(j.lead_name, a.lead_name) AS wanted_lead_name
      FROM judged j
     CROSS JOIN LATERAL (
           SELECT a.id, a.type, a.message, a.message_en, a.severity, a.lead_name
             FROM max_alerts a
            WHERE a.tenant_id = j.tenant_id AND a.lead_id = j.lead_id AND a.resolved_at IS NULL
           OFFSET 0
     ) a
     WHERE j.alerted AND a.type = ANY ($2::text[])
),
-- Updates find their rows by primary key (`= ANY` of the ids), whatever the statistics say. An
-- alert still open is `resolution IS NULL` (the table's check makes it the same as `resolved_at IS
-- NULL`): a condition no partial index is built on, so that the primary key is the only index
-- the update can take (with `resolved_at IS NULL`, stale statistics chose an index that has the
-- id last: a scan of the whole index for each id). With nothing to resolve, nothing is read (the
-- planner may rightly find a scan of a small table cheaper than its primary key).
resolved AS (
    UPDATE max_alerts a
       SET resolved_at = now(), resolution = 'auto'
     WHERE a.id = ANY (ARRAY(SELECT o.id FROM open_alerts o WHERE o.type IS DISTINCT FROM o.wanted))
       AND a.resolution IS NULL
       AND EXISTS (SELECT FROM open_alerts o WHERE o.type IS DISTINCT FROM o.wanted)
    RETURNING a.type
),
refreshed AS (
    UPDATE max_alerts a
       SET message = o.wanted_message, message_en = o.wanted_message_en,
           severity = o.wanted_severity, lead_name = o.wanted_lead_name
      FROM open_alerts o
     WHERE a.id = ANY (ARRAY(SELECT o.id FROM open_alerts o
                              WHERE o.type = o.wanted
                                AND (o.message, o.message_en, o.severity, o.lead_name)
                                    IS DISTINCT FROM (o.wanted_message, o.wanted_message_en,
                                                      o.wanted_severity, o.wanted_lead_name)))
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
-- (a NULL period: until the situation changes). The newest such resolution is the last entry of
-- the lead's type in `idx_max_alerts_tenant_lead`, which holds manual resolutions only.
held_back AS (
    SELECT c.tenant_id, c.lead_id, m.resolved_at + c.period AS until
      FROM candidates c
     CROSS JOIN LATERAL (
           SELECT max(a.resolved_at) AS resolved_at
             FROM max_alerts a
            WHERE a.tenant_id = c.tenant_id AND a.lead_id = c.lead_id AND a.type = c.rule
              AND a.resolution = 'manual'
     ) m
     WHERE c.alerted AND m.resolved_at > c.since
       AND (c.period IS NULL OR now() < m.resolved_at + c.period)
),
raised AS (
    INSERT INTO max_alerts (tenant_id, lead_id, lead_name, type, severity, message, message_en,
                            suggested_action)
    SELECT c.tenant_id, c.lead_id, c.lead_name, c.rule, c.severity, c.message, c.message_en,
           jsonb_build_object('label', d.action_label, 'action', d.action)
      FROM candidates c
      JOIN max_alert_rule_defaults d ON d.rule = c.rule
     WHERE NOT EXISTS (SELECT FROM held_back h WHERE h.tenant_id = c.tenant_id AND h.lead_id = c.lead_id)
     ORDER BY c.tenant_id, c.lead_id
    ON CONFLICT (tenant_id, lead_id, type) WHERE resolved_at IS NULL DO NOTHING
    RETURNING tenant_id, lead_id, type
),
-- The due rows are locked by this statement, so their row ids are stable until it commits. A
-- lead raised for is marked in the same write (its alert's own mark, `max_alerts_mark_leads`,
-- is skipped for the evaluator's batches: `max.evaluator_marks_leads`).
rescheduled AS (
    UPDATE max_lead_states s
       SET next_check_at = least(j.check_again_at, h.until),
           alerted = j.alerted OR r.lead_id IS NOT NULL
      FROM judged j
      LEFT JOIN held_back h ON h.tenant_id = j.tenant_id AND h.lead_id = j.lead_id
      LEFT JOIN raised r ON r.tenant_id = j.tenant_id AND r.lead_id = j.lead_id
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
"#
    )
}

/// Escalates the open high alerts of the rules (`$2`) left open for `$1` hours.
pub(super) const ESCALATE: &str = "\
UPDATE max_alerts SET escalated_at = now()
 WHERE resolved_at IS NULL AND severity = 'high' AND escalated_at IS NULL
   AND created_at <= now() - make_interval(hours => $1)
   AND type = ANY ($2::text[])
RETURNING type";

/// Ends the snoozes whose time has come (the history then says `woken`, at the snooze's end).
pub(super) const WAKE_EXPIRED: &str = "\
UPDATE max_alerts SET snoozed_until = NULL, snoozed_by = NULL
 WHERE resolved_at IS NULL AND snoozed_until IS NOT NULL AND snoozed_until <= now()
RETURNING type";

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rules::ALL;

    #[test]
    fn every_rule_gets_its_columns_and_its_place_in_the_order() {
        let sql = evaluate(&ALL);
        for k in 1..=ALL.len() {
            assert!(sql.contains(&format!("AS r{k}_at")), "r{k}_at");
            assert!(sql.contains(&format!("WHEN s.r{k}_at <= now() THEN {k}")));
        }
        assert!(!sql.contains("{threshold}"));
        // The rules are named by the bound list only.
        for rule in ALL {
            assert!(!sql.contains(&format!("'{}'", rule.name)), "{}", rule.name);
        }
    }
}
