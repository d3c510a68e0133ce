//! `NoReply3d`: our latest message got no reply for 3 days.

use super::{Defaults, Rule};
use crate::alerts::Severity;

pub const RULE: Rule = Rule {
    name: "NoReply3d",
    defaults: Defaults {
        enabled: true,
        threshold: "3 days",
        severity: Severity::Medium,
        action_label: "Relancer par un autre canal",
        action_label_en: "Try another channel",
        action: "switch_channel",
        description: "our latest outbound contact got no inbound reply for the threshold",
    },
    holds_from: "CASE WHEN s.last_contact_at > coalesce(s.last_in_at, '-infinity') \
                      THEN s.last_contact_at + {threshold} END",
    since: "s.last_contact_at",
    hold_back: "greatest({threshold}, interval '1 hour')",
    message: "coalesce(s.lead_name, 'Le lead') || ' n''a pas répondu depuis ' \
              || max_duration_fr(s.since, now()) || '. Peut-être essayer ' \
              || CASE s.last_contact_channel WHEN 'whatsapp' THEN 'un appel' ELSE 'WhatsApp' END \
              || ' ?'",
    message_en: "coalesce(s.lead_name, 'The lead') || ' has not replied for ' \
                 || max_duration_en(s.since, now()) || '. Maybe try ' \
                 || CASE s.last_contact_channel WHEN 'whatsapp' THEN 'a call' ELSE 'WhatsApp' END \
                 || '?'",
    rewords_at: Some("max_duration_fr_changes_at(s.since, now())"),
    // A new contact within the threshold (when it is the newest), or the lead's reply.
    cleared_by: "(last_contact_at = new_contact_at AND last_contact_at > now() - {threshold}) \
                 OR (last_in_at = new_in_at AND last_in_at >= last_contact_at)",
};
