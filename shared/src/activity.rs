//! Activities: what a salesperson or a system did with a lead (a message, a call), as logged by
//! `POST /api/activities/log`.

use serde::Serialize;
use serde_json::{Map, Value};
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;
use tokio_postgres::Row;
use tokio_postgres::types::Type;
use uuid::Uuid;

use crate::db::{Access, Db, Stmt, TenantScope};
use crate::error::ApiError;
use crate::validate;

/// The longest message snippet stored; a longer one is truncated, not refused.
pub const MAX_SNIPPET_CHARS: usize = 1000;
/// How far in the future `occurredAt` may be, for callers whose clocks run a little fast.
pub const MAX_CLOCK_SKEW: time::Duration = time::Duration::minutes(5);

/// The channels an activity can use.
pub const CHANNELS: [&str; 6] = ["whatsapp", "email", "sms", "call", "meeting", "other"];
/// The directions of an activity: `in` from the lead, `out` to the lead.
pub const DIRECTIONS: [&str; 2] = ["in", "out"];
/// The statuses of an activity.
pub const STATUSES: [&str; 7] = [
    "sent",
    "delivered",
    "read",
    "failed",
    "received",
    "missed",
    "completed",
];

/// An activity to log, parsed from a request body.
#[derive(Debug, Clone, PartialEq)]
pub struct NewActivity {
    pub lead_id: String,
    pub lead_name: Option<String>,
    pub channel: &'static str,
    pub direction: &'static str,
    pub status: &'static str,
    pub message_snippet: Option<String>,
    /// Whether the snippet was cut to [`MAX_SNIPPET_CHARS`].
    pub snippet_truncated: bool,
    pub external_id: Option<String>,
    pub idempotency_key: Option<String>,
    pub occurred_at: Option<OffsetDateTime>,
}

impl NewActivity {
    /// Reads a request body (`{leadId, channel, direction, status, messageSnippet, leadName?,
    /// externalId?, occurredAt?}`) and the optional `Idempotency-Key` header. Unknown fields are
    /// ignored, so that callers may send more than this version reads.
    pub fn from_json(
        body: &Map<String, Value>,
        idempotency_key: Option<&str>,
        now: OffsetDateTime,
    ) -> Result<Self, ApiError> {
        let lead_id = validate::id(body, "leadId")?
            .ok_or_else(|| ApiError::invalid_field("leadId", "leadId is required."))?;
        let channel = one_of(body, "channel", &CHANNELS, &[])?;
        let direction = one_of(
            body,
            "direction",
            &DIRECTIONS,
            &[("inbound", "in"), ("outbound", "out")],
        )?;
        let status = one_of(body, "status", &STATUSES, &[])?;
        let (message_snippet, snippet_truncated) =
            match validate::optional_text(body, "messageSnippet")? {
                None => (None, false),
                Some(text) => match text.char_indices().nth(MAX_SNIPPET_CHARS) {
                    Some((cut, _)) => (Some(text[..cut].to_owned()), true),
                    None => (Some(text.to_owned()), false),
                },
            };
        let lead_name = validate::optional_text(body, "leadName")?
            .map(str::trim)
            .filter(|name| !name.is_empty())
            .map(|name| {
                if name.chars().count() > validate::MAX_ID_CHARS {
                    Err(ApiError::invalid_field(
                        "leadName",
                        "leadName must be at most 200 characters.",
                    ))
                } else {
                    Ok(name.to_owned())
                }
            })
            .transpose()?;
        let external_id = validate::id(body, "externalId")?;
        let idempotency_key = idempotency_key
            .map(|key| {
                validate::id_text(key, "Idempotency-Key")
                    .map_err(|message| ApiError::bad_request("invalid_header", message))
            })
            .transpose()?;
        let occurred_at = match validate::optional_text(body, "occurredAt")? {
            None => None,
            Some(text) => {
                let at = OffsetDateTime::parse(text, &Rfc3339).map_err(|_| {
                    ApiError::invalid_field(
                        "occurredAt",
                        "occurredAt must be an ISO 8601 date and time with a time zone, such as 2026-11-24T09:30:00Z.",
                    )
                })?;
                if at > now + MAX_CLOCK_SKEW {
                    return Err(ApiError::invalid_field(
                        "occurredAt",
                        "occurredAt must not be more than 5 minutes in the future.",
                    ));
                }
                Some(at)
            }
        };
        Ok(Self {
            lead_id,
            lead_name,
            channel,
            direction,
            status,
            message_snippet,
            snippet_truncated,
            external_id,
            idempotency_key,
            occurred_at,
        })
    }
}

/// Reads a required field whose value is one of `allowed` (case-insensitive), or an alias of one.
fn one_of(
    body: &Map<String, Value>,
    field: &'static str,
    allowed: &[&'static str],
    aliases: &[(&str, &'static str)],
) -> Result<&'static str, ApiError> {
    let expected = || format!("{field} must be one of: {}.", allowed.join(", "));
    let text = match body.get(field) {
        None | Some(Value::Null) => {
            return Err(ApiError::invalid_field(
                field,
                format!("{field} is required; {}", expected()),
            ));
        }
        Some(Value::String(text)) => text.trim().to_ascii_lowercase(),
        Some(_) => return Err(ApiError::invalid_field(field, expected())),
    };
    allowed
        .iter()
        .copied()
        .find(|value| *value == text)
        .or_else(|| {
            aliases
                .iter()
                .find(|(alias, _)| *alias == text)
                .map(|(_, value)| *value)
        })
        .ok_or_else(|| ApiError::invalid_field(field, expected()))
}

/// A logged activity, as the API shows it.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Activity {
    pub id: Uuid,
    pub lead_id: String,
    pub lead_name: Option<String>,
    pub channel: String,
    pub direction: String,
    pub status: String,
    pub message_snippet: Option<String>,
    pub external_id: Option<String>,
    #[serde(with = "time::serde::rfc3339")]
    pub occurred_at: OffsetDateTime,
    #[serde(with = "time::serde::rfc3339")]
    pub created_at: OffsetDateTime,
}

/// The outcome of logging: the activity, and whether it had been logged before (a retry).
#[derive(Debug, Clone, PartialEq)]
pub struct Logged {
    pub activity: Activity,
    pub replayed: bool,
}

impl Activity {
    fn from_row(row: &Row) -> Result<Self, tokio_postgres::Error> {
        Ok(Self {
            id: row.try_get("id")?,
            lead_id: row.try_get("lead_id")?,
            lead_name: row.try_get("lead_name")?,
            channel: row.try_get("channel")?,
            direction: row.try_get("direction")?,
            status: row.try_get("status")?,
            message_snippet: row.try_get("message_snippet")?,
            external_id: row.try_get("external_id")?,
            occurred_at: row.try_get("occurred_at")?,
            created_at: row.try_get("created_at")?,
        })
    }
}

/// Inserts the activity, or finds the one a retry with the same `Idempotency-Key` (or the same
/// `externalId` and `status`) already stored. Both halves run in one statement.
pub const LOG_ACTIVITY: &str = "\
WITH inserted AS (
    INSERT INTO lead_activities AS a
           (tenant_id, lead_id, lead_name, channel, direction, status, message_snippet,
            external_id, idempotency_key, occurred_at)
    VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, coalesce($10, now()))
    ON CONFLICT DO NOTHING
    RETURNING a.id, a.lead_id, a.lead_name, a.channel, a.direction, a.status, a.message_snippet,
              a.external_id, a.occurred_at, a.created_at, false AS replayed
)
SELECT * FROM inserted
UNION ALL
(SELECT id, lead_id, lead_name, channel, direction, status, message_snippet,
        external_id, occurred_at, created_at, true AS replayed
   FROM lead_activities
  WHERE tenant_id = $1
    AND NOT EXISTS (SELECT FROM inserted)
    AND (idempotency_key = $9 OR (external_id = $8 AND status = $6))
  ORDER BY created_at
  LIMIT 1)";

/// Logs an activity for the tenant: one round trip, nothing stored twice for a retried request.
pub async fn log(db: &Db, scope: &TenantScope<'_>, new: &NewActivity) -> Result<Logged, ApiError> {
    let tenant = scope.tenant().as_str();
    let params: &[(&(dyn tokio_postgres::types::ToSql + Sync), Type)] = &[
        (&tenant, Type::TEXT),
        (&new.lead_id, Type::TEXT),
        (&new.lead_name, Type::TEXT),
        (&new.channel, Type::TEXT),
        (&new.direction, Type::TEXT),
        (&new.status, Type::TEXT),
        (&new.message_snippet, Type::TEXT),
        (&new.external_id, Type::TEXT),
        (&new.idempotency_key, Type::TEXT),
        (&new.occurred_at, Type::TIMESTAMPTZ),
    ];
    // A concurrent first attempt that commits while this statement runs is invisible to its
    // snapshot: the insert yields to it and the lookup finds nothing. The next statement sees it.
    for _ in 0..3 {
        let rows = db
            .run(
                scope,
                Access::ReadWrite,
                &[Stmt {
                    sql: LOG_ACTIVITY,
                    params,
                }],
            )
            .await?;
        if let Some(row) = rows.first().and_then(|rows| rows.first()) {
            let activity = Activity::from_row(row).map_err(|error| {
                tracing::error!(%error, "activity row did not map");
                ApiError::internal()
            })?;
            return Ok(Logged {
                activity,
                replayed: row.get("replayed"),
            });
        }
    }
    tracing::error!("activity neither inserted nor found after retries");
    Err(ApiError::internal())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn parse(body: Value) -> Result<NewActivity, ApiError> {
        NewActivity::from_json(body.as_object().unwrap(), None, OffsetDateTime::now_utc())
    }

    fn seed_body() -> Value {
        json!({
            "leadId": "test_deploy",
            "channel": "whatsapp",
            "direction": "out",
            "status": "sent",
            "messageSnippet": "Test déploiement"
        })
    }

    #[test]
    fn the_seed_body_parses() {
        let new = parse(seed_body()).unwrap();
        assert_eq!(new.lead_id, "test_deploy");
        assert_eq!(new.channel, "whatsapp");
        assert_eq!(new.direction, "out");
        assert_eq!(new.status, "sent");
        assert_eq!(new.message_snippet.as_deref(), Some("Test déploiement"));
        assert!(!new.snippet_truncated);
    }

    #[test]
    fn a_missing_lead_id_names_the_field() {
        let mut body = seed_body();
        body.as_object_mut().unwrap().remove("leadId");
        let error = parse(body).unwrap_err();
        assert_eq!(error.field, Some("leadId"));
    }

    #[test]
    fn empty_or_overlong_ids_are_refused() {
        for bad in [
            json!(""),
            json!("   "),
            json!("x".repeat(201)),
            json!(42),
            json!("a\u{0}b"),
        ] {
            let mut body = seed_body();
            body["leadId"] = bad.clone();
            assert_eq!(parse(body).unwrap_err().field, Some("leadId"), "{bad}");
        }
        let mut body = seed_body();
        body["leadId"] = json!("x".repeat(200));
        assert!(parse(body).is_ok());
    }

    #[test]
    fn unknown_enum_values_are_refused_with_the_allowed_list() {
        for field in ["channel", "direction", "status"] {
            let mut body = seed_body();
            body[field] = json!("pigeon");
            let error = parse(body).unwrap_err();
            assert_eq!(error.field, Some(field));
            assert!(
                error.message.contains("must be one of"),
                "{}",
                error.message
            );
        }
    }

    #[test]
    fn enum_values_are_read_case_insensitively_and_legacy_directions_are_understood() {
        let mut body = seed_body();
        body["channel"] = json!("WhatsApp");
        body["direction"] = json!("outbound");
        let new = parse(body).unwrap();
        assert_eq!((new.channel, new.direction), ("whatsapp", "out"));
    }

    #[test]
    fn a_long_snippet_is_truncated_not_refused() {
        let mut body = seed_body();
        body["messageSnippet"] = json!("é".repeat(MAX_SNIPPET_CHARS + 50));
        let new = parse(body).unwrap();
        assert!(new.snippet_truncated);
        assert_eq!(
            new.message_snippet.unwrap().chars().count(),
            MAX_SNIPPET_CHARS
        );
    }

    #[test]
    fn wrong_types_are_refused() {
        let mut body = seed_body();
        body["messageSnippet"] = json!({"text": "hi"});
        assert_eq!(parse(body).unwrap_err().field, Some("messageSnippet"));
    }

    #[test]
    fn occurred_at_is_read_and_may_not_be_in_the_future() {
        let mut body = seed_body();
        body["occurredAt"] = json!("2026-01-02T03:04:05+01:00");
        let new = parse(body).unwrap();
        assert_eq!(
            new.occurred_at.unwrap().unix_timestamp(),
            OffsetDateTime::parse("2026-01-02T02:04:05Z", &Rfc3339)
                .unwrap()
                .unix_timestamp()
        );

        let mut body = seed_body();
        let later = OffsetDateTime::now_utc() + time::Duration::hours(1);
        body["occurredAt"] = json!(later.format(&Rfc3339).unwrap());
        assert_eq!(parse(body).unwrap_err().field, Some("occurredAt"));

        let mut body = seed_body();
        body["occurredAt"] = json!("yesterday");
        assert_eq!(parse(body).unwrap_err().field, Some("occurredAt"));
    }

    #[test]
    fn a_bad_idempotency_key_is_refused() {
        let body = seed_body();
        let error = NewActivity::from_json(
            body.as_object().unwrap(),
            Some(""),
            OffsetDateTime::now_utc(),
        )
        .unwrap_err();
        assert_eq!(error.code, "invalid_header");
    }
}
