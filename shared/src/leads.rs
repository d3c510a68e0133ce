//! Leads, as activities and alerts name them: an id given by the systems that log activities,
//! an optional display name, and the phone numbers that reach them.

use crate::parse::{self, Invalid, MAX_ID_CHARS, Parse, id_type};

id_type! {
    /// A lead's id, as the CRM or the caller names it.
    LeadId
}

/// A lead's display name ("Sophie"), for living messages: at most 200 characters, trimmed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LeadName(String);

impl LeadName {
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// At most 200 characters as sent; then trimmed, and a blank name is no name.
impl Parse for Option<LeadName> {
    fn parse(text: &str) -> Result<Self, Invalid> {
        if text.chars().count() > MAX_ID_CHARS {
            return Err(Invalid::TooLong(MAX_ID_CHARS));
        }
        let name = parse::text(text)?.trim();
        Ok((!name.is_empty()).then(|| LeadName(name.to_owned())))
    }
}

/// A phone number in E.164 (`+33612345678`): a `+`, the country code and the number, 8 to 15
/// digits in all. How WhatsApp names a person's chat, and how a lead's numbers are kept.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Phone(String);

impl Phone {
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The number of a WhatsApp chat with one person (`33612345678@c.us`); `None` for a group
    /// (`@g.us`), a broadcast or anything else that is not one person's number.
    pub fn of_whatsapp_chat(chat_id: &str) -> Option<Self> {
        let digits = chat_id.strip_suffix("@c.us")?;
        Self::of_digits(digits)
    }

    fn of_digits(digits: &str) -> Option<Self> {
        let valid = (8..=15).contains(&digits.len())
            && digits.bytes().all(|b| b.is_ascii_digit())
            && !digits.starts_with('0');
        valid.then(|| Self(format!("+{digits}")))
    }
}

/// A number as people write it, with its country code: `+33 6 12 34 56 78`, `0033612345678`,
/// `+1 (415) 555-0100`, `33612345678@c.us`. Spaces, dots, dashes and brackets are ignored; a
/// national number (`06 12 34 56 78`) is refused, as its country is unknown.
impl Parse for Phone {
    fn parse(text: &str) -> Result<Self, Invalid> {
        let text = text.trim();
        if let Some(phone) = Self::of_whatsapp_chat(text) {
            return Ok(phone);
        }
        let kept: String = text
            .chars()
            .filter(|c| !matches!(c, ' ' | '.' | '-' | '(' | ')' | '/' | '\u{a0}'))
            .collect();
        let digits = kept
            .strip_prefix('+')
            .or_else(|| kept.strip_prefix("00"))
            .ok_or(Invalid::NotPhoneNumber)?;
        Self::of_digits(digits).ok_or(Invalid::NotPhoneNumber)
    }
}

impl std::fmt::Display for Phone {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn phone_numbers_are_read_in_common_notations_as_e164() {
        for text in [
            "+33612345678",
            "+33 6 12 34 56 78",
            "0033 6.12.34.56.78",
            "(+33) 6-12-34-56-78",
            "33612345678@c.us",
        ] {
            assert_eq!(
                Phone::parse(text).unwrap().as_str(),
                "+33612345678",
                "{text}"
            );
        }
        for bad in [
            "06 12 34 56 78",
            "+0612345678",
            "+33",
            "+33 6 12 34 56 78 90 12 34",
            "abc",
            "",
        ] {
            assert_eq!(Phone::parse(bad), Err(Invalid::NotPhoneNumber), "{bad}");
        }
    }

    #[test]
    fn only_a_persons_whatsapp_chat_has_a_number() {
        assert_eq!(
            Phone::of_whatsapp_chat("79001234568@c.us")
                .unwrap()
                .as_str(),
            "+79001234568"
        );
        assert_eq!(Phone::of_whatsapp_chat("120363043968066561@g.us"), None);
        assert_eq!(Phone::of_whatsapp_chat("status@broadcast"), None);
        assert_eq!(Phone::of_whatsapp_chat("79001234568"), None);
    }

    #[test]
    fn a_name_is_trimmed_and_a_blank_one_is_none() {
        assert_eq!(
            <Option<LeadName>>::parse("  Sophie ")
                .unwrap()
                .unwrap()
                .as_str(),
            "Sophie"
        );
        assert_eq!(<Option<LeadName>>::parse("   "), Ok(None));
        assert_eq!(
            <Option<LeadName>>::parse(&"x".repeat(201)),
            Err(Invalid::TooLong(200))
        );
    }

    #[test]
    fn a_lead_id_is_an_id() {
        assert_eq!(LeadId::parse("lead-1").unwrap().as_str(), "lead-1");
        assert_eq!(LeadId::parse(""), Err(Invalid::Empty));
    }
}
