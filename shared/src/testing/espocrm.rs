//! A fake EspoCRM on loopback serving the Lead list (`GET /api/v1/Lead`) as EspoCRM documents it:
//! `X-Api-Key` authentication, `maxSize`/`offset` paging, `orderBy`/`order`, `where[i]` filters
//! and `select`. It can also fail on demand ([`Fault`]) and records every request it received.
//!
//! It runs as a [`LoopbackServer`]. It does not use the client's types, so it builds without the
//! `crm` feature.

use std::collections::{BTreeMap, VecDeque};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use hyper::body::Incoming;
use hyper::{Method, Request};
use serde_json::{Map, Value, json};
use time::format_description::FormatItem;
use time::macros::format_description;
use time::{OffsetDateTime, PrimitiveDateTime, UtcOffset};

use super::loopback::{Answer, LoopbackServer, answer};

/// EspoCRM's datetimes: UTC, to the second.
const DATETIME: &[FormatItem<'static>] =
    format_description!("[year]-[month]-[day] [hour]:[minute]:[second]");

/// EspoCRM's default and largest `maxSize`.
const DEFAULT_MAX_SIZE: usize = 20;
const MAX_MAX_SIZE: usize = 200;

/// A running fake EspoCRM; stops (thread and runtime) when dropped.
pub struct FakeEspoCrm {
    server: LoopbackServer,
    state: Arc<Mutex<State>>,
}

/// A lead as the fake stores it.
#[derive(Debug, Clone)]
pub struct FakeLead {
    pub id: String,
    pub first_name: Option<String>,
    pub last_name: Option<String>,
    pub email: Option<String>,
    /// The first is the primary number.
    pub phones: Vec<String>,
    pub modified_at: OffsetDateTime,
}

impl FakeLead {
    /// A lead named `name`, split at the first space into first and last names (a single word is
    /// the last name, which EspoCRM requires).
    pub fn new(id: &str, name: &str, modified_at: OffsetDateTime) -> Self {
        let (first_name, last_name) = match name.trim().split_once(' ') {
            Some((first, last)) => (Some(first.to_owned()), Some(last.trim().to_owned())),
            None => (None, Some(name.trim().to_owned())),
        };
        Self {
            id: id.to_owned(),
            first_name,
            last_name,
            email: None,
            phones: Vec::new(),
            modified_at,
        }
    }

    /// Adds a number (the first added is the primary one).
    pub fn with_phone(mut self, phone: &str) -> Self {
        self.phones.push(phone.to_owned());
        self
    }

    /// Sets the email address.
    pub fn with_email(mut self, email: &str) -> Self {
        self.email = Some(email.to_owned());
        self
    }

    /// `firstName lastName`, as EspoCRM computes `name`.
    fn name(&self) -> String {
        let first = self.first_name.as_deref().unwrap_or("");
        let last = self.last_name.as_deref().unwrap_or("");
        format!("{first} {last}").trim().to_owned()
    }
}

/// How one request fails instead of being served.
#[derive(Debug, Clone)]
pub enum Fault {
    /// This status with an empty body (as EspoCRM answers 401, 403, 500...).
    Status(u16),
    /// 429 with `Retry-After` in seconds.
    TooManyRequests { retry_after_secs: u64 },
    /// The normal answer, but only after this delay.
    Delay(Duration),
    /// 200 with a body that is not JSON (a proxy's error page, a truncated answer).
    MalformedJson,
}

/// One request as the fake received it.
#[derive(Debug, Clone)]
pub struct RecordedRequest {
    pub path: String,
    /// The query's pairs, percent-decoded, in order.
    pub query: Vec<(String, String)>,
    pub api_key: Option<String>,
}

struct StoredLead {
    lead: FakeLead,
    created_at: OffsetDateTime,
    deleted: bool,
}

struct State {
    api_key: String,
    leads: BTreeMap<String, StoredLead>,
    faults: VecDeque<Fault>,
    requests: Vec<RecordedRequest>,
}

impl FakeEspoCrm {
    /// Starts a fake that accepts `api_key` only.
    pub fn start(api_key: &str) -> Self {
        let state = Arc::new(Mutex::new(State {
            api_key: api_key.to_owned(),
            leads: BTreeMap::new(),
            faults: VecDeque::new(),
            requests: Vec::new(),
        }));
        let served = state.clone();
        let server = LoopbackServer::start(move |req| handle(served.clone(), req));
        Self { server, state }
    }

    /// The base URL, as an EspoCRM instance's address: `http://127.0.0.1:PORT`.
    pub fn url(&self) -> String {
        self.server.url()
    }

    /// Inserts a lead, or replaces the one with its id (keeping its creation time).
    pub fn put_lead(&self, lead: FakeLead) {
        let mut state = self.state();
        let created_at = state
            .leads
            .get(&lead.id)
            .map_or(lead.modified_at, |stored| stored.created_at);
        state.leads.insert(
            lead.id.clone(),
            StoredLead {
                lead,
                created_at,
                deleted: false,
            },
        );
    }

    /// Deletes a lead as EspoCRM does (softly): it stays stored but is never listed again.
    pub fn delete_lead(&self, id: &str) {
        if let Some(stored) = self.state().leads.get_mut(id) {
            stored.deleted = true;
        }
    }

    /// Makes the next requests fail, one fault each in this order; later ones are served.
    pub fn fail_next(&self, faults: &[Fault]) {
        self.state().faults.extend(faults.iter().cloned());
    }

    /// Every request received so far, in order.
    pub fn requests(&self) -> Vec<RecordedRequest> {
        self.state().requests.clone()
    }

    fn state(&self) -> MutexGuard<'_, State> {
        self.state
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

async fn handle(state: Arc<Mutex<State>>, req: Request<Incoming>) -> Answer {
    let path = req.uri().path().to_owned();
    let query: Vec<(String, String)> =
        url::form_urlencoded::parse(req.uri().query().unwrap_or("").as_bytes())
            .into_owned()
            .collect();
    let api_key = req
        .headers()
        .get("x-api-key")
        .and_then(|value| value.to_str().ok())
        .map(str::to_owned);
    let fault = {
        let mut state = state
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        state.requests.push(RecordedRequest {
            path: path.clone(),
            query: query.clone(),
            api_key: api_key.clone(),
        });
        state.faults.pop_front()
    };
    match fault {
        Some(Fault::Status(status)) => return answer(status, ""),
        Some(Fault::TooManyRequests { retry_after_secs }) => {
            let mut response = answer(429, "");
            response.headers_mut().insert(
                "retry-after",
                retry_after_secs.to_string().parse().expect("header value"),
            );
            return response;
        }
        Some(Fault::MalformedJson) => return answer(200, "{\"total\": 3, \"list\": [{\"id\""),
        Some(Fault::Delay(delay)) => tokio::time::sleep(delay).await,
        None => {}
    }
    if req.method() != Method::GET || path != "/api/v1/Lead" {
        return answer(404, "");
    }
    let state = state
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner());
    if api_key.as_deref() != Some(state.api_key.as_str()) {
        return answer(401, "");
    }
    match list(&state, &query) {
        Ok(body) => answer(200, &body.to_string()),
        Err(status) => answer(status, ""),
    }
}

/// One `where[i]` clause.
#[derive(Default)]
struct Clause {
    kind: Option<String>,
    attribute: Option<String>,
    value: Option<String>,
}

/// The list answer, or the status EspoCRM gives a request it refuses.
fn list(state: &State, query: &[(String, String)]) -> Result<Value, u16> {
    let param = |name: &str| {
        query
            .iter()
            .find(|(key, _)| key == name)
            .map(|(_, value)| value.as_str())
    };
    let max_size = match param("maxSize") {
        None => DEFAULT_MAX_SIZE,
        Some(text) => text.parse::<usize>().map_err(|_| 400u16)?,
    };
    // EspoCRM refuses a page larger than its limit with 403 Forbidden (its search-parameter
    // reader throws `Forbidden`, not `BadRequest`): the size is allowed, the amount is not.
    if max_size > MAX_MAX_SIZE {
        return Err(403);
    }
    let offset = match param("offset") {
        None => 0,
        Some(text) => text.parse::<usize>().map_err(|_| 400u16)?,
    };
    let order_by = param("orderBy").unwrap_or("createdAt");
    if !["modifiedAt", "createdAt", "id", "name"].contains(&order_by) {
        return Err(400);
    }
    // Without `orderBy`, EspoCRM lists leads newest first; with it, ascending unless told.
    let default_order = if param("orderBy").is_some() {
        "asc"
    } else {
        "desc"
    };
    let descending = match param("order").unwrap_or(default_order) {
        "asc" => false,
        "desc" => true,
        _ => return Err(400),
    };

    let clauses = clauses(query)?;
    let mut matching = Vec::new();
    for stored in state.leads.values().filter(|stored| !stored.deleted) {
        let mut keep = true;
        for clause in &clauses {
            keep &= matches(stored, clause)?;
        }
        if keep {
            matching.push(stored);
        }
    }
    matching.sort_by(|a, b| {
        let key = match order_by {
            "modifiedAt" => a.lead.modified_at.cmp(&b.lead.modified_at),
            "createdAt" => a.created_at.cmp(&b.created_at),
            "name" => a.lead.name().cmp(&b.lead.name()),
            _ => std::cmp::Ordering::Equal,
        };
        key.then_with(|| a.lead.id.cmp(&b.lead.id))
    });
    if descending {
        matching.reverse();
    }
    let select: Option<Vec<&str>> = param("select").map(|text| text.split(',').collect());
    let list: Vec<Value> = matching
        .iter()
        .skip(offset)
        .take(max_size)
        .map(|stored| record(stored, select.as_deref()))
        .collect();
    Ok(json!({ "total": matching.len(), "list": list }))
}

/// The `where[i][...]` parameters, by index.
fn clauses(query: &[(String, String)]) -> Result<Vec<Clause>, u16> {
    let mut clauses: BTreeMap<usize, Clause> = BTreeMap::new();
    for (key, value) in query {
        let Some(rest) = key.strip_prefix("where[") else {
            continue;
        };
        let (index, part) = rest.split_once("][").ok_or(400u16)?;
        let index: usize = index.parse().map_err(|_| 400u16)?;
        let clause = clauses.entry(index).or_default();
        match part {
            "type]" => clause.kind = Some(value.clone()),
            "attribute]" | "field]" => clause.attribute = Some(value.clone()),
            "value]" => clause.value = Some(value.clone()),
            _ => return Err(400),
        }
    }
    Ok(clauses.into_values().collect())
}

/// Whether a lead passes one clause; 400 for a clause the fake (or EspoCRM) cannot read.
fn matches(stored: &StoredLead, clause: &Clause) -> Result<bool, u16> {
    let (Some(kind), Some(attribute), Some(value)) = (
        clause.kind.as_deref(),
        clause.attribute.as_deref(),
        clause.value.as_deref(),
    ) else {
        return Err(400);
    };
    let ordering = match attribute {
        "modifiedAt" => {
            let value = PrimitiveDateTime::parse(value, DATETIME)
                .map_err(|_| 400u16)?
                .assume_utc();
            stored.lead.modified_at.cmp(&value)
        }
        "id" => stored.lead.id.as_str().cmp(value),
        _ => return Err(400),
    };
    Ok(match kind {
        "greaterThanOrEquals" => ordering.is_ge(),
        "greaterThan" | "after" => ordering.is_gt(),
        "lessThan" | "before" => ordering.is_lt(),
        "equals" => ordering.is_eq(),
        _ => return Err(400),
    })
}

/// A lead as EspoCRM lists it, restricted to `select` (plus `id`) when given.
fn record(stored: &StoredLead, select: Option<&[&str]>) -> Value {
    let lead = &stored.lead;
    let phone_data: Vec<Value> = lead
        .phones
        .iter()
        .enumerate()
        .map(|(index, phone)| {
            json!({
                "phoneNumber": phone,
                "primary": index == 0,
                "type": if index == 0 { "Mobile" } else { "Office" },
                "optOut": false,
                "invalid": false,
            })
        })
        .collect();
    let mut fields = Map::new();
    fields.insert("id".into(), json!(lead.id));
    fields.insert("name".into(), json!(lead.name()));
    fields.insert("firstName".into(), json!(lead.first_name));
    fields.insert("lastName".into(), json!(lead.last_name));
    fields.insert("emailAddress".into(), json!(lead.email));
    fields.insert("phoneNumber".into(), json!(lead.phones.first()));
    fields.insert("phoneNumberData".into(), Value::Array(phone_data));
    fields.insert("modifiedAt".into(), json!(format(lead.modified_at)));
    fields.insert("createdAt".into(), json!(format(stored.created_at)));
    if let Some(select) = select {
        fields.retain(|name, _| name == "id" || select.contains(&name.as_str()));
    }
    Value::Object(fields)
}

fn format(instant: OffsetDateTime) -> String {
    instant
        .to_offset(UtcOffset::UTC)
        .format(DATETIME)
        .expect("a datetime EspoCRM can write")
}
