//! The WhatsApp webhook's conversations (`POST /webhooks/greenapi`): numbers mapped to generated
//! leads spread over the data set (and so over its tenants), a webhook token per tenant, and the
//! notifications Green-API sends for them, built from its documented samples in `events/`.
//!
//! Number `p` (`+336` and eight digits) is mapped to the generated lead [`lead_of`]`(p)`, of the
//! tenant the generator gave it; that tenant's token is `mxw_<tenant>_<secret>`, one secret per
//! run, bound to the Green-API instance [`INSTANCE`] + the tenant's number. pgbench computes the
//! same from the same variables (`pgbench::whatsapp_script`).

use serde::Serialize;
use serde_json::Value;
use shared::admin::{self, Existing};
use shared::leads::{LeadId, Phone};
use shared::parse::Parse;
use shared::tenancy::{TenantId, WebhookToken};
use shared::whatsapp::InstanceId;

use crate::generate::{self, Scale};
use crate::server;

/// The first number: number `p` is `+` [`PHONE`] + `p`.
pub(crate) const PHONE: i64 = 33_600_000_000;
/// The Green-API instance of the huge tenant; a small tenant's is this plus its number.
pub(crate) const INSTANCE: i64 = 1_200_000_000;
/// Steps between the leads of two numbers in a row: a prime, so that the numbers' leads are
/// distinct and spread over the whole data set and its tenants.
pub(crate) const STRIDE: usize = 7_919;

/// The numbers the webhook's notifications come from, as mapped for this run.
#[derive(Debug, Clone, Serialize)]
pub(crate) struct Numbers {
    /// Numbers mapped to a lead each.
    pub(crate) phones: usize,
    /// Tenants those leads belong to, each with a webhook token.
    pub(crate) tenants: usize,
    /// The secret part of every tenant's token in this run.
    #[serde(skip)]
    pub(crate) secret: String,
}

/// How many numbers a data set maps: a tenth of its leads, at most a thousand.
fn phones(scale: &Scale) -> usize {
    (scale.leads / 10).clamp(1, 1_000)
}

/// The generated lead number `p` is mapped to.
pub(crate) fn lead_of(p: usize, scale: &Scale) -> usize {
    p * STRIDE % scale.leads
}

/// The token of `tenant` in a run: `mxw_<tenant>_<secret>`.
fn token(tenant: &str, secret: &str) -> String {
    format!("mxw_{tenant}_{secret}")
}

/// Maps the numbers to their leads (again, on a data set an earlier run mapped) and gives each of
/// their tenants a new webhook token (rotated: an earlier run's is revoked).
pub(crate) async fn prepare(client: &mut tokio_postgres::Client, scale: &Scale) -> Numbers {
    let started = std::time::Instant::now();
    let millis = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap_or_default()
        .as_millis();
    let secret = format!("B{millis:031}");
    let phones = phones(scale);
    let mut tenants = std::collections::BTreeSet::new();
    for p in 0..phones {
        let lead = lead_of(p, scale);
        let number = generate::tenant_number(lead, scale);
        let tenant = TenantId::parse(&generate::tenant_name(number)).expect("a tenant id");
        if tenants.insert(number) {
            admin::ensure_tenant(client, &tenant, tenant.as_str())
                .await
                .expect("a tenant");
            let text = token(tenant.as_str(), &secret);
            let token = WebhookToken::parse(&text).expect("a webhook token");
            admin::register_webhook_token(
                client,
                &token,
                InstanceId(INSTANCE + number as i64),
                Existing::Revoke,
            )
            .await
            .expect("a webhook token");
        }
        let phone = Phone::parse(&format!("+{}", PHONE + p as i64)).expect("a number");
        let lead = LeadId::parse(&format!("lead-{lead}")).expect("a lead id");
        admin::map_phone(client, &tenant, &phone, &lead, None)
            .await
            .expect("map a number");
    }
    println!(
        "WhatsApp: {phones} numbers mapped to leads of {} tenants, each with a webhook token ({:.1} s)",
        tenants.len(),
        started.elapsed().as_secs_f64()
    );
    Numbers {
        phones,
        tenants: tenants.len(),
        secret,
    }
}

/// One notification of a conversation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Step {
    /// `outgoingAPIMessageReceived`: a message sent through the API, new.
    Message,
    /// `outgoingMessageStatus` of a message sent: `sent` (stored with the message already, so a
    /// replay), `delivered`, `read`.
    Status(&'static str),
}

impl Step {
    /// The status the activity is stored with.
    pub(crate) fn status(self) -> &'static str {
        match self {
            Step::Message => "sent",
            Step::Status(status) => status,
        }
    }
}

/// What the load generator sends, message after message, each step a request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Mix {
    /// A message, then its three statuses: what Green-API sends for each message sent.
    Conversation,
    /// Only messages, each new.
    Messages,
    /// Only statuses: `sent` of a message stored before (a replay), `delivered` and `read` of new
    /// ones (they cost the same whether the message was stored or not: a new activity each).
    Statuses,
}

impl Mix {
    /// Every mix, in the order they are measured and reported.
    pub(crate) const ALL: [Mix; 3] = [Mix::Conversation, Mix::Messages, Mix::Statuses];

    pub(crate) fn steps(self) -> &'static [Step] {
        const SENT: Step = Step::Status("sent");
        const DELIVERED: Step = Step::Status("delivered");
        const READ: Step = Step::Status("read");
        match self {
            Mix::Conversation => &[Step::Message, SENT, DELIVERED, READ],
            Mix::Messages => &[Step::Message],
            Mix::Statuses => &[SENT, DELIVERED, READ],
        }
    }

    /// How the route benchmark names it.
    pub(crate) fn route(self) -> &'static str {
        match self {
            Mix::Conversation => "POST /webhooks/greenapi (message, then sent, delivered, read)",
            Mix::Messages => "POST /webhooks/greenapi (messages only)",
            Mix::Statuses => "POST /webhooks/greenapi (statuses only)",
        }
    }

    /// Whether step `k` names the one message of its number stored before (see
    /// [`stored_message`]) rather than the conversation's new one.
    pub(crate) fn names_stored_message(self, k: usize) -> bool {
        self == Mix::Statuses && self.steps()[k] == Step::Status("sent")
    }
}

/// The message of number `p` that the statuses-only mix replays `sent` of, this and the number:
/// stored by the first such notification (of any run), a replay ever after.
pub(crate) const STORED_MESSAGE: &str = "bench-stored-";

/// Green-API's documented notifications (`events/greenapi-*.json`), as templates.
#[derive(Clone)]
pub(crate) struct Templates {
    message: Value,
    status: Value,
    /// What the handler stores of the message's text.
    pub(crate) snippet: String,
}

impl Templates {
    pub(crate) fn load() -> Self {
        let body = |name: &str| -> Value {
            let path = server::repository().join(format!("events/greenapi-{name}.json"));
            let event: Value =
                serde_json::from_str(&std::fs::read_to_string(&path).expect("a sample request"))
                    .expect("a sample request is JSON");
            serde_json::from_str(event["body"].as_str().expect("a body")).expect("a notification")
        };
        let message = body("outgoing-api");
        let snippet = message["messageData"]["extendedTextMessageData"]["text"]
            .as_str()
            .expect("a text message")
            .trim()
            .to_owned();
        Self {
            message,
            status: body("status-sent"),
            snippet,
        }
    }

    /// The notification of `step` for message `id` to number `p` of `scale`, Green-API's instance
    /// that of the number's tenant, at `timestamp` (UNIX seconds).
    pub(crate) fn notification(
        &self,
        step: Step,
        id: &str,
        p: usize,
        scale: &Scale,
        timestamp: i64,
    ) -> String {
        let chat = format!("{}@c.us", PHONE + p as i64);
        let mut body = match step {
            Step::Message => {
                let mut body = self.message.clone();
                body["senderData"]["chatId"] = chat.into();
                body
            }
            Step::Status(status) => {
                let mut body = self.status.clone();
                body["chatId"] = chat.into();
                body["status"] = status.into();
                body
            }
        };
        let tenant = generate::tenant_number(lead_of(p, scale), scale);
        body["instanceData"]["idInstance"] = (INSTANCE + tenant as i64).into();
        body["idMessage"] = id.into();
        body["timestamp"] = timestamp.into();
        body.to_string()
    }

    /// `Authorization` for number `p`'s tenant.
    pub(crate) fn bearer(p: usize, scale: &Scale, secret: &str) -> (&'static str, String) {
        let tenant = generate::tenant_name(generate::tenant_number(lead_of(p, scale), scale));
        (
            "authorization",
            format!("Bearer {}", token(&tenant, secret)),
        )
    }
}
