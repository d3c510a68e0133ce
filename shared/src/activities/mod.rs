//! Activities: what a salesperson or a system did with a lead (a message, a call), as logged by
//! `POST /api/activities/log`. Each insert folds into the lead's summary (`max_lead_states`) and
//! resolves at once the alerts it clears, in the same transaction (`migrations/`, and the rules'
//! `cleared_by` in `crate::rules`).

mod log;

use serde::Serialize;
use strum::{EnumString, IntoStaticStr, VariantNames};
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;
use uuid::Uuid;

pub use log::{LOG_ACTIVITY, Logged, log};

use crate::leads::{LeadId, LeadName};
use crate::parse::{self, Invalid, Parse, id_type};

/// The longest message snippet stored; a longer one is truncated, not refused.
pub const MAX_SNIPPET_CHARS: usize = 1000;
/// How far in the future `occurredAt` may be, for callers whose clocks run a little fast.
pub const MAX_CLOCK_SKEW: time::Duration = time::Duration::minutes(5);

/// The channel of an activity.
#[derive(Debug, Clone, Copy, PartialEq, Eq, EnumString, IntoStaticStr, VariantNames, Serialize)]
#[strum(serialize_all = "lowercase", ascii_case_insensitive)]
#[serde(rename_all = "lowercase")]
pub enum Channel {
    Whatsapp,
    Email,
    Sms,
    Call,
    Meeting,
    Other,
}

/// The direction of an activity: `in` from the lead, `out` to the lead (`inbound` and `outbound`
/// are read too, as older callers send them).
#[derive(Debug, Clone, Copy, PartialEq, Eq, EnumString, IntoStaticStr, VariantNames, Serialize)]
#[strum(ascii_case_insensitive)]
#[serde(rename_all = "lowercase")]
pub enum Direction {
    #[strum(to_string = "in", serialize = "inbound")]
    In,
    #[strum(to_string = "out", serialize = "outbound")]
    Out,
}

/// What became of an activity: a message sent, delivered, read or failed, received from the lead,
/// a call missed or completed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, EnumString, IntoStaticStr, VariantNames, Serialize)]
#[strum(serialize_all = "lowercase", ascii_case_insensitive)]
#[serde(rename_all = "lowercase")]
pub enum Status {
    Sent,
    Delivered,
    Read,
    Failed,
    Received,
    Missed,
    Completed,
}

/// The text forms of the enums above, and their reading from text.
macro_rules! text_enum {
    ($($name:ident),*) => {$(
        impl $name {
            pub fn as_str(self) -> &'static str {
                self.into()
            }
        }

        impl Parse for $name {
            fn parse(text: &str) -> Result<Self, Invalid> {
                parse::one_of(text)
            }

            const EXPECTED: Option<Invalid> = Some(Invalid::NotOneOf(<$name as VariantNames>::VARIANTS));
        }
    )*};
}
text_enum!(Channel, Direction, Status);

id_type! {
    /// The provider's id of a message or call (a WhatsApp message id): with the status it names
    /// one event, so a retried webhook is stored once while `sent`, `delivered`, `read` each count.
    ExternalId
}

id_type! {
    /// The caller's `Idempotency-Key`: a retried request is stored once.
    IdempotencyKey
}

/// What a message said, cut to [`MAX_SNIPPET_CHARS`] (a long message is kept, shortened).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Snippet {
    text: String,
    truncated: bool,
}

impl Snippet {
    pub fn as_str(&self) -> &str {
        &self.text
    }

    /// Whether the text was cut.
    pub fn truncated(&self) -> bool {
        self.truncated
    }
}

impl Parse for Snippet {
    fn parse(text: &str) -> Result<Self, Invalid> {
        let text = parse::text(text)?;
        Ok(match text.char_indices().nth(MAX_SNIPPET_CHARS) {
            Some((cut, _)) => Snippet {
                text: text[..cut].to_owned(),
                truncated: true,
            },
            None => Snippet {
                text: text.to_owned(),
                truncated: false,
            },
        })
    }
}

/// When a contact happened, as the caller says: an RFC 3339 date and time with a time zone.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct OccurredAt(OffsetDateTime);

impl Parse for OccurredAt {
    fn parse(text: &str) -> Result<Self, Invalid> {
        OffsetDateTime::parse(parse::text(text)?, &Rfc3339)
            .map(OccurredAt)
            .map_err(|_| Invalid::NotTimestamp)
    }
}

impl OccurredAt {
    /// The time, unless it is further in the future than a clock may be wrong.
    pub fn not_after(self, now: OffsetDateTime) -> Result<OffsetDateTime, Invalid> {
        if self.0 > now + MAX_CLOCK_SKEW {
            Err(Invalid::InFuture {
                minutes: MAX_CLOCK_SKEW.whole_minutes(),
            })
        } else {
            Ok(self.0)
        }
    }
}

/// An activity to log.
#[derive(Debug, Clone, PartialEq)]
pub struct NewActivity {
    pub lead_id: LeadId,
    pub lead_name: Option<LeadName>,
    pub channel: Channel,
    pub direction: Direction,
    pub status: Status,
    pub message_snippet: Option<Snippet>,
    pub external_id: Option<ExternalId>,
    pub idempotency_key: Option<IdempotencyKey>,
    /// When it happened; `None`: now.
    pub occurred_at: Option<OffsetDateTime>,
}

impl NewActivity {
    /// An activity of a lead, happening now, with nothing else said.
    pub fn new(lead_id: LeadId, channel: Channel, direction: Direction, status: Status) -> Self {
        Self {
            lead_id,
            lead_name: None,
            channel,
            direction,
            status,
            message_snippet: None,
            external_id: None,
            idempotency_key: None,
            occurred_at: None,
        }
    }

    /// Whether the snippet was cut to [`MAX_SNIPPET_CHARS`].
    pub fn snippet_truncated(&self) -> bool {
        self.message_snippet
            .as_ref()
            .is_some_and(Snippet::truncated)
    }
}

/// A logged activity, as the API shows it.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Activity {
    pub id: Uuid,
    pub lead_id: String,
    pub lead_name: Option<String>,
    pub channel: Channel,
    pub direction: Direction,
    pub status: Status,
    pub message_snippet: Option<String>,
    pub external_id: Option<String>,
    #[serde(with = "time::serde::rfc3339")]
    pub occurred_at: OffsetDateTime,
    #[serde(with = "time::serde::rfc3339")]
    pub created_at: OffsetDateTime,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn enum_values_are_read_case_insensitively_and_legacy_directions_are_understood() {
        assert_eq!(Channel::parse(" WhatsApp "), Ok(Channel::Whatsapp));
        assert_eq!(Direction::parse("outbound"), Ok(Direction::Out));
        assert_eq!(Direction::parse("IN"), Ok(Direction::In));
        assert_eq!(Direction::Out.as_str(), "out");
        assert_eq!(
            Direction::parse("up"),
            Err(Invalid::NotOneOf(&["in", "out"]))
        );
        assert_eq!(
            Channel::EXPECTED.unwrap().to_string(),
            "must be one of: whatsapp, email, sms, call, meeting, other."
        );
        assert_eq!(
            Status::EXPECTED.unwrap().to_string(),
            "must be one of: sent, delivered, read, failed, received, missed, completed."
        );
    }

    #[test]
    fn a_long_snippet_is_truncated_not_refused() {
        let snippet = Snippet::parse(&"é".repeat(MAX_SNIPPET_CHARS + 50)).unwrap();
        assert!(snippet.truncated());
        assert_eq!(snippet.as_str().chars().count(), MAX_SNIPPET_CHARS);
        assert!(!Snippet::parse("court").unwrap().truncated());
        assert_eq!(Snippet::parse("a\0b"), Err(Invalid::NulCharacters));
    }

    #[test]
    fn occurred_at_is_read_and_may_not_be_in_the_future() {
        let at = OccurredAt::parse("2026-01-02T03:04:05+01:00").unwrap();
        let now = OffsetDateTime::now_utc();
        assert_eq!(
            at.not_after(now).unwrap().unix_timestamp(),
            OffsetDateTime::parse("2026-01-02T02:04:05Z", &Rfc3339)
                .unwrap()
                .unix_timestamp()
        );
        let later = OccurredAt(now + time::Duration::hours(1));
        assert_eq!(later.not_after(now), Err(Invalid::InFuture { minutes: 5 }));
        assert_eq!(OccurredAt::parse("yesterday"), Err(Invalid::NotTimestamp));
    }
}
