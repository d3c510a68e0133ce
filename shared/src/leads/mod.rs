//! Leads, as activities and alerts name them: an id given by the systems that log activities,
//! an optional display name, the phone numbers that reach them, an e-mail and a link to the lead
//! in the CRM. The tenant's lead directory keeps them (`directory`).

pub mod directory;

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

/// What people write between the digits of a number, and [`Phone::parse`] ignores.
fn is_separator(c: char) -> bool {
    matches!(c, ' ' | '.' | '-' | '(' | ')' | '/' | '\u{a0}')
}

/// A number as people write it, with its country code: `+33 6 12 34 56 78`, `0033612345678`,
/// `+1 (415) 555-0100`, `33612345678@c.us`. Spaces (also non-breaking), dots, dashes, slashes
/// and brackets are ignored, anything else is not; a national number (`06 12 34 56 78`) is
/// refused, as its country is unknown. docs/openapi.json says the same as a pattern.
impl Parse for Phone {
    fn parse(text: &str) -> Result<Self, Invalid> {
        if let Some(phone) = Self::of_whatsapp_chat(text) {
            return Ok(phone);
        }
        let kept: String = text.chars().filter(|c| !is_separator(*c)).collect();
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

/// A phone number as people write it, or, for a national number (`06 12 34 56 78`), with the
/// country calling code a tenant's CRM assumes (`33`): what the CRM sync reads.
impl Phone {
    pub fn parse_with_country(text: &str, country: Option<&str>) -> Result<Self, Invalid> {
        match (Self::parse(text), country) {
            (Ok(phone), _) => Ok(phone),
            (Err(invalid), None) => Err(invalid),
            (Err(invalid), Some(code)) => {
                let kept: String = text.chars().filter(|c| !is_separator(*c)).collect();
                match kept.strip_prefix('0') {
                    Some(national) if !national.starts_with('0') => {
                        Self::of_digits(&format!("{code}{national}")).ok_or(invalid)
                    }
                    _ => Err(invalid),
                }
            }
        }
    }
}

/// An e-mail address, as the CRM keeps it: at most 320 characters, one `@` with something on
/// each side, no spaces or control characters.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Email(String);

impl Email {
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl Parse for Email {
    fn parse(text: &str) -> Result<Self, Invalid> {
        let allowed = |part: &str| {
            !part.is_empty() && !part.chars().any(|c| c.is_whitespace() || c.is_control())
        };
        let valid = text.chars().count() <= 320
            && matches!(text.split_once('@'), Some((local, domain))
                if allowed(local) && allowed(domain) && !domain.contains('@'));
        valid
            .then(|| Self(text.to_owned()))
            .ok_or(Invalid::NotEmail)
    }
}

/// A link to the lead's page in the CRM: an `http` or `https` URL of at most 2,000 characters,
/// which the widget shows as a link (so never `javascript:` or anything else).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CrmUrl(String);

impl CrmUrl {
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// EspoCRM's page of a lead: `{base}/#Lead/view/{id}`.
    pub fn espocrm_lead(base: &str, id: &LeadId) -> Result<Self, Invalid> {
        let id: String = id
            .as_str()
            .bytes()
            .map(|b| match b {
                b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' => {
                    char::from(b).to_string()
                }
                _ => format!("%{b:02X}"),
            })
            .collect();
        Self::parse(&format!("{}/#Lead/view/{id}", base.trim_end_matches('/')))
    }
}

impl Parse for CrmUrl {
    fn parse(text: &str) -> Result<Self, Invalid> {
        let rest = text
            .strip_prefix("https://")
            .or_else(|| text.strip_prefix("http://"));
        let valid = rest.is_some_and(|rest| !rest.is_empty())
            && text.chars().count() <= 2000
            && !text.chars().any(|c| c.is_whitespace() || c.is_control());
        valid
            .then(|| Self(text.to_owned()))
            .ok_or(Invalid::NotWebUrl)
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
    fn a_national_number_takes_the_crms_country_code() {
        let read = |text, country| Phone::parse_with_country(text, country).map(|p| p.0);
        assert_eq!(read("06 12 34 56 78", Some("33")).unwrap(), "+33612345678");
        assert_eq!(
            read("+44 20 7946 0958", Some("33")).unwrap(),
            "+442079460958"
        );
        assert_eq!(read("06 12 34 56 78", None), Err(Invalid::NotPhoneNumber));
        assert_eq!(read("0", Some("33")), Err(Invalid::NotPhoneNumber));
        assert_eq!(read("abc", Some("33")), Err(Invalid::NotPhoneNumber));
    }

    #[test]
    fn emails_and_crm_links_are_checked() {
        assert_eq!(
            Email::parse("jean@exemple.fr").unwrap().as_str(),
            "jean@exemple.fr"
        );
        for bad in [
            "jean",
            "@x.fr",
            "jean@",
            "a b@x.fr",
            "a@b@c",
            " jean@exemple.fr",
        ] {
            assert_eq!(Email::parse(bad), Err(Invalid::NotEmail), "{bad}");
        }
        assert!(CrmUrl::parse("https://crm.exemple.fr/#Lead/view/1").is_ok());
        for bad in [
            "javascript:alert(1)",
            "ftp://x",
            "https://",
            "https://a b",
            "//x.fr",
        ] {
            assert_eq!(CrmUrl::parse(bad), Err(Invalid::NotWebUrl), "{bad}");
        }
        let id = LeadId::parse("6571a b/c").unwrap();
        assert_eq!(
            CrmUrl::espocrm_lead("https://crm.exemple.fr/", &id)
                .unwrap()
                .as_str(),
            "https://crm.exemple.fr/#Lead/view/6571a%20b%2Fc"
        );
    }

    #[test]
    fn a_lead_id_is_an_id() {
        assert_eq!(LeadId::parse("lead-1").unwrap().as_str(), "lead-1");
        assert_eq!(LeadId::parse(""), Err(Invalid::Empty));
    }
}
