//! `DeliveryFailed`: the latest outbound message could not be delivered.

use super::{Defaults, Rule};
use crate::alerts::Severity;

pub const RULE: Rule = Rule {
    name: "DeliveryFailed",
    defaults: Defaults {
        enabled: true,
        threshold: "0",
        severity: Severity::High,
        action_label: "Vérifier le numéro du lead",
        action_label_en: "Check the lead's number",
        action: "check_contact",
        description: "the latest outbound message failed",
    },
    holds_from: "CASE WHEN s.last_outcome_failed THEN s.last_outcome_at + {threshold} END",
    since: "s.last_outcome_at",
    // Until a new failure: a person's resolution holds while the situation lasts.
    hold_back: "NULL::interval",
    message: "CASE s.last_outcome_channel WHEN 'whatsapp' THEN 'Le dernier message WhatsApp' \
                                          WHEN 'sms' THEN 'Le dernier SMS' \
                                          WHEN 'email' THEN 'Le dernier e-mail' \
                                          ELSE 'Le dernier message' END \
              || coalesce(' à ' || s.lead_name, '') || ' n''a pas été délivré'",
    message_en: "CASE s.last_outcome_channel WHEN 'whatsapp' THEN 'The last WhatsApp message' \
                                             WHEN 'sms' THEN 'The last SMS' \
                                             WHEN 'email' THEN 'The last e-mail' \
                                             ELSE 'The last message' END \
                 || coalesce(' to ' || s.lead_name, '') || ' was not delivered'",
    rewords_at: None,
    // A message sent, delivered or read since, when it is the newest outcome.
    cleared_by: "last_outcome_at = new_outcome_at AND NOT last_outcome_failed",
};
