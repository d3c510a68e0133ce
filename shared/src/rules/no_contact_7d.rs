//! `NoContact7d`: nobody contacted the lead for 7 days, or ever since it first appeared.

use super::{Defaults, Rule};
use crate::alerts::Severity;

pub const RULE: Rule = Rule {
    name: "NoContact7d",
    defaults: Defaults {
        enabled: true,
        threshold: "7 days",
        severity: Severity::High,
        action_label: "Relancer le lead",
        action_label_en: "Follow up with the lead",
        action: "follow_up",
        description: "no outbound contact for the threshold, or never since the lead first appeared",
    },
    holds_from: "coalesce(s.last_contact_at, s.first_seen_at) + {threshold}",
    since: "coalesce(s.last_contact_at, s.first_seen_at)",
    hold_back: "greatest({threshold}, interval '1 hour')",
    message: "CASE WHEN s.last_contact_at IS NOT NULL \
                   THEN 'Aucun contact' || coalesce(' avec ' || s.lead_name, '') \
                        || ' depuis ' || max_duration_fr(s.since, now()) \
                   WHEN s.lead_name IS NOT NULL \
                   THEN s.lead_name || ' attend un premier contact depuis ' \
                        || max_duration_fr(s.since, now()) \
                   ELSE 'Jamais contacté depuis ' || max_duration_fr(s.since, now()) END",
    message_en: "CASE WHEN s.last_contact_at IS NOT NULL \
                      THEN 'No contact' || coalesce(' with ' || s.lead_name, '') \
                           || ' for ' || max_duration_en(s.since, now()) \
                      WHEN s.lead_name IS NOT NULL \
                      THEN s.lead_name || ' has been waiting for a first contact for ' \
                           || max_duration_en(s.since, now()) \
                      ELSE 'Never contacted in ' || max_duration_en(s.since, now()) END",
    rewords_at: Some("max_duration_fr_changes_at(s.since, now())"),
    // A contact within the threshold, when it is the newest (back-filled history is left to the
    // evaluator).
    cleared_by: "last_contact_at = new_contact_at AND last_contact_at > now() - {threshold}",
};
