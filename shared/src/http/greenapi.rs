//! Green-API's webhook notifications (`POST /webhooks/greenapi`), read into what they mean here: a
//! WhatsApp [`Event`] of a number, or a notification that stores nothing, and why.
//!
//! The formats are Green-API's (its documentation's "Notifications format"; samples in `events/`):
//! - `incomingMessageReceived`: a message from `senderData.chatId`, its text or, for media,
//!   locations, contacts, reactions and polls, a short label;
//! - `outgoingMessageReceived` (sent from the phone) and `outgoingAPIMessageReceived` (sent
//!   through the API): a message to `senderData.chatId`;
//! - `outgoingMessageStatus`: the fate of a message sent, named by `idMessage`, with `chatId` and
//!   `status` at the top level;
//! - anything else (`stateInstanceChanged`, `incomingCall`, ...): nothing to store.

use serde::Deserialize;
use serde_json::{Map, Value};
use time::OffsetDateTime;

use super::{ApiError, body, header};
use crate::activities::{Direction, ExternalId, Snippet, Status};
use crate::leads::{LeadName, Phone};
use crate::parse::{MAX_ID_CHARS, Parse};
use crate::tenancy::WebhookToken;
use crate::whatsapp::{Event, InstanceId};
use lambda_http::Request;

/// The largest notification read: media messages carry a thumbnail, well above the API's 64 KiB.
pub const MAX_NOTIFICATION_BYTES: usize = 1024 * 1024;

/// A notification, as far as it concerns the alerts.
#[derive(Debug, Clone, PartialEq)]
pub struct Notification {
    /// `typeWebhook`, for the log line.
    pub kind: String,
    /// `instanceData.idInstance`: it must be the token's instance.
    pub instance: InstanceId,
    pub meaning: Meaning,
}

#[derive(Debug, Clone, PartialEq)]
pub enum Meaning {
    /// A message or a status of a person's chat: stored.
    Event(Event),
    /// Nothing to store (answered 200, so that Green-API does not send it again).
    Ignored(Ignored),
}

/// Why a notification stores nothing.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Ignored {
    /// Not a message nor a status (`stateInstanceChanged`, `incomingCall`, ...).
    OtherType,
    /// A group chat (`@g.us`): not a conversation with one lead.
    GroupChat,
    /// A chat that is no person's number (a broadcast, a channel).
    NotAPerson,
    /// A status this version does not know.
    UnknownStatus,
}

impl Ignored {
    /// The name the log line counts it under.
    pub fn as_str(self) -> &'static str {
        match self {
            Ignored::OtherType => "other_type",
            Ignored::GroupChat => "group_chat",
            Ignored::NotAPerson => "not_a_person",
            Ignored::UnknownStatus => "unknown_status",
        }
    }
}

/// The webhook token of a request. Green-API sends the instance's `webhookUrlToken` as
/// `Authorization: Bearer <token>`; the token alone is read too. No token, or one that cannot be
/// ours, is a 401.
pub fn token(req: &Request) -> Result<WebhookToken, ApiError> {
    let authorization = header(req, "authorization")?.ok_or_else(|| {
        ApiError::unauthorized(
            "Missing credential: set the instance's webhookUrlToken to the tenant's webhook token.",
        )
    })?;
    let authorization = authorization.trim();
    let token = match authorization.split_once(' ') {
        Some((scheme, token)) if scheme.eq_ignore_ascii_case("bearer") => token.trim(),
        _ => authorization,
    };
    WebhookToken::parse(token)
        .ok_or_else(|| ApiError::unauthorized("Invalid or revoked credential."))
}

/// Reads a notification's body (at most [`MAX_NOTIFICATION_BYTES`], any content type). A body
/// that is not a notification Green-API sends is a 400; `now` bounds a time from a phone whose
/// clock runs fast.
pub fn notification(req: &Request, now: OffsetDateTime) -> Result<Notification, ApiError> {
    let bytes = body::bytes_up_to(req, MAX_NOTIFICATION_BYTES)?;
    let raw: Raw = serde_json::from_slice(bytes).map_err(|error| {
        let message = if error.is_data() {
            format!("The body is not a Green-API notification: {error}.")
        } else {
            format!(
                "The request body is not valid JSON (line {}, column {}).",
                error.line(),
                error.column()
            )
        };
        ApiError::bad_request("invalid_notification", message)
    })?;
    let meaning = raw.meaning(now)?;
    Ok(Notification {
        kind: raw.type_webhook,
        instance: InstanceId(raw.instance_data.id_instance),
        meaning,
    })
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Raw {
    type_webhook: String,
    instance_data: RawInstance,
    timestamp: Option<i64>,
    id_message: Option<String>,
    sender_data: Option<RawSender>,
    message_data: Option<RawMessage>,
    /// `outgoingMessageStatus` only.
    chat_id: Option<String>,
    status: Option<String>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct RawInstance {
    id_instance: i64,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct RawSender {
    chat_id: String,
    sender_name: Option<String>,
    sender_contact_name: Option<String>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct RawMessage {
    type_message: String,
    #[serde(flatten)]
    data: Map<String, Value>,
}

fn missing(field: &'static str) -> ApiError {
    ApiError::invalid_field(field, format!("{field} is required in this notification."))
}

impl Raw {
    fn meaning(&self, now: OffsetDateTime) -> Result<Meaning, ApiError> {
        let (direction, status, chat_id) = match self.type_webhook.as_str() {
            "incomingMessageReceived" => (Direction::In, Status::Received, self.sender_chat()?),
            "outgoingMessageReceived" | "outgoingAPIMessageReceived" => {
                (Direction::Out, Status::Sent, self.sender_chat()?)
            }
            "outgoingMessageStatus" => {
                let chat_id = self.chat_id.as_deref().ok_or_else(|| missing("chatId"))?;
                let status = self.status.as_deref().ok_or_else(|| missing("status"))?;
                match delivery_status(status) {
                    Some(status) => (Direction::Out, status, chat_id),
                    None => return Ok(Meaning::Ignored(Ignored::UnknownStatus)),
                }
            }
            _ => return Ok(Meaning::Ignored(Ignored::OtherType)),
        };
        let Some(phone) = Phone::of_whatsapp_chat(chat_id) else {
            return Ok(Meaning::Ignored(if chat_id.ends_with("@g.us") {
                Ignored::GroupChat
            } else {
                Ignored::NotAPerson
            }));
        };
        let message_id = self
            .id_message
            .as_deref()
            .ok_or_else(|| missing("idMessage"))?;
        let message_id = ExternalId::parse(message_id)
            .map_err(|invalid| ApiError::field_is("idMessage", invalid))?;
        let timestamp = self.timestamp.ok_or_else(|| missing("timestamp"))?;
        let occurred_at = OffsetDateTime::from_unix_timestamp(timestamp)
            .ok()
            .filter(|at| at.unix_timestamp() > 0)
            .ok_or_else(|| {
                ApiError::invalid_field("timestamp", "timestamp must be a UNIX time in seconds.")
            })?
            // A phone's clock may run fast: an event is never later than its arrival.
            .min(now);
        let (sender_name, snippet) = if self.type_webhook == "outgoingMessageStatus" {
            (None, None)
        } else {
            let message = self
                .message_data
                .as_ref()
                .ok_or_else(|| missing("messageData"))?;
            // Only the lead's own messages carry its name (an outgoing one carries ours).
            let name = match direction {
                Direction::In => self.sender_data.as_ref().and_then(RawSender::name),
                Direction::Out => None,
            };
            (name, Some(message.snippet()))
        };
        Ok(Meaning::Event(Event {
            phone,
            sender_name,
            direction,
            status,
            snippet,
            message_id,
            occurred_at,
        }))
    }

    fn sender_chat(&self) -> Result<&str, ApiError> {
        self.sender_data
            .as_ref()
            .map(|sender| sender.chat_id.as_str())
            .ok_or_else(|| missing("senderData"))
    }
}

/// A status of a message sent, as an activity's status: `failed`, `noAccount` (no WhatsApp on
/// the number), `notInGroup` and `yellowCard` (the account is restricted) all mean it did not
/// arrive. `None` for a status this version does not know.
fn delivery_status(status: &str) -> Option<Status> {
    Some(match status {
        "sent" => Status::Sent,
        "delivered" => Status::Delivered,
        "read" => Status::Read,
        "failed" | "noAccount" | "notInGroup" | "yellowCard" => Status::Failed,
        _ => return None,
    })
}

impl RawSender {
    /// The name the lead has in the phone's contacts, else the one it gave WhatsApp.
    fn name(&self) -> Option<LeadName> {
        [&self.sender_contact_name, &self.sender_name]
            .into_iter()
            .flatten()
            .find_map(|name| {
                let name: String = name
                    .chars()
                    .filter(|c| !c.is_control())
                    .take(MAX_ID_CHARS)
                    .collect();
                <Option<LeadName>>::parse(&name).ok().flatten()
            })
    }
}

impl RawMessage {
    /// What the message said, or a short label for what it carried.
    fn snippet(&self) -> Snippet {
        let text = |object: &str, field: &str| {
            self.data
                .get(object)
                .and_then(|data| data.get(field))
                .and_then(Value::as_str)
                .map(str::trim)
                .filter(|text| !text.is_empty())
        };
        let labelled = |label: &str, detail: Option<&str>| match detail {
            Some(detail) => format!("[{label}] {detail}"),
            None => format!("[{label}]"),
        };
        let snippet = match self.type_message.as_str() {
            "textMessage" => text("textMessageData", "textMessage")
                .map(str::to_owned)
                .unwrap_or_else(|| labelled("Message", None)),
            "extendedTextMessage" | "quotedMessage" => text("extendedTextMessageData", "text")
                .map(str::to_owned)
                .unwrap_or_else(|| labelled("Message", None)),
            "imageMessage" => labelled("Photo", text("fileMessageData", "caption")),
            "videoMessage" => labelled("Vidéo", text("fileMessageData", "caption")),
            "audioMessage" => labelled("Audio", None),
            "documentMessage" => labelled(
                "Document",
                text("fileMessageData", "caption").or(text("fileMessageData", "fileName")),
            ),
            "stickerMessage" => labelled("Autocollant", None),
            "locationMessage" => labelled(
                "Position",
                text("locationMessageData", "nameLocation")
                    .or(text("locationMessageData", "address")),
            ),
            "contactMessage" => labelled("Contact", text("contactMessageData", "displayName")),
            "contactsArrayMessage" => labelled("Contacts", None),
            "reactionMessage" => labelled("Réaction", text("extendedTextMessageData", "text")),
            "pollMessage" => labelled("Sondage", text("pollMessageData", "name")),
            "editedMessage" => labelled(
                "Modifié",
                text("editedMessageData", "textMessage").or(text("editedMessageData", "caption")),
            ),
            "deletedMessage" => labelled("Message supprimé", None),
            other => labelled(other, None),
        };
        let snippet: String = snippet.chars().filter(|c| *c != '\0').collect();
        Snippet::parse(&snippet).expect("text without NUL characters is a snippet")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn read(body: Value) -> Result<Notification, ApiError> {
        let req = lambda_http::http::Request::builder()
            .method("POST")
            .body(lambda_http::Body::from(body.to_string()))
            .unwrap();
        notification(&req, OffsetDateTime::now_utc())
    }

    fn incoming(message: Value) -> Value {
        json!({
            "typeWebhook": "incomingMessageReceived",
            "instanceData": {"idInstance": 1101000001, "wid": "33700000000@c.us", "typeInstance": "whatsapp"},
            "timestamp": 1795512600,
            "idMessage": "BAE5F4886F6F2D05",
            "senderData": {"chatId": "33612345678@c.us", "sender": "33612345678@c.us",
                           "chatName": "Sophie", "senderName": "Soph", "senderContactName": "Sophie Martin"},
            "messageData": message
        })
    }

    fn event(notification: Notification) -> Event {
        match notification.meaning {
            Meaning::Event(event) => event,
            other => panic!("not an event: {other:?}"),
        }
    }

    #[test]
    fn a_text_message_is_an_inbound_activity_of_the_number() {
        let n = read(incoming(json!({"typeMessage": "textMessage",
            "textMessageData": {"textMessage": "Bonjour, des nouvelles ?"}})))
        .unwrap();
        assert_eq!(n.instance, InstanceId(1101000001));
        let e = event(n);
        assert_eq!(e.phone.as_str(), "+33612345678");
        assert_eq!((e.direction, e.status), (Direction::In, Status::Received));
        assert_eq!(e.snippet.unwrap().as_str(), "Bonjour, des nouvelles ?");
        assert_eq!(e.sender_name.unwrap().as_str(), "Sophie Martin");
        assert_eq!(e.message_id.as_str(), "BAE5F4886F6F2D05");
        assert_eq!(e.occurred_at.unix_timestamp(), 1795512600);
    }

    #[test]
    fn media_locations_contacts_and_reactions_get_a_short_label() {
        for (message, label) in [
            (
                json!({"typeMessage": "imageMessage", "fileMessageData": {"caption": "Le devis"}}),
                "[Photo] Le devis",
            ),
            (
                json!({"typeMessage": "audioMessage", "fileMessageData": {}}),
                "[Audio]",
            ),
            (
                json!({"typeMessage": "documentMessage", "fileMessageData": {"caption": "", "fileName": "devis.pdf"}}),
                "[Document] devis.pdf",
            ),
            (
                json!({"typeMessage": "locationMessage", "locationMessageData": {"nameLocation": "Bureau", "address": "Paris"}}),
                "[Position] Bureau",
            ),
            (
                json!({"typeMessage": "contactMessage", "contactMessageData": {"displayName": "Paul"}}),
                "[Contact] Paul",
            ),
            (
                json!({"typeMessage": "reactionMessage", "extendedTextMessageData": {"text": "👍"}}),
                "[Réaction] 👍",
            ),
            (json!({"typeMessage": "somethingNew"}), "[somethingNew]"),
        ] {
            let e = event(read(incoming(message)).unwrap());
            assert_eq!(e.snippet.unwrap().as_str(), label);
        }
    }

    #[test]
    fn statuses_name_their_message_and_carry_no_text() {
        let status = |status: &str| {
            read(json!({
                "typeWebhook": "outgoingMessageStatus",
                "instanceData": {"idInstance": 1101000001, "wid": "33700000000@c.us", "typeInstance": "whatsapp"},
                "timestamp": 1795512700, "idMessage": "BAE5F4886F6F2D06", "status": status,
                "chatId": "33612345678@c.us", "sendByApi": true
            }))
            .unwrap()
        };
        let e = event(status("noAccount"));
        assert_eq!((e.direction, e.status), (Direction::Out, Status::Failed));
        assert_eq!(e.snippet, None);
        assert_eq!(event(status("read")).status, Status::Read);
        assert_eq!(
            status("played").meaning,
            Meaning::Ignored(Ignored::UnknownStatus)
        );
    }

    #[test]
    fn groups_and_other_types_are_ignored() {
        let mut group = incoming(
            json!({"typeMessage": "textMessage", "textMessageData": {"textMessage": "hi"}}),
        );
        group["senderData"]["chatId"] = json!("120363043968066561@g.us");
        assert_eq!(
            read(group).unwrap().meaning,
            Meaning::Ignored(Ignored::GroupChat)
        );
        let state = json!({"typeWebhook": "stateInstanceChanged",
            "instanceData": {"idInstance": 1101000001, "wid": "", "typeInstance": "whatsapp"},
            "timestamp": 1795512600, "stateInstance": "authorized"});
        let n = read(state).unwrap();
        assert_eq!(n.kind, "stateInstanceChanged");
        assert_eq!(n.meaning, Meaning::Ignored(Ignored::OtherType));
    }

    #[test]
    fn a_time_in_the_future_is_the_time_of_arrival() {
        let mut body = incoming(
            json!({"typeMessage": "textMessage", "textMessageData": {"textMessage": "hi"}}),
        );
        body["timestamp"] = json!(OffsetDateTime::now_utc().unix_timestamp() + 3600);
        let e = event(read(body).unwrap());
        assert!(e.occurred_at <= OffsetDateTime::now_utc());
    }

    #[test]
    fn malformed_notifications_are_400s() {
        let bad = |body: Value| read(body).unwrap_err();
        assert_eq!(
            bad(json!({"typeWebhook": "incomingMessageReceived"})).code,
            "invalid_notification"
        );
        let mut no_id = incoming(json!({"typeMessage": "textMessage"}));
        no_id.as_object_mut().unwrap().remove("idMessage");
        assert_eq!(bad(no_id).field, Some("idMessage"));
        let mut no_time = incoming(json!({"typeMessage": "textMessage"}));
        no_time["timestamp"] = json!(-5);
        assert_eq!(bad(no_time).field, Some("timestamp"));
        let req = lambda_http::http::Request::builder()
            .body(lambda_http::Body::from("{"))
            .unwrap();
        let error = notification(&req, OffsetDateTime::now_utc()).unwrap_err();
        assert_eq!(error.status, 400);
    }
}
