//! What a pass did, per rule.

use std::collections::BTreeMap;

use serde::Serialize;

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
    /// Snoozed alerts whose time had come.
    pub woken: BTreeMap<String, u64>,
    pub elapsed_ms: f64,
}

impl Summary {
    fn total(map: &BTreeMap<String, u64>) -> u64 {
        map.values().sum()
    }

    /// Adds what another worker of the same pass did.
    pub(super) fn add(&mut self, other: Summary) {
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

    /// How many alerts the pass raised, resolved, escalated or reworded.
    pub fn alerts_changed(&self) -> u64 {
        Self::total(&self.raised)
            + Self::total(&self.auto_resolved)
            + Self::total(&self.escalated)
            + Self::total(&self.refreshed)
    }

    /// Whether the pass changed any alert.
    pub fn changed_anything(&self) -> bool {
        self.alerts_changed() > 0
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
