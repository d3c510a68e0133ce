//! A blocking client for EspoCRM's REST API, limited to what the lead sync needs: the Lead list
//! (`GET api/v1/Lead`) read page by page, authenticated by an API user's key (`X-Api-Key`).
//!
//! Blocking (ureq) because the sync runs rarely and reads pages one after another; it calls this
//! from `tokio::task::spawn_blocking`. Every failure is a [`CrmError`] the sync can act on (retry
//! or stop); none carries the URL, the key or any of the CRM's answer.

use std::fmt;
use std::time::Duration;

use serde::Deserialize;
use time::format_description::FormatItem;
use time::macros::format_description;
use time::{OffsetDateTime, PrimitiveDateTime, UtcOffset};
use ureq::http::Uri;

use crate::config::Secret;

/// EspoCRM's largest `maxSize`: it refuses larger pages (403), so the client never asks for more.
pub const MAX_PAGE_SIZE: u32 = 200;

/// The attributes a leads page asks for, so that EspoCRM reads nothing else.
const LEAD_ATTRIBUTES: &str =
    "id,name,firstName,lastName,emailAddress,phoneNumber,phoneNumberData,modifiedAt";

/// The most of an answer the client reads: a page of 200 leads is far smaller.
const BODY_LIMIT: u64 = 16 * 1024 * 1024;

/// How EspoCRM writes a datetime in its API: UTC, to the second, without a zone.
const DATETIME: &[FormatItem<'static>] =
    format_description!("[year]-[month]-[day] [hour]:[minute]:[second]");

/// An EspoCRM instance, reached with an API user's key. Cheap to clone (the connection pool is
/// shared), so one can be built at start and lent to every sync.
#[derive(Clone)]
pub struct EspoCrm {
    leads_url: String,
    api_key: Secret<String>,
    agent: ureq::Agent,
}

impl fmt::Debug for EspoCrm {
    /// Neither the key nor the URL (which may carry credentials) is shown.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("EspoCrm").finish_non_exhaustive()
    }
}

/// Which page of leads to read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PageQuery {
    /// Only leads modified at or after this instant (to the second, rounded down), if given.
    pub modified_since: Option<OffsetDateTime>,
    /// How many matching leads to skip.
    pub offset: u32,
    /// The page size, held to `1..=MAX_PAGE_SIZE`.
    pub max_size: u32,
}

/// One page of leads, oldest modification first.
#[derive(Debug, Clone, PartialEq)]
pub struct LeadsPage {
    /// How many leads match, as EspoCRM counts them; negative (-1, -2) when the instance does not
    /// count, so paging must stop on a short page rather than on `total`.
    pub total: i64,
    pub leads: Vec<CrmLead>,
}

/// A lead as the CRM holds it, reduced to what the alerts use.
#[derive(Debug, Clone, PartialEq)]
pub struct CrmLead {
    pub id: String,
    /// `name`, else "firstName lastName"; `None` when both are blank.
    pub name: Option<String>,
    pub email: Option<String>,
    /// The valid numbers as typed in the CRM (not normalised), primary first, without duplicates.
    pub phones: Vec<String>,
    pub modified_at: OffsetDateTime,
}

/// One page of the ids of every (not deleted) lead, for finding the leads deleted in the CRM.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IdsPage {
    /// As in [`LeadsPage::total`].
    pub total: i64,
    pub ids: Vec<String>,
}

/// Why a call failed, in terms the sync acts on: retry later, or stop and tell the operator.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CrmError {
    /// 401 or 403: the key is wrong, revoked, or its role cannot read leads.
    Unauthorized,
    /// 429, with the wait asked for when `Retry-After` is a number of seconds (an HTTP date, or
    /// none, gives `None`).
    RateLimited { retry_after: Option<Duration> },
    /// A 5xx status.
    Server(u16),
    /// The whole call took longer than the client's timeout.
    Timeout,
    /// No answer at all: connection refused, DNS, TLS.
    Unreachable,
    /// Anything else (another status, a body that is not a leads page); a short description with
    /// nothing from the request or the answer.
    Unexpected(String),
    /// The base URL is not an http(s) URL.
    InvalidUrl,
}

impl CrmError {
    /// Whether the same call may succeed later unchanged.
    pub fn is_retryable(&self) -> bool {
        matches!(
            self,
            CrmError::RateLimited { .. }
                | CrmError::Server(_)
                | CrmError::Timeout
                | CrmError::Unreachable
        )
    }

    /// A stable name for logs and metrics.
    pub fn code(&self) -> &'static str {
        match self {
            CrmError::Unauthorized => "unauthorized",
            CrmError::RateLimited { .. } => "rate_limited",
            CrmError::Server(_) => "server_error",
            CrmError::Timeout => "timeout",
            CrmError::Unreachable => "unreachable",
            CrmError::Unexpected(_) => "unexpected",
            CrmError::InvalidUrl => "invalid_url",
        }
    }
}

impl fmt::Display for CrmError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            CrmError::Unauthorized => f.write_str("the CRM refused the API key"),
            CrmError::RateLimited {
                retry_after: Some(wait),
            } => write!(f, "the CRM asked to wait {}s", wait.as_secs()),
            CrmError::RateLimited { retry_after: None } => f.write_str("the CRM asked to wait"),
            CrmError::Server(status) => write!(f, "the CRM failed with status {status}"),
            CrmError::Timeout => f.write_str("the CRM did not answer in time"),
            CrmError::Unreachable => f.write_str("the CRM cannot be reached"),
            CrmError::Unexpected(what) => write!(f, "unexpected answer from the CRM: {what}"),
            CrmError::InvalidUrl => f.write_str("the CRM URL is not a valid http(s) URL"),
        }
    }
}

impl std::error::Error for CrmError {}

impl EspoCrm {
    /// A client for the instance at `base_url` (`https://crm.example.com`, or with the path EspoCRM
    /// is installed under); every call, body included, must finish within `timeout`.
    pub fn new(base_url: &str, api_key: &str, timeout: Duration) -> Result<Self, CrmError> {
        let base = base_url.trim().trim_end_matches('/');
        let uri: Uri = base.parse().map_err(|_| CrmError::InvalidUrl)?;
        let scheme_ok = matches!(uri.scheme_str(), Some("http" | "https"));
        if !scheme_ok || uri.host().is_none_or(str::is_empty) || uri.query().is_some() {
            return Err(CrmError::InvalidUrl);
        }
        let agent = ureq::Agent::config_builder()
            .timeout_global(Some(timeout))
            .http_status_as_error(false)
            // A redirect could carry the key elsewhere; EspoCRM's API does not redirect.
            .max_redirects(0)
            .build()
            .new_agent();
        Ok(Self {
            leads_url: format!("{base}/api/v1/Lead"),
            api_key: Secret::new(api_key.to_owned()),
            agent,
        })
    }

    /// One page of leads, oldest modification first (ties in EspoCRM's order), optionally only
    /// those modified since an instant (inclusive, so a lead at the mark is read again, never
    /// missed). A lead edited while the sync pages moves to the end and shifts the others back by
    /// one, so paging from a fresh `modified_since` (the last lead's `modified_at`, offset 0) loses
    /// nothing where a growing `offset` could skip a lead.
    pub fn leads_page(&self, query: &PageQuery) -> Result<LeadsPage, CrmError> {
        let offset = query.offset.to_string();
        let max_size = query.max_size.clamp(1, MAX_PAGE_SIZE).to_string();
        let mut params = vec![
            ("select", LEAD_ATTRIBUTES.to_owned()),
            ("maxSize", max_size),
            ("offset", offset),
            ("orderBy", "modifiedAt".to_owned()),
            ("order", "asc".to_owned()),
        ];
        if let Some(since) = query.modified_since {
            params.extend([
                ("where[0][type]", "greaterThanOrEquals".to_owned()),
                ("where[0][attribute]", "modifiedAt".to_owned()),
                ("where[0][value]", format_datetime(since)?),
            ]);
        }
        parse_leads_page(&self.get(&params)?)
    }

    /// One page of the ids of every lead, oldest creation first. `createdAt` never changes, so a
    /// lead edited during the sweep keeps its place, and leads created meanwhile come last; a lead
    /// deleted meanwhile shifts the later ones back, so a sweep whose `total` changed must not be
    /// trusted to say which leads are gone.
    pub fn lead_ids_page(&self, offset: u32, max_size: u32) -> Result<IdsPage, CrmError> {
        let params = [
            ("select", "id,modifiedAt".to_owned()),
            ("maxSize", max_size.clamp(1, MAX_PAGE_SIZE).to_string()),
            ("offset", offset.to_string()),
            ("orderBy", "createdAt".to_owned()),
            ("order", "asc".to_owned()),
        ];
        let page: Page<IdRecord> = parse_json(&self.get(&params)?)?;
        let ids = page
            .list
            .into_iter()
            .map(|record| non_blank(record.id).ok_or_else(|| malformed("a lead without id")))
            .collect::<Result<_, _>>()?;
        Ok(IdsPage {
            total: page.total,
            ids,
        })
    }

    /// The body of a successful `GET` of the Lead list, or the failure classified.
    fn get(&self, params: &[(&str, String)]) -> Result<Vec<u8>, CrmError> {
        let mut response = self
            .agent
            .get(&self.leads_url)
            .header("X-Api-Key", self.api_key.expose())
            .header("Accept", "application/json")
            .query_pairs(params.iter().map(|(k, v)| (*k, v.as_str())))
            .call()
            .map_err(transport_error)?;
        let status = response.status().as_u16();
        match status {
            200 => response
                .body_mut()
                .with_config()
                .limit(BODY_LIMIT)
                .read_to_vec()
                .map_err(transport_error),
            401 | 403 => Err(CrmError::Unauthorized),
            429 => Err(CrmError::RateLimited {
                retry_after: response
                    .headers()
                    .get("retry-after")
                    .and_then(|value| value.to_str().ok())
                    .and_then(|value| value.trim().parse::<u64>().ok())
                    .map(Duration::from_secs),
            }),
            500..=599 => Err(CrmError::Server(status)),
            _ => Err(CrmError::Unexpected(format!("status {status}"))),
        }
    }
}

/// Classifies ureq's failures; their text (which may hold the URL) is dropped.
fn transport_error(error: ureq::Error) -> CrmError {
    use std::io::ErrorKind;
    match error {
        ureq::Error::Timeout(_) => CrmError::Timeout,
        ureq::Error::Io(error) if error.kind() == ErrorKind::TimedOut => CrmError::Timeout,
        ureq::Error::Io(_)
        | ureq::Error::HostNotFound
        | ureq::Error::ConnectionFailed
        | ureq::Error::Tls(_)
        | ureq::Error::Pem(_)
        | ureq::Error::Rustls(_)
        | ureq::Error::TlsRequired
        | ureq::Error::ConnectProxyFailed(_) => CrmError::Unreachable,
        ureq::Error::BadUri(_) => CrmError::InvalidUrl,
        // A key that is not a valid header value, say.
        ureq::Error::Http(_) => CrmError::Unexpected("the request could not be built".into()),
        ureq::Error::BodyExceedsLimit(_) => CrmError::Unexpected("the answer is too large".into()),
        ureq::Error::Protocol(_) => CrmError::Unexpected("the answer is not HTTP".into()),
        _ => CrmError::Unexpected("the HTTP client failed".into()),
    }
}

/// The envelope of every EspoCRM list.
#[derive(Deserialize)]
struct Page<T> {
    total: i64,
    list: Vec<T>,
}

#[derive(Deserialize)]
struct IdRecord {
    #[serde(default)]
    id: Option<String>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct LeadRecord {
    #[serde(default)]
    id: Option<String>,
    #[serde(default)]
    name: Option<String>,
    #[serde(default)]
    first_name: Option<String>,
    #[serde(default)]
    last_name: Option<String>,
    #[serde(default)]
    email_address: Option<String>,
    #[serde(default)]
    phone_number: Option<String>,
    #[serde(default)]
    phone_number_data: Option<Vec<PhoneNumber>>,
    #[serde(default)]
    modified_at: Option<String>,
}

/// One entry of `phoneNumberData`.
#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct PhoneNumber {
    #[serde(default)]
    phone_number: Option<String>,
    #[serde(default)]
    primary: bool,
    #[serde(default)]
    invalid: bool,
}

/// Reads a body of `GET api/v1/Lead` (`{"total": .., "list": [..]}`) into leads; a record without
/// `id` or a readable `modifiedAt` makes the whole page unexpected, since the sync could not place it.
pub fn parse_leads_page(bytes: &[u8]) -> Result<LeadsPage, CrmError> {
    let page: Page<LeadRecord> = parse_json(bytes)?;
    let leads = page
        .list
        .into_iter()
        .map(CrmLead::try_from)
        .collect::<Result<_, _>>()?;
    Ok(LeadsPage {
        total: page.total,
        leads,
    })
}

impl TryFrom<LeadRecord> for CrmLead {
    type Error = CrmError;

    fn try_from(record: LeadRecord) -> Result<Self, CrmError> {
        let id = non_blank(record.id).ok_or_else(|| malformed("a lead without id"))?;
        let modified_at = record
            .modified_at
            .as_deref()
            .and_then(parse_datetime)
            .ok_or_else(|| malformed("a lead without a valid modifiedAt"))?;
        let name = non_blank(record.name).or_else(|| {
            let first = record.first_name.unwrap_or_default();
            let last = record.last_name.unwrap_or_default();
            non_blank(Some(format!("{} {}", first.trim(), last.trim())))
        });
        let mut phones: Vec<String> = Vec::new();
        match record.phone_number_data {
            Some(mut data) if !data.is_empty() => {
                // Stable: the primary number first, the others in the CRM's order.
                data.sort_by_key(|entry| !entry.primary);
                for entry in data.into_iter().filter(|entry| !entry.invalid) {
                    if let Some(number) = non_blank(entry.phone_number)
                        && !phones.contains(&number)
                    {
                        phones.push(number);
                    }
                }
            }
            _ => phones.extend(non_blank(record.phone_number)),
        }
        Ok(CrmLead {
            id,
            name,
            email: non_blank(record.email_address),
            phones,
            modified_at,
        })
    }
}

fn parse_json<'a, T: Deserialize<'a>>(bytes: &'a [u8]) -> Result<T, CrmError> {
    // serde's message may quote the body: keep only that it failed.
    serde_json::from_slice(bytes).map_err(|_| malformed("the answer is not an EspoCRM list"))
}

fn malformed(what: &str) -> CrmError {
    CrmError::Unexpected(what.to_owned())
}

/// The trimmed text, or `None` when absent or blank.
fn non_blank(value: Option<String>) -> Option<String> {
    value
        .map(|text| text.trim().to_owned())
        .filter(|text| !text.is_empty())
}

/// An EspoCRM datetime (`2024-03-01 09:30:00`, UTC).
fn parse_datetime(text: &str) -> Option<OffsetDateTime> {
    PrimitiveDateTime::parse(text.trim(), DATETIME)
        .ok()
        .map(PrimitiveDateTime::assume_utc)
}

/// An instant as EspoCRM reads it in a filter: UTC, to the second (rounded down, so a
/// greater-or-equal filter never misses the instant itself).
fn format_datetime(instant: OffsetDateTime) -> Result<String, CrmError> {
    instant
        .to_offset(UtcOffset::UTC)
        .format(DATETIME)
        .map_err(|_| malformed("a date the CRM cannot read"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use time::macros::datetime;

    const PAGE: &[u8] = include_bytes!("../../../events/espocrm-leads-page.json");

    #[test]
    fn the_sample_page_parses_into_leads() {
        let page = parse_leads_page(PAGE).expect("sample page");
        assert_eq!(page.total, 3);
        assert_eq!(page.leads.len(), 3);

        let first = &page.leads[0];
        assert_eq!(first.id, "65f1a2b3c4d5e6f70");
        assert_eq!(first.name.as_deref(), Some("Camille Durand"));
        assert_eq!(first.email.as_deref(), Some("camille.durand@example.fr"));
        assert_eq!(first.phones, ["+33 6 12 34 56 78", "+33 1 42 68 53 00"]);
        assert_eq!(first.modified_at, datetime!(2024-03-01 09:30:00 UTC));

        // The primary number comes first whatever the CRM's order; the invalid one is dropped.
        let second = &page.leads[1];
        assert_eq!(second.name.as_deref(), Some("Julien Martin"));
        assert_eq!(second.email, None);
        assert_eq!(second.phones, ["0612345679"]);

        let third = &page.leads[2];
        assert_eq!(third.name.as_deref(), Some("Sophie Bernard"));
        assert!(third.phones.is_empty());
        assert_eq!(third.modified_at, datetime!(2024-03-02 18:05:59 UTC));
    }

    #[test]
    fn without_a_name_the_first_and_last_names_make_one() {
        let page = parse_leads_page(
            br#"{"total":1,"list":[{"id":"a","name":" ","firstName":"Sophie","lastName":null,"modifiedAt":"2024-01-01 00:00:00"}]}"#,
        )
        .expect("page");
        assert_eq!(page.leads[0].name.as_deref(), Some("Sophie"));
    }

    #[test]
    fn a_number_listed_twice_is_kept_once() {
        let page = parse_leads_page(
            br#"{"total":1,"list":[{"id":"a","modifiedAt":"2024-01-01 00:00:00","phoneNumberData":[
                {"phoneNumber":"0611","primary":false},{"phoneNumber":"0622","primary":true},
                {"phoneNumber":"0611","primary":false}]}]}"#,
        )
        .expect("page");
        assert_eq!(page.leads[0].phones, ["0622", "0611"]);
    }

    #[test]
    fn without_phone_number_data_the_primary_number_is_used() {
        let page = parse_leads_page(
            br#"{"total":1,"list":[{"id":"a","phoneNumber":"+33600000000","modifiedAt":"2024-01-01 00:00:00"}]}"#,
        )
        .expect("page");
        assert_eq!(page.leads[0].phones, ["+33600000000"]);
        assert_eq!(page.leads[0].name, None);
    }

    #[test]
    fn a_record_without_id_or_modified_at_is_unexpected() {
        for body in [
            &br#"{"total":1,"list":[{"name":"x","modifiedAt":"2024-01-01 00:00:00"}]}"#[..],
            br#"{"total":1,"list":[{"id":"a","modifiedAt":"yesterday"}]}"#,
            br#"{"total":1,"list":[{"id":"a"}]}"#,
        ] {
            assert!(matches!(
                parse_leads_page(body),
                Err(CrmError::Unexpected(_))
            ));
        }
    }

    #[test]
    fn a_body_that_is_not_a_list_is_unexpected_without_quoting_it() {
        let error = parse_leads_page(b"<html>secret-page</html>").unwrap_err();
        assert_eq!(error.code(), "unexpected");
        assert!(!error.to_string().contains("secret"));
    }

    #[test]
    fn a_negative_total_is_kept() {
        let page = parse_leads_page(br#"{"total":-2,"list":[]}"#).expect("page");
        assert_eq!(page.total, -2);
    }

    #[test]
    fn filter_dates_are_utc_to_the_second() {
        let instant = datetime!(2024-03-01 11:30:15.900 +02:00);
        assert_eq!(format_datetime(instant).unwrap(), "2024-03-01 09:30:15");
    }

    #[test]
    fn only_http_urls_are_accepted() {
        let timeout = Duration::from_secs(1);
        assert!(EspoCrm::new("https://crm.example.com/", "k", timeout).is_ok());
        assert!(EspoCrm::new("http://127.0.0.1:8080", "k", timeout).is_ok());
        for url in [
            "ftp://crm.example.com",
            "crm.example.com",
            "",
            "https://x?a=b",
        ] {
            assert_eq!(
                EspoCrm::new(url, "k", timeout).unwrap_err(),
                CrmError::InvalidUrl
            );
        }
    }

    #[test]
    fn retryable_errors_are_the_passing_ones() {
        assert!(CrmError::Timeout.is_retryable());
        assert!(CrmError::Server(503).is_retryable());
        assert!(CrmError::RateLimited { retry_after: None }.is_retryable());
        assert!(CrmError::Unreachable.is_retryable());
        assert!(!CrmError::Unauthorized.is_retryable());
        assert!(!CrmError::Unexpected("x".into()).is_retryable());
        assert!(!CrmError::InvalidUrl.is_retryable());
    }
}
