//! WhatsApp conversations, as Green-API reports them: a message from or to a number, or the fate
//! of a message sent (`sent`, `delivered`, `read`, `failed`), each an activity of the lead the
//! number is mapped to (`max_lead_phones`), or an unmatched message until an operator maps the
//! number (`crate::admin::whatsapp`). `crate::http::greenapi` reads Green-API's notifications into
//! [`Event`]s; `migrations/V8` holds the SQL.

use time::OffsetDateTime;
use tokio_postgres::types::{ToSql, Type};

use crate::activities::{Direction, ExternalId, Snippet, Status};
use crate::db::{Db, DbError, Stmt};
use crate::leads::{LeadName, Phone};
use crate::tenancy::WebhookToken;

/// A Green-API instance (`instanceData.idInstance`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct InstanceId(pub i64);

/// One WhatsApp event of a number: a message received or sent, or a status of a message sent.
#[derive(Debug, Clone, PartialEq)]
pub struct Event {
    /// The lead's number (the chat's).
    pub phone: Phone,
    /// The name WhatsApp shows for the number, when the lead wrote.
    pub sender_name: Option<LeadName>,
    pub direction: Direction,
    pub status: Status,
    pub snippet: Option<Snippet>,
    /// The message's id (`idMessage`): with the status it names the event, so a notification sent
    /// again is stored once.
    pub message_id: ExternalId,
    /// When it happened, as WhatsApp says (`timestamp`), however late the notification arrives.
    pub occurred_at: OffsetDateTime,
}

/// What became of an event.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Recorded {
    /// An activity of the lead the number is mapped to; `replayed` when it was stored before.
    Activity { lead_id: String, replayed: bool },
    /// The number has no lead yet: kept until one is mapped to it.
    Unmatched { replayed: bool },
}

/// Checks the token for its tenant and the instance, then stores the event: one statement, its
/// own transaction. An unknown or revoked token, or another instance, is
/// `crate::tenancy::Refusal::UnknownKey`, and nothing is stored.
pub async fn record(
    db: &Db,
    token: &WebhookToken,
    instance: InstanceId,
    event: &Event,
) -> Result<Recorded, DbError> {
    let rows = run(db, token, Some(instance), Some(event)).await?;
    let row = rows.first().ok_or(DbError::Unexpected(
        "a WhatsApp event neither stored nor found",
    ))?;
    let lead_id: Option<String> = row.try_get("lead_id")?;
    let replayed = row.try_get("replayed")?;
    Ok(match lead_id {
        Some(lead_id) => Recorded::Activity { lead_id, replayed },
        None => Recorded::Unmatched { replayed },
    })
}

/// Checks the token for its tenant and, when known, the instance; stores nothing (a notification
/// that is not a conversation's, or one that could not be read).
pub async fn check(
    db: &Db,
    token: &WebhookToken,
    instance: Option<InstanceId>,
) -> Result<(), DbError> {
    run(db, token, instance, None).await.map(drop)
}

/// `max_record_whatsapp`: the token check, then the event when there is one.
pub const RECORD_WHATSAPP: &str =
    "SELECT * FROM max_record_whatsapp($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)";

async fn run(
    db: &Db,
    token: &WebhookToken,
    instance: Option<InstanceId>,
    event: Option<&Event>,
) -> Result<Vec<tokio_postgres::Row>, DbError> {
    let tenant = token.tenant().as_str();
    let hash = token.hash();
    let instance = instance.map(|id| id.0);
    let lock_timeout = db.statement_timeout();
    let phone = event.map(|e| e.phone.as_str());
    let sender_name = event.and_then(|e| e.sender_name.as_ref().map(LeadName::as_str));
    let direction = event.map(|e| e.direction.as_str());
    let status = event.map(|e| e.status.as_str());
    let snippet = event.and_then(|e| e.snippet.as_ref().map(Snippet::as_str));
    let message_id = event.map(|e| e.message_id.as_str());
    let occurred_at = event.map(|e| e.occurred_at);
    let params: &[(&(dyn ToSql + Sync), Type)] = &[
        (&tenant, Type::TEXT),
        (&hash, Type::BYTEA),
        (&instance, Type::INT8),
        (&lock_timeout, Type::TEXT),
        (&phone, Type::TEXT),
        (&sender_name, Type::TEXT),
        (&direction, Type::TEXT),
        (&status, Type::TEXT),
        (&snippet, Type::TEXT),
        (&message_id, Type::TEXT),
        (&occurred_at, Type::TIMESTAMPTZ),
    ];
    db.run_alone(&Stmt {
        sql: RECORD_WHATSAPP,
        params,
    })
    .await
}
