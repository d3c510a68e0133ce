//! The body of `POST /api/activities/log`, read into a [`NewActivity`].

use serde::Deserialize;
use time::OffsetDateTime;

use super::ApiError;
use super::body::Field;
use crate::activities::{
    Channel, Direction, ExternalId, IdempotencyKey, NewActivity, OccurredAt, Snippet, Status,
};
use crate::leads::{LeadId, LeadName};
use crate::parse::Parse;

/// `{leadId, channel, direction, status, messageSnippet, leadName?, externalId?, occurredAt?}`.
/// Unknown fields are ignored, so that callers may send more than this version reads.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct LogActivityBody {
    #[serde(default)]
    lead_id: Field<LeadId>,
    #[serde(default)]
    channel: Field<Channel>,
    #[serde(default)]
    direction: Field<Direction>,
    #[serde(default)]
    status: Field<Status>,
    #[serde(default)]
    message_snippet: Field<Snippet>,
    #[serde(default)]
    lead_name: Field<Option<LeadName>>,
    #[serde(default)]
    external_id: Field<ExternalId>,
    #[serde(default)]
    occurred_at: Field<OccurredAt>,
}

impl LogActivityBody {
    /// The activity, with the request's `Idempotency-Key`; the first field that is wrong, in the
    /// order of the fields above, is the 400.
    pub fn into_activity(
        self,
        idempotency_key: Option<&str>,
        now: OffsetDateTime,
    ) -> Result<NewActivity, ApiError> {
        let lead_id = self.lead_id.required("leadId")?;
        let channel = self.channel.required("channel")?;
        let direction = self.direction.required("direction")?;
        let status = self.status.required("status")?;
        let message_snippet = self.message_snippet.optional("messageSnippet")?;
        let lead_name = self.lead_name.optional("leadName")?.flatten();
        let external_id = self.external_id.optional("externalId")?;
        let idempotency_key = idempotency_key
            .map(|key| {
                IdempotencyKey::parse(key).map_err(|invalid| {
                    ApiError::bad_request("invalid_header", format!("Idempotency-Key {invalid}"))
                })
            })
            .transpose()?;
        let occurred_at = self
            .occurred_at
            .optional("occurredAt")?
            .map(|at| {
                at.not_after(now)
                    .map_err(|invalid| ApiError::field_is("occurredAt", invalid))
            })
            .transpose()?;
        Ok(NewActivity {
            lead_id,
            lead_name,
            channel,
            direction,
            status,
            message_snippet,
            external_id,
            idempotency_key,
            occurred_at,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::activities::MAX_SNIPPET_CHARS;
    use serde_json::{Value, json};
    use time::format_description::well_known::Rfc3339;

    fn parse_with_key(body: Value, key: Option<&str>) -> Result<NewActivity, ApiError> {
        serde_json::from_value::<LogActivityBody>(body)
            .unwrap()
            .into_activity(key, OffsetDateTime::now_utc())
    }

    fn parse(body: Value) -> Result<NewActivity, ApiError> {
        parse_with_key(body, None)
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
        assert_eq!(new.lead_id.as_str(), "test_deploy");
        assert_eq!(new.channel, Channel::Whatsapp);
        assert_eq!(new.direction, Direction::Out);
        assert_eq!(new.status, Status::Sent);
        assert_eq!(
            new.message_snippet.as_ref().map(Snippet::as_str),
            Some("Test déploiement")
        );
        assert!(!new.snippet_truncated());
    }

    #[test]
    fn a_missing_lead_id_names_the_field() {
        let mut body = seed_body();
        body.as_object_mut().unwrap().remove("leadId");
        let error = parse(body).unwrap_err();
        assert_eq!(error.field, Some("leadId"));
        assert_eq!(error.message, "leadId is required.");
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
        let mut body = seed_body();
        body["leadId"] = json!(42);
        assert_eq!(parse(body).unwrap_err().message, "leadId must be a string.");
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
        let mut body = seed_body();
        body.as_object_mut().unwrap().remove("channel");
        assert_eq!(
            parse(body).unwrap_err().message,
            "channel is required; channel must be one of: whatsapp, email, sms, call, meeting, other."
        );
        let mut body = seed_body();
        body["direction"] = json!(true);
        assert_eq!(
            parse(body).unwrap_err().message,
            "direction must be one of: in, out."
        );
    }

    #[test]
    fn enum_values_are_read_case_insensitively_and_legacy_directions_are_understood() {
        let mut body = seed_body();
        body["channel"] = json!("WhatsApp");
        body["direction"] = json!("outbound");
        let new = parse(body).unwrap();
        assert_eq!(
            (new.channel, new.direction),
            (Channel::Whatsapp, Direction::Out)
        );
    }

    #[test]
    fn a_long_snippet_is_truncated_not_refused() {
        let mut body = seed_body();
        body["messageSnippet"] = json!("é".repeat(MAX_SNIPPET_CHARS + 50));
        let new = parse(body).unwrap();
        assert!(new.snippet_truncated());
        assert_eq!(
            new.message_snippet.unwrap().as_str().chars().count(),
            MAX_SNIPPET_CHARS
        );
    }

    #[test]
    fn wrong_types_are_refused() {
        let mut body = seed_body();
        body["messageSnippet"] = json!({"text": "hi"});
        let error = parse(body).unwrap_err();
        assert_eq!(error.field, Some("messageSnippet"));
        assert_eq!(error.message, "messageSnippet must be a string.");
    }

    #[test]
    fn the_first_wrong_field_in_the_routes_order_is_the_one_reported() {
        let body = json!({"status": "lost", "channel": "fax"});
        assert_eq!(parse(body).unwrap_err().field, Some("leadId"));
        let body = json!({"leadId": "a", "status": "lost", "channel": "fax", "direction": "out"});
        assert_eq!(parse(body).unwrap_err().field, Some("channel"));
    }

    #[test]
    fn a_lead_name_is_trimmed_and_a_blank_one_is_no_name() {
        let mut body = seed_body();
        body["leadName"] = json!("  Sophie ");
        assert_eq!(parse(body).unwrap().lead_name.unwrap().as_str(), "Sophie");
        let mut body = seed_body();
        body["leadName"] = json!("  ");
        assert_eq!(parse(body).unwrap().lead_name, None);
        let mut body = seed_body();
        body["leadName"] = json!("x".repeat(201));
        assert_eq!(
            parse(body).unwrap_err().message,
            "leadName must be at most 200 characters."
        );
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
        let error = parse(body).unwrap_err();
        assert_eq!(error.field, Some("occurredAt"));
        assert_eq!(
            error.message,
            "occurredAt must not be more than 5 minutes in the future."
        );

        let mut body = seed_body();
        body["occurredAt"] = json!("yesterday");
        assert_eq!(parse(body).unwrap_err().field, Some("occurredAt"));
    }

    #[test]
    fn a_bad_idempotency_key_is_refused() {
        let error = parse_with_key(seed_body(), Some("")).unwrap_err();
        assert_eq!(error.code, "invalid_header");
        assert_eq!(error.message, "Idempotency-Key must not be empty.");
    }
}
