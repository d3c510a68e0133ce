//! Acknowledging an alert: someone says they are on it, with an optional comment. The alert stays
//! active (listed, counted, escalated after 24 hours unresolved); the history records who and
//! when (migrations/V10).

use tokio_postgres::types::Type;
use uuid::Uuid;

use super::{AlertRow, change_one, write_one};
use crate::db::{Db, DbError};
use crate::parse::{self, Invalid, Parse};
use crate::tenancy::TenantScope;

/// The longest comment accepted (as the schema's check says).
pub const MAX_COMMENT_CHARS: usize = 1000;

/// A comment on an acknowledgement: 1 to 1000 characters, not blank, no NUL.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Comment(String);

impl Comment {
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl Parse for Comment {
    fn parse(text: &str) -> Result<Self, Invalid> {
        let text = parse::text(text)?.trim();
        if text.is_empty() {
            Err(Invalid::Empty)
        } else if text.chars().count() > MAX_COMMENT_CHARS {
            Err(Invalid::TooLong(MAX_COMMENT_CHARS))
        } else {
            Ok(Comment(text.to_owned()))
        }
    }
}

/// Marks an active alert acknowledged unless it already is (or is resolved), and returns it as
/// stored: acknowledging again changes nothing and returns the first acknowledgement, read with a
/// lock so that one committed meanwhile is the one returned.
pub const ACKNOWLEDGE: &str = change_one!(
    "acknowledged_at = now(), acknowledged_by = $3, acknowledgement = $4",
    "resolved_at IS NULL AND acknowledged_at IS NULL"
);

/// Acknowledges an alert of the tenant as `actor`, with a comment if given. An alert already
/// acknowledged or resolved is returned as it is. `None` when the tenant has no such alert.
pub async fn acknowledge(
    db: &Db,
    scope: &TenantScope<'_>,
    id: Uuid,
    actor: &str,
    comment: Option<&Comment>,
) -> Result<Option<AlertRow>, DbError> {
    let tenant = scope.tenant().as_str();
    let comment = comment.map(Comment::as_str);
    write_one(
        db,
        scope,
        ACKNOWLEDGE,
        &[
            (&tenant, Type::TEXT),
            (&id, Type::UUID),
            (&actor, Type::TEXT),
            (&comment, Type::TEXT),
        ],
    )
    .await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_comment_is_trimmed_text_of_at_most_1000_characters() {
        assert_eq!(
            Comment::parse("  Je rappelle lundi \n").unwrap().as_str(),
            "Je rappelle lundi"
        );
        assert_eq!(Comment::parse(" \n "), Err(Invalid::Empty));
        assert_eq!(Comment::parse("a\0b"), Err(Invalid::NulCharacters));
        assert!(Comment::parse(&"é".repeat(1000)).is_ok());
        assert_eq!(
            Comment::parse(&"é".repeat(1001)),
            Err(Invalid::TooLong(1000))
        );
    }
}
