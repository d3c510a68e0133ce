//! Leads, as activities and alerts name them: an id given by the systems that log activities,
//! and an optional display name.

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

#[cfg(test)]
mod tests {
    use super::*;

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
