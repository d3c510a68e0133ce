//! The EspoCRM client against the fake EspoCRM: paging, filters, what is sent, and how each
//! failure is classified.

use std::time::Duration;

use shared::crm::espocrm::{CrmError, EspoCrm, MAX_PAGE_SIZE, PageQuery};
use shared::testing::espocrm::{FakeEspoCrm, FakeLead, Fault, RecordedRequest};
use time::OffsetDateTime;
use time::macros::datetime;

const KEY: &str = "espo-test-key-7f3a9c";

fn client(fake: &FakeEspoCrm) -> EspoCrm {
    EspoCrm::new(&fake.url(), KEY, Duration::from_secs(5)).expect("client")
}

fn all_since(modified_since: Option<OffsetDateTime>, offset: u32, max_size: u32) -> PageQuery {
    PageQuery {
        modified_since,
        offset,
        max_size,
    }
}

/// `count` leads `lead-000`, `lead-001`..., modified one minute apart from `start`.
fn put_leads(fake: &FakeEspoCrm, count: usize, start: OffsetDateTime) {
    for i in 0..count {
        let minutes = i64::try_from(i).expect("small");
        fake.put_lead(FakeLead::new(
            &format!("lead-{i:03}"),
            &format!("Lead Number{i}"),
            start + time::Duration::minutes(minutes),
        ));
    }
}

fn param<'a>(request: &'a RecordedRequest, name: &str) -> Option<&'a str> {
    request
        .query
        .iter()
        .find(|(key, _)| key == name)
        .map(|(_, value)| value.as_str())
}

#[test]
fn leads_are_read_page_by_page_oldest_modification_first() {
    let fake = FakeEspoCrm::start(KEY);
    put_leads(&fake, 450, datetime!(2024-01-01 00:00:00 UTC));
    let crm = client(&fake);

    let mut ids = Vec::new();
    let mut sizes = Vec::new();
    let mut offset = 0;
    loop {
        let page = crm
            .leads_page(&all_since(None, offset, MAX_PAGE_SIZE))
            .expect("page");
        assert_eq!(page.total, 450);
        sizes.push(page.leads.len());
        let read = u32::try_from(page.leads.len()).expect("small");
        ids.extend(page.leads.into_iter().map(|lead| lead.id));
        if read < MAX_PAGE_SIZE {
            break;
        }
        offset += read;
    }
    assert_eq!(sizes, [200, 200, 50]);
    let expected: Vec<String> = (0..450).map(|i| format!("lead-{i:03}")).collect();
    assert_eq!(ids, expected);

    let offsets: Vec<_> = fake
        .requests()
        .iter()
        .map(|request| param(request, "offset").map(str::to_owned))
        .collect();
    assert_eq!(
        offsets,
        [Some("0".into()), Some("200".into()), Some("400".into())]
    );
}

#[test]
fn a_page_carries_the_leads_fields() {
    let fake = FakeEspoCrm::start(KEY);
    fake.put_lead(
        FakeLead::new("a1", "Camille Durand", datetime!(2024-03-01 09:30:00 UTC))
            .with_phone("+33 6 12 34 56 78")
            .with_phone("01 42 68 53 00")
            .with_email("camille@example.fr"),
    );
    let page = client(&fake)
        .leads_page(&all_since(None, 0, 10))
        .expect("page");
    let lead = &page.leads[0];
    assert_eq!(lead.id, "a1");
    assert_eq!(lead.name.as_deref(), Some("Camille Durand"));
    assert_eq!(lead.email.as_deref(), Some("camille@example.fr"));
    assert_eq!(lead.phones, ["+33 6 12 34 56 78", "01 42 68 53 00"]);
    assert_eq!(lead.modified_at, datetime!(2024-03-01 09:30:00 UTC));
}

#[test]
fn modified_since_returns_only_leads_modified_at_or_after_it() {
    let fake = FakeEspoCrm::start(KEY);
    put_leads(&fake, 10, datetime!(2024-01-01 00:00:00 UTC));
    // 00:05 UTC, given in another offset and with sub-seconds, which are dropped.
    let since = datetime!(2024-01-01 01:05:00.750 +01:00);

    let page = client(&fake)
        .leads_page(&all_since(Some(since), 0, 50))
        .expect("page");
    let ids: Vec<_> = page.leads.iter().map(|lead| lead.id.as_str()).collect();
    assert_eq!(
        ids,
        ["lead-005", "lead-006", "lead-007", "lead-008", "lead-009"]
    );
    assert_eq!(page.total, 5);
    assert!(
        page.leads
            .iter()
            .all(|lead| lead.modified_at >= datetime!(2024-01-01 00:05:00 UTC))
    );

    let request = &fake.requests()[0];
    assert_eq!(
        param(request, "where[0][type]"),
        Some("greaterThanOrEquals")
    );
    assert_eq!(param(request, "where[0][attribute]"), Some("modifiedAt"));
    assert_eq!(
        param(request, "where[0][value]"),
        Some("2024-01-01 00:05:00")
    );
}

#[test]
fn the_request_sends_the_key_and_the_documented_parameters() {
    let fake = FakeEspoCrm::start(KEY);
    let crm = client(&fake);
    crm.leads_page(&all_since(None, 40, 20)).expect("page");
    // Larger than EspoCRM allows: held to its maximum rather than refused.
    crm.leads_page(&all_since(None, 0, 5000)).expect("page");

    let requests = fake.requests();
    let first = &requests[0];
    assert_eq!(first.path, "/api/v1/Lead");
    assert_eq!(first.api_key.as_deref(), Some(KEY));
    assert_eq!(
        param(first, "select"),
        Some("id,name,firstName,lastName,emailAddress,phoneNumber,phoneNumberData,modifiedAt")
    );
    assert_eq!(param(first, "orderBy"), Some("modifiedAt"));
    assert_eq!(param(first, "order"), Some("asc"));
    assert_eq!(param(first, "maxSize"), Some("20"));
    assert_eq!(param(first, "offset"), Some("40"));
    assert!(first.query.iter().all(|(key, _)| !key.starts_with("where")));
    assert_eq!(param(&requests[1], "maxSize"), Some("200"));
}

#[test]
fn lead_ids_are_paged_in_creation_order_and_edits_do_not_move_them() {
    let fake = FakeEspoCrm::start(KEY);
    put_leads(&fake, 5, datetime!(2024-01-01 00:00:00 UTC));
    // Editing the oldest lead makes it the most recently modified, not the most recently created.
    fake.put_lead(FakeLead::new(
        "lead-000",
        "Lead Edited",
        datetime!(2024-06-01 00:00:00 UTC),
    ));
    let crm = client(&fake);

    let first = crm.lead_ids_page(0, 3).expect("page");
    let second = crm.lead_ids_page(3, 3).expect("page");
    assert_eq!(first.total, 5);
    assert_eq!(first.ids, ["lead-000", "lead-001", "lead-002"]);
    assert_eq!(second.ids, ["lead-003", "lead-004"]);

    let request = &fake.requests()[0];
    assert_eq!(param(request, "select"), Some("id,modifiedAt"));
    assert_eq!(param(request, "orderBy"), Some("createdAt"));
    assert_eq!(param(request, "order"), Some("asc"));
}

#[test]
fn a_deleted_lead_is_not_listed() {
    let fake = FakeEspoCrm::start(KEY);
    put_leads(&fake, 3, datetime!(2024-01-01 00:00:00 UTC));
    fake.delete_lead("lead-001");
    let crm = client(&fake);

    let page = crm.leads_page(&all_since(None, 0, 10)).expect("page");
    let ids: Vec<_> = page.leads.iter().map(|lead| lead.id.as_str()).collect();
    assert_eq!(ids, ["lead-000", "lead-002"]);
    assert_eq!(page.total, 2);
    assert_eq!(
        crm.lead_ids_page(0, 10).expect("ids").ids,
        ["lead-000", "lead-002"]
    );
}

#[test]
fn a_wrong_key_is_unauthorized() {
    let fake = FakeEspoCrm::start(KEY);
    let crm = EspoCrm::new(&fake.url(), "not-the-key", Duration::from_secs(5)).expect("client");
    let error = crm.leads_page(&all_since(None, 0, 10)).unwrap_err();
    assert_eq!(error, CrmError::Unauthorized);
    assert!(!error.is_retryable());
}

#[test]
fn statuses_are_classified() {
    let fake = FakeEspoCrm::start(KEY);
    fake.fail_next(&[
        Fault::Status(401),
        Fault::Status(403),
        Fault::TooManyRequests {
            retry_after_secs: 7,
        },
        Fault::Status(500),
        Fault::Status(503),
        Fault::Status(404),
    ]);
    let crm = client(&fake);
    let query = all_since(None, 0, 10);
    let mut errors = Vec::new();
    for _ in 0..6 {
        errors.push(crm.leads_page(&query).unwrap_err());
    }
    assert_eq!(
        errors,
        [
            CrmError::Unauthorized,
            CrmError::Unauthorized,
            CrmError::RateLimited {
                retry_after: Some(Duration::from_secs(7))
            },
            CrmError::Server(500),
            CrmError::Server(503),
            CrmError::Unexpected("status 404".into()),
        ]
    );
    // The faults are spent: normal service again.
    assert!(crm.leads_page(&query).is_ok());
}

#[test]
fn an_answer_slower_than_the_timeout_is_a_timeout() {
    let fake = FakeEspoCrm::start(KEY);
    fake.fail_next(&[Fault::Delay(Duration::from_secs(1))]);
    let crm = EspoCrm::new(&fake.url(), KEY, Duration::from_millis(300)).expect("client");
    let started = std::time::Instant::now();
    let error = crm.leads_page(&all_since(None, 0, 10)).unwrap_err();
    assert_eq!(error, CrmError::Timeout);
    assert!(started.elapsed() < Duration::from_millis(900));
    assert!(error.is_retryable());
}

#[test]
fn a_closed_port_is_unreachable() {
    let port = {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
        listener.local_addr().expect("address").port()
    };
    let crm = EspoCrm::new(
        &format!("http://127.0.0.1:{port}"),
        KEY,
        Duration::from_secs(2),
    )
    .expect("client");
    assert_eq!(
        crm.leads_page(&all_since(None, 0, 10)).unwrap_err(),
        CrmError::Unreachable
    );
    assert_eq!(crm.lead_ids_page(0, 10).unwrap_err(), CrmError::Unreachable);
}

#[test]
fn a_body_that_is_not_json_is_unexpected() {
    let fake = FakeEspoCrm::start(KEY);
    fake.fail_next(&[Fault::MalformedJson, Fault::MalformedJson]);
    let crm = client(&fake);
    let error = crm.leads_page(&all_since(None, 0, 10)).unwrap_err();
    assert!(matches!(error, CrmError::Unexpected(_)), "{error:?}");
    assert!(!error.is_retryable());
    assert!(matches!(
        crm.lead_ids_page(0, 10).unwrap_err(),
        CrmError::Unexpected(_)
    ));
}

#[test]
fn the_key_and_url_appear_in_no_error_nor_in_the_client() {
    let fake = FakeEspoCrm::start(KEY);
    fake.fail_next(&[
        Fault::Status(401),
        Fault::TooManyRequests {
            retry_after_secs: 3,
        },
        Fault::Status(502),
        Fault::MalformedJson,
        Fault::Status(418),
        Fault::Delay(Duration::from_secs(1)),
    ]);
    let crm = EspoCrm::new(&fake.url(), KEY, Duration::from_millis(300)).expect("client");
    let mut errors = Vec::new();
    for _ in 0..6 {
        errors.push(crm.leads_page(&all_since(None, 0, 10)).unwrap_err());
    }
    errors.push(CrmError::Unreachable);
    errors.push(EspoCrm::new("ftp://x", KEY, Duration::from_secs(1)).unwrap_err());
    let codes: Vec<_> = errors.iter().map(CrmError::code).collect();
    assert_eq!(
        codes,
        [
            "unauthorized",
            "rate_limited",
            "server_error",
            "unexpected",
            "unexpected",
            "timeout",
            "unreachable",
            "invalid_url"
        ]
    );
    let port = fake.url().rsplit(':').next().expect("port").to_owned();
    for error in &errors {
        for text in [error.to_string(), format!("{error:?}")] {
            assert!(!text.contains(KEY), "{text}");
            assert!(
                !text.contains("127.0.0.1") && !text.contains(&port),
                "{text}"
            );
            assert!(!text.contains('\n'), "{text}");
        }
    }
    let debug = format!("{crm:?}");
    assert!(
        !debug.contains(KEY) && !debug.contains("127.0.0.1"),
        "{debug}"
    );
}

#[tokio::test]
async fn the_client_works_from_spawn_blocking_on_a_single_threaded_runtime() {
    let fake = FakeEspoCrm::start(KEY);
    put_leads(&fake, 3, datetime!(2024-01-01 00:00:00 UTC));
    let crm = client(&fake);
    let page = tokio::task::spawn_blocking(move || crm.leads_page(&all_since(None, 0, 10)))
        .await
        .expect("join")
        .expect("page");
    assert_eq!(page.leads.len(), 3);
}

/// The fake itself refuses what EspoCRM refuses, so the client's tests stand on firm ground.
#[test]
fn the_fake_answers_as_espocrm_documents() {
    let fake = FakeEspoCrm::start(KEY);
    put_leads(&fake, 3, datetime!(2024-01-01 00:00:00 UTC));
    let agent: ureq::Agent = ureq::Agent::config_builder()
        .http_status_as_error(false)
        .build()
        .into();
    let get = |path: &str, key: Option<&str>| {
        let mut request = agent.get(format!("{}{path}", fake.url()));
        if let Some(key) = key {
            request = request.header("X-Api-Key", key);
        }
        let mut response = request.call().expect("an answer");
        let status = response.status().as_u16();
        let body = response.body_mut().read_to_string().expect("body");
        (
            status,
            serde_json::from_str(&body).unwrap_or(serde_json::Value::Null),
        )
    };

    assert_eq!(get("/api/v1/Lead", None).0, 401);
    assert_eq!(get("/api/v1/Lead", Some("wrong")).0, 401);
    assert_eq!(get("/api/v1/Contact", Some(KEY)).0, 404);
    assert_eq!(get("/api/v1/Lead?maxSize=201", Some(KEY)).0, 403);

    // Defaults: newest first, every attribute.
    let (status, body) = get("/api/v1/Lead", Some(KEY));
    assert_eq!(status, 200);
    assert_eq!(body["total"], 3);
    assert_eq!(body["list"][0]["id"], "lead-002");
    assert_eq!(body["list"][0]["createdAt"], "2024-01-01 00:02:00");
    assert_eq!(body["list"][0]["firstName"], "Lead");

    // `field` is accepted for `attribute`; `select` keeps `id`.
    let (_, body) = get(
        "/api/v1/Lead?select=name&orderBy=id&order=desc\
         &where[0][type]=lessThan&where[0][field]=modifiedAt&where[0][value]=2024-01-01%2000:02:00",
        Some(KEY),
    );
    assert_eq!(body["total"], 2);
    assert_eq!(
        body["list"],
        serde_json::json!([
            {"id": "lead-001", "name": "Lead Number1"},
            {"id": "lead-000", "name": "Lead Number0"}
        ])
    );
    assert_eq!(fake.requests().len(), 6);
}
