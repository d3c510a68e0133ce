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
    rewords_at: None,
    // A message sent, delivered or read since, when it is the newest outcome.
    cleared_by: "last_outcome_at = new_outcome_at AND NOT last_outcome_failed",
};
