//! `UnansweredInbound`: the lead wrote (or called) and nobody answered.

use super::{Defaults, Rule};
use crate::alerts::Severity;

pub const RULE: Rule = Rule {
    name: "UnansweredInbound",
    defaults: Defaults {
        enabled: true,
        threshold: "4 hours",
        severity: Severity::High,
        action_label: "Répondre au lead",
        action_label_en: "Reply to the lead",
        action: "reply",
        description: "the lead's latest message or call is inbound and older than the threshold",
    },
    holds_from: "CASE WHEN s.last_touch_in THEN s.last_touch_at + {threshold} END",
    since: "s.last_touch_at",
    hold_back: "greatest({threshold}, interval '1 hour')",
    message: "coalesce(s.lead_name, 'Le lead') \
              || CASE s.last_touch_channel WHEN 'call' THEN ' a appelé' \
                                           WHEN 'meeting' THEN ' a demandé un rendez-vous' \
                                           ELSE ' a écrit' END \
              || ' il y a ' || max_duration_fr(s.since, now()) || ', sans réponse'",
    message_en: "coalesce(s.lead_name, 'The lead') \
                 || CASE s.last_touch_channel WHEN 'call' THEN ' called' \
                                              WHEN 'meeting' THEN ' asked for a meeting' \
                                              ELSE ' wrote' END \
                 || ' ' || max_duration_en(s.since, now()) || ' ago, unanswered'",
    rewords_at: Some("max_duration_fr_changes_at(s.since, now())"),
    // Our answer, when it is the newest touch.
    cleared_by: "last_touch_at = new_touch_at AND NOT last_touch_in",
};
