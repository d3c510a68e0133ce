//! Text into domain values. A value that parses is valid by construction, so no later code checks
//! it again; one that does not says what it must be ([`Invalid`]), and the HTTP layer names the
//! field.

use std::fmt;

/// The longest id (lead, external event, idempotency key) or name accepted.
pub const MAX_ID_CHARS: usize = 200;

/// What a value must be, when it is not. Displayed as the end of a sentence that starts with the
/// field's name ("leadId must not be empty.").
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Invalid {
    NotText,
    Empty,
    TooLong(usize),
    ControlCharacters,
    NulCharacters,
    NotOneOf(&'static [&'static str]),
    NotTimestamp,
    NotDate,
    InFuture { minutes: i64 },
    NotPhoneNumber,
    NotEmail,
    NotWebUrl,
    NotDuration,
}

impl fmt::Display for Invalid {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Invalid::NotText => f.write_str("must be a string."),
            Invalid::Empty => f.write_str("must not be empty."),
            Invalid::TooLong(max) => write!(f, "must be at most {max} characters."),
            Invalid::ControlCharacters => f.write_str("must not contain control characters."),
            Invalid::NulCharacters => f.write_str("must not contain NUL characters."),
            Invalid::NotOneOf(names) => write!(f, "must be one of: {}.", names.join(", ")),
            Invalid::NotTimestamp => f.write_str(
                "must be an ISO 8601 date and time with a time zone, such as 2026-11-24T09:30:00Z.",
            ),
            Invalid::NotDate => f.write_str("must be a date such as 2026-11-24."),
            Invalid::InFuture { minutes } => {
                write!(f, "must not be more than {minutes} minutes in the future.")
            }
            Invalid::NotPhoneNumber => {
                f.write_str("must be a phone number with its country code, such as +33612345678.")
            }
            Invalid::NotEmail => f.write_str("must be an e-mail address, such as jean@exemple.fr."),
            Invalid::NotWebUrl => f.write_str(
                "must be an http or https URL of at most 2000 characters, without spaces.",
            ),
            Invalid::NotDuration => f.write_str("must be a duration such as 30m, 4h or 2d."),
        }
    }
}

/// A date and time as a caller writes it: RFC 3339, with a time zone (`2026-12-07T09:00:00+01:00`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Timestamp(pub time::OffsetDateTime);

impl Parse for Timestamp {
    fn parse(text: &str) -> Result<Self, Invalid> {
        time::OffsetDateTime::parse(
            self::text(text)?.trim(),
            &time::format_description::well_known::Rfc3339,
        )
        .map(Timestamp)
        .map_err(|_| Invalid::NotTimestamp)
    }

    const EXPECTED: Option<Invalid> = Some(Invalid::NotTimestamp);
}

/// A calendar day as a caller writes it: `2026-11-24`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Day(pub time::Date);

impl Parse for Day {
    fn parse(text: &str) -> Result<Self, Invalid> {
        time::Date::parse(
            self::text(text)?.trim(),
            time::macros::format_description!("[year]-[month]-[day]"),
        )
        .map(Day)
        .map_err(|_| Invalid::NotDate)
    }

    const EXPECTED: Option<Invalid> = Some(Invalid::NotDate);
}

/// A domain value read from text.
pub trait Parse: Sized {
    fn parse(text: &str) -> Result<Self, Invalid>;

    /// What the value must be, said when something other than text was sent, and after "is
    /// required" when it is missing (`None`: nothing to add).
    const EXPECTED: Option<Invalid> = None;
}

/// Checks an id: 1 to 200 characters, not blank, no control characters.
pub fn id(text: &str) -> Result<&str, Invalid> {
    if text.trim().is_empty() {
        Err(Invalid::Empty)
    } else if text.chars().count() > MAX_ID_CHARS {
        Err(Invalid::TooLong(MAX_ID_CHARS))
    } else if text.chars().any(char::is_control) {
        Err(Invalid::ControlCharacters)
    } else {
        Ok(text)
    }
}

/// Checks free text: anything PostgreSQL can store (no NUL character).
pub fn text(text: &str) -> Result<&str, Invalid> {
    if text.contains('\0') {
        Err(Invalid::NulCharacters)
    } else {
        Ok(text)
    }
}

/// One of an enum's names (see `strum`), after trimming and ignoring ASCII case.
pub fn one_of<T>(text: &str) -> Result<T, Invalid>
where
    T: std::str::FromStr + strum::VariantNames,
{
    text.trim()
        .parse()
        .map_err(|_| Invalid::NotOneOf(T::VARIANTS))
}

/// Declares an id type: text that names something, checked by [`id`].
macro_rules! id_type {
    ($(#[$doc:meta])* $name:ident) => {
        $(#[$doc])*
        #[derive(Debug, Clone, PartialEq, Eq, Hash)]
        pub struct $name(String);

        impl $name {
            pub fn as_str(&self) -> &str {
                &self.0
            }
        }

        impl $crate::parse::Parse for $name {
            fn parse(text: &str) -> Result<Self, $crate::parse::Invalid> {
                $crate::parse::id(text).map(|text| Self(text.to_owned()))
            }
        }

        impl std::fmt::Display for $name {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str(&self.0)
            }
        }
    };
}
pub(crate) use id_type;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_are_1_to_200_characters_without_control_characters() {
        assert_eq!(id(""), Err(Invalid::Empty));
        assert_eq!(id("   "), Err(Invalid::Empty));
        assert_eq!(id(&"x".repeat(201)), Err(Invalid::TooLong(200)));
        assert_eq!(id("a\u{0}b"), Err(Invalid::ControlCharacters));
        assert!(id(&"é".repeat(200)).is_ok());
    }

    #[test]
    fn messages_end_the_sentence_their_field_starts() {
        assert_eq!(Invalid::Empty.to_string(), "must not be empty.");
        assert_eq!(
            Invalid::NotOneOf(&["in", "out"]).to_string(),
            "must be one of: in, out."
        );
    }
}
