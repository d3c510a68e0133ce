//! `POST /webhooks/greenapi`: Green-API tells what happened in the tenant's WhatsApp chats (a
//! message received or sent, the fate of a message sent). Each becomes an activity of the lead
//! the number is mapped to, at least once and however late or out of order it comes; what is not
//! a conversation's is answered 200 and counted in the log line, so that Green-API does not send
//! it again.
//!
//! The credential is the tenant's webhook token, which Green-API sends as the instance's
//! `webhookUrlToken`; the database checks it, and the instance it is bound to, in the statement
//! that stores the event. It is judged before the body: a bad token is a 401 whatever was sent.

use lambda_http::http::{Method, StatusCode};
use lambda_http::{Body, Request, Response};
use serde::Serialize;
use shared::http::greenapi::{self, Meaning, Notification};
use shared::http::{self, ApiError, App};
use shared::time::OffsetDateTime;
use shared::whatsapp::{self, Recorded};

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct Answer {
    success: bool,
    /// `activity` (stored for a lead), `unmatched` (kept until the number has a lead) or
    /// `ignored` (nothing to store).
    stored: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    lead_id: Option<String>,
    /// True when the same notification was stored before.
    replayed: bool,
    /// Why nothing was stored.
    #[serde(skip_serializing_if = "Option::is_none")]
    ignored: Option<&'static str>,
}

pub async fn handle(app: &App, req: Request) -> Response<Body> {
    http::respond(&req, receive(app, &req)).await
}

async fn receive(app: &App, req: &Request) -> Result<Response<Body>, ApiError> {
    http::expect_method(req, &Method::POST, "POST")?;
    let token = greenapi::token(req)?;
    let notification = match greenapi::notification(req, OffsetDateTime::now_utc()) {
        Ok(notification) => notification,
        Err(error) => {
            // The token is judged first: only its holder learns what is wrong with the body.
            whatsapp::check(&app.db, &token, None).await?;
            return Err(error);
        }
    };
    let Notification {
        kind,
        instance,
        meaning,
    } = notification;
    let answer = match meaning {
        Meaning::Ignored(why) => {
            whatsapp::check(&app.db, &token, Some(instance)).await?;
            Answer {
                success: true,
                stored: "ignored",
                lead_id: None,
                replayed: false,
                ignored: Some(why.as_str()),
            }
        }
        Meaning::Event(event) => match whatsapp::record(&app.db, &token, instance, &event).await? {
            Recorded::Activity { lead_id, replayed } => Answer {
                success: true,
                stored: "activity",
                lead_id: Some(lead_id),
                replayed,
                ignored: None,
            },
            Recorded::Unmatched { replayed } => Answer {
                success: true,
                stored: "unmatched",
                lead_id: None,
                replayed,
                ignored: None,
            },
        },
    };
    // One line per notification, counted by type and outcome.
    tracing::info!(
        notification = %kind,
        outcome = answer.ignored.unwrap_or(answer.stored),
        replayed = answer.replayed,
        "greenapi notification"
    );
    Ok(http::json(StatusCode::OK, &answer))
}
