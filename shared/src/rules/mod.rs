//! The alert rules. Each has one home (`rules/<rule>.rs`) that says everything about it: when it
//! holds, since when, what its message says and when that wording changes, what clears it at once
//! when an activity is logged, how long a person's resolution holds it back, and its defaults.
//! [`ALL`] lists them once, in priority order.
//!
//! A rule is SQL over one lead's summary (`max_lead_states`, the facts every activity insert keeps
//! up to date), because the evaluator judges every due lead in one set-wise statement. Its
//! fragments are put together by `crate::evaluator` (the pass) and by [`install_script`] (what the
//! database needs: the defaults, and the function the activity trigger asks which open alerts new
//! activities clear), which `max-local migrate` installs whenever the rules change.
//!
//! In the fragments:
//! - `s.` is the lead's summary (`max_lead_states` columns), and in `message` and `rewords_at`
//!   also `s.since`, the value of `since`;
//! - `{threshold}` is the tenant's threshold for the rule (an `interval`);
//! - in `cleared_by`, `last_in_at`, `last_contact_at`, `last_touch_at`, `last_touch_in`,
//!   `last_outcome_at` and `last_outcome_failed` are the lead's summary once the new activities
//!   are folded in, and `new_in_at`, `new_contact_at`, `new_touch_at`, `new_outcome_at` the newest
//!   of each kind among the new activities (NULL when there is none).
//!
//! To add a rule: write its home, add it to [`ALL`] at its place in the priority order, and run
//! `max-local migrate`. A rule that needs a fact the summary does not keep yet also needs one
//! migration (the column, and how the activity trigger, `max_lead_activities_merge`, maintains
//! it). `docs/architecture.md` walks through it.

mod delivery_failed;
mod no_contact_7d;
mod no_reply_3d;
mod unanswered_inbound;

use sha2::{Digest, Sha256};

use crate::alerts::Severity;

pub use delivery_failed::RULE as DELIVERY_FAILED;
pub use no_contact_7d::RULE as NO_CONTACT_7D;
pub use no_reply_3d::RULE as NO_REPLY_3D;
pub use unanswered_inbound::RULE as UNANSWERED_INBOUND;

/// Every rule, most actionable first: when several hold for a lead, the first wins (one situation,
/// one alert). This order is the rules' priority, and the only place it is written.
pub const ALL: [&Rule; 4] = [
    &UNANSWERED_INBOUND,
    &DELIVERY_FAILED,
    &NO_CONTACT_7D,
    &NO_REPLY_3D,
];

/// One alert rule (see the module documentation for what its SQL may refer to).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Rule {
    /// The alert type it raises (`max_alerts.type`).
    pub name: &'static str,
    pub defaults: Defaults,
    /// When the rule holds, or will hold, for the lead (a `timestamptz`); NULL when it cannot.
    pub holds_from: &'static str,
    /// Since when the situation lasts: the time its message counts from, and the start a person's
    /// resolution is compared with.
    pub since: &'static str,
    /// How long a person's resolution holds the alert back while the situation lasts (an
    /// `interval`); NULL: until the situation changes.
    pub hold_back: &'static str,
    /// What the alert says: French, human and concrete.
    pub message: &'static str,
    /// The same in English, from the same facts (its wording changes when the French one does).
    pub message_en: &'static str,
    /// When the message next reads differently ("depuis 9 jours" becomes "depuis 10 jours"), if
    /// its wording changes with time.
    pub rewords_at: Option<&'static str>,
    /// Whether new activities clear an open alert of this rule at once (a `boolean`).
    pub cleared_by: &'static str,
}

/// A rule's settings for every tenant that did not change them (`max-local rules` changes them).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Defaults {
    pub enabled: bool,
    /// How long the situation must last before the alert is raised (a PostgreSQL interval).
    pub threshold: &'static str,
    pub severity: Severity,
    /// The suggested action (`suggestedAction.label`, French).
    pub action_label: &'static str,
    /// The same in English (answered to English readers in place of the French default).
    pub action_label_en: &'static str,
    /// `suggestedAction.action`, for programs.
    pub action: &'static str,
    /// What the rule watches, for operators.
    pub description: &'static str,
}

/// The rule named `name`.
pub fn find(name: &str) -> Option<&'static Rule> {
    ALL.into_iter().find(|rule| rule.name == name)
}

/// The names of `rules`, in their order: the list statements bind as a parameter.
pub fn names(rules: &[&Rule]) -> Vec<&'static str> {
    rules.iter().map(|rule| rule.name).collect()
}

/// The names of every rule, as a sentence ("A, B or C").
pub fn listed() -> String {
    let names = names(&ALL);
    match names.split_last() {
        Some((last, [])) => (*last).to_owned(),
        Some((last, rest)) => format!("{} or {last}", rest.join(", ")),
        None => String::new(),
    }
}

/// The function the activity trigger calls for each open alert of a lead that new activities
/// touched: whether they clear it (its parameters are the names `cleared_by` uses).
pub const CLEARED_FUNCTION: &str = "max_alert_cleared(\
    p_type text, p_tenant text, \
    last_in_at timestamptz, last_contact_at timestamptz, last_touch_at timestamptz, \
    last_touch_in boolean, last_outcome_at timestamptz, last_outcome_failed boolean, \
    new_in_at timestamptz, new_contact_at timestamptz, new_touch_at timestamptz, \
    new_outcome_at timestamptz)";

/// The same function's signature, as `COMMENT ON FUNCTION` names it.
pub const CLEARED_SIGNATURE: &str = "max_alert_cleared(text, text, timestamptz, timestamptz, \
    timestamptz, boolean, timestamptz, boolean, timestamptz, timestamptz, timestamptz, timestamptz)";

/// The database side of `rules`: their defaults, and [`CLEARED_FUNCTION`] built from their
/// `cleared_by`. Safe to run again; [`version`] tells whether a database has this one.
pub fn install_script(rules: &[&Rule]) -> String {
    let literal = |text: &str| format!("'{}'", text.replace('\'', "''"));
    let defaults: Vec<String> = rules
        .iter()
        .map(|rule| {
            let d = &rule.defaults;
            format!(
                "({}, {}, {}::interval, {}, {}, {}, {})",
                literal(rule.name),
                d.enabled,
                literal(d.threshold),
                literal(d.severity.as_str()),
                literal(d.action_label),
                literal(d.action),
                literal(d.description)
            )
        })
        .collect();
    let cleared: Vec<String> = rules
        .iter()
        .map(|rule| {
            let threshold = format!("max_rule_threshold(p_tenant, {})", literal(rule.name));
            format!(
                "        WHEN {} THEN ({})",
                literal(rule.name),
                rule.cleared_by.replace("{threshold}", &threshold)
            )
        })
        .collect();
    format!(
        "INSERT INTO max_alert_rule_defaults AS d
       (rule, enabled, threshold, severity, action_label, action, description)
VALUES {defaults}
ON CONFLICT (rule) DO UPDATE
   SET enabled = excluded.enabled, threshold = excluded.threshold, severity = excluded.severity,
       action_label = excluded.action_label, action = excluded.action,
       description = excluded.description;

CREATE OR REPLACE FUNCTION {CLEARED_FUNCTION} RETURNS boolean
LANGUAGE sql STABLE PARALLEL SAFE
AS $rules$
    SELECT CASE p_type
{cleared}
        ELSE false
    END
$rules$;
",
        defaults = defaults.join(",\n       "),
        cleared = cleared.join("\n"),
    )
}

/// What marks a database as holding `script` (kept as the comment of [`CLEARED_FUNCTION`]).
pub fn version(script: &str) -> String {
    let digest = Sha256::digest(script.as_bytes());
    let hex: String = digest[..8].iter().map(|b| format!("{b:02x}")).collect();
    format!("rules {hex}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_rules_are_listed_once_in_the_spec_s_priority_order() {
        assert_eq!(
            names(&ALL),
            [
                "UnansweredInbound",
                "DeliveryFailed",
                "NoContact7d",
                "NoReply3d"
            ]
        );
        assert_eq!(
            listed(),
            "UnansweredInbound, DeliveryFailed, NoContact7d or NoReply3d"
        );
        assert_eq!(find("NoReply3d"), Some(&NO_REPLY_3D));
        assert_eq!(find("Nope"), None);
    }

    #[test]
    fn the_install_script_quotes_texts_and_fills_in_each_rule_s_threshold() {
        let script = install_script(&ALL);
        assert!(
            script.contains("('DeliveryFailed', true, '0'::interval, 'high'"),
            "{script}"
        );
        assert!(script.contains("'the lead''s latest message or call is inbound"));
        assert!(script.contains(
            "WHEN 'NoContact7d' THEN (last_contact_at = new_contact_at \
             AND last_contact_at > now() - max_rule_threshold(p_tenant, 'NoContact7d'))"
        ));
        assert!(!script.contains("{threshold}"));
        assert_ne!(version(&script), version(&install_script(&ALL[..3])));
    }
}
