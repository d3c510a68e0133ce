//! The handler, fed the sample events of `events/`, against a real database: the directory it
//! writes, the alerts that then name their lead and link to it, the WhatsApp numbers that then
//! find their lead.

use serde_json::{Value, json};
use shared::alerts::{ListQuery, list_active};
use shared::http::App;
use shared::tenancy::{Scope, TenantId, TenantScope};
use shared::testing::status_and_json;
use shared::testing::{SEED_INSERT, TestDb, UNKNOWN_KEY, event, event_as, event_with};

const ONE: &str = include_str!("../../../events/upsert-lead.json");
const BATCH: &str = include_str!("../../../events/upsert-leads-batch.json");
const INVALID_PHONE: &str = include_str!("../../../events/upsert-leads-invalid-phone.json");
const SOPHIE: &str = "6571b2c3d4e5f6a7b";

async fn setup() -> (TestDb, App) {
    let test = TestDb::new().await;
    test.register_events_key().await;
    let app = App::new(test.db(), Some(shared::testing::jwt_verifier()));
    (test, app)
}

async fn call(app: &App, request: lambda_http::Request) -> (u16, Value) {
    status_and_json(upsert_leads::handle(app, request).await)
}

/// The directory as the owner sees it, every tenant: (tenant, lead, name, phones, url).
async fn directory(
    test: &TestDb,
) -> Vec<(String, String, Option<String>, Vec<String>, Option<String>)> {
    test.owner()
        .await
        .query(
            "SELECT tenant_id, lead_id::text, name::text, phones::text[], crm_url::text \
               FROM max_leads ORDER BY tenant_id, lead_id",
            &[],
        )
        .await
        .unwrap()
        .iter()
        .map(|row| (row.get(0), row.get(1), row.get(2), row.get(3), row.get(4)))
        .collect()
}

fn with_body(json: &str, body: Value) -> lambda_http::Request {
    event_with(json, |event| event["body"] = json!(body.to_string()))
}

/// One lead, as Sophie's sample event sends it, with these fields.
fn sophie(fields: Value) -> lambda_http::Request {
    let mut lead = json!({"id": SOPHIE});
    lead.as_object_mut()
        .unwrap()
        .extend(fields.as_object().unwrap().clone());
    with_body(ONE, json!({"leads": [lead]}))
}

#[tokio::test]
async fn a_lead_is_written_with_its_numbers_in_e164_and_alerts_then_name_it_and_link_to_it() {
    let (test, app) = setup().await;
    let (status, body) = call(&app, event(ONE)).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(
        body,
        json!({"success": true, "leads": [{"id": SOPHIE, "outcome": "created"}]})
    );
    let url = format!("https://crm.macrea.fr/#Lead/view/{SOPHIE}");
    assert_eq!(
        directory(&test).await,
        vec![(
            "macrea".to_owned(),
            SOPHIE.to_owned(),
            Some("Sophie Martin".to_owned()),
            vec!["+33612345678".to_owned()],
            Some(url.clone())
        )]
    );

    // An alert raised for the lead without a name, and the seed's alert for a lead the directory
    // does not know: the first is named and linked, the second keeps its id and no link.
    let owner = test.owner().await;
    owner.batch_execute(SEED_INSERT).await.unwrap();
    owner
        .execute(
            "INSERT INTO max_alerts (tenant_id, lead_id, type, severity, message) \
             VALUES ('macrea', $1, 'NoContact7d', 'high', 'Aucun contact depuis 8 jours')",
            &[&SOPHIE],
        )
        .await
        .unwrap();
    let tenant = TenantId::parse("macrea").unwrap();
    let page = list_active(
        &app.db,
        &TenantScope::Verified(&tenant),
        &ListQuery::default(),
    )
    .await
    .unwrap();
    let alerts: Vec<(String, Option<String>, Option<String>)> = page
        .alerts()
        .unwrap()
        .iter()
        .map(|a| {
            (
                a.lead_id.to_owned(),
                a.lead_name.map(str::to_owned),
                a.lead_url.map(str::to_owned),
            )
        })
        .collect();
    assert!(
        alerts.contains(&(
            SOPHIE.to_owned(),
            Some("Sophie Martin".to_owned()),
            Some(url)
        )),
        "{alerts:?}"
    );
    assert!(
        alerts.contains(&("test_prod_alert".to_owned(), None, None)),
        "{alerts:?}"
    );
}

#[tokio::test]
async fn a_batch_is_written_at_once_and_sending_it_again_changes_nothing() {
    let (test, app) = setup().await;
    let (status, body) = call(&app, event(BATCH)).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(
        body["leads"],
        json!([{"id": SOPHIE, "outcome": "created"}, {"id": "6571b2c3d4e5f6a7c", "outcome": "created"}])
    );
    let first = directory(&test).await;
    assert_eq!(
        first[1].3,
        vec!["+442079460958".to_owned(), "+33700000001".to_owned()]
    );

    let (status, again) = call(&app, event(BATCH)).await;
    assert_eq!(status, 200, "{again}");
    assert_eq!(again["leads"][0]["outcome"], "unchanged");
    assert_eq!(directory(&test).await, first);
}

#[tokio::test]
async fn a_lead_given_twice_in_a_batch_counts_once_as_given_last() {
    let (test, app) = setup().await;
    let twice = json!({"leads": [
        {"id": "a", "name": "First"}, {"id": "b", "name": "B"}, {"id": "a", "name": "Last"}
    ]});
    let (status, body) = call(&app, with_body(BATCH, twice)).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(
        body["leads"],
        json!([{"id": "b", "outcome": "created"}, {"id": "a", "outcome": "created"}])
    );
    let names: Vec<Option<String>> = directory(&test)
        .await
        .into_iter()
        .map(|row| row.2)
        .collect();
    assert_eq!(names, [Some("Last".to_owned()), Some("B".to_owned())]);
}

#[tokio::test]
async fn an_older_version_never_overwrites_a_newer_one() {
    let (test, app) = setup().await;
    assert_eq!(call(&app, event(ONE)).await.0, 200);
    let older = sophie(json!({"name": "Sophie (ancien)", "modifiedAt": "2026-11-01T00:00:00Z"}));
    let (status, body) = call(&app, older).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["leads"][0]["outcome"], "stale");
    assert_eq!(
        directory(&test).await[0].2.as_deref(),
        Some("Sophie Martin")
    );

    let newer =
        sophie(json!({"name": "Sophie Martin-Durand", "modifiedAt": "2026-11-25T00:00:00Z"}));
    let (_, body) = call(&app, newer).await;
    assert_eq!(body["leads"][0]["outcome"], "updated");
    let row = &directory(&test).await[0];
    assert_eq!(row.2.as_deref(), Some("Sophie Martin-Durand"));
    // What the new version leaves out is cleared: the numbers and the link.
    assert!(row.3.is_empty() && row.4.is_none(), "{row:?}");
}

#[tokio::test]
async fn a_bad_lead_in_a_batch_is_named_and_nothing_is_written() {
    let (test, app) = setup().await;
    let (status, body) = call(&app, event(INVALID_PHONE)).await;
    assert_eq!(status, 400, "{body}");
    assert_eq!(body["error"]["code"], "invalid_field");
    assert_eq!(body["error"]["field"], "leads");
    assert_eq!(
        body["error"]["message"],
        "leads[1].phones[0] must be a phone number with its country code, such as +33612345678."
    );
    assert!(directory(&test).await.is_empty());

    for (body, message) in [
        (
            json!({}),
            "leads is required: a list of 1 to 500 lead objects.",
        ),
        (
            json!({"leads": []}),
            "leads is required: a list of 1 to 500 lead objects.",
        ),
        (
            json!({"leads": "x"}),
            "leads is required: a list of 1 to 500 lead objects.",
        ),
        (
            json!({"leads": [{"name": "x"}]}),
            "leads[0].id is required.",
        ),
        (
            json!({"leads": [{"id": "a", "url": "javascript:alert(1)"}]}),
            "leads[0].url must be an http or https URL of at most 2000 characters, without spaces.",
        ),
        (
            json!({"leads": [{"id": "a", "phones": "+33612345678"}]}),
            "leads[0].phones must be a list of phone numbers.",
        ),
        (
            json!({"leads": [{"id": "a", "email": "nope"}]}),
            "leads[0].email must be an e-mail address, such as jean@exemple.fr.",
        ),
        (
            json!({"leads": [{"id": "a", "modifiedAt": "2099-01-01T00:00:00Z"}]}),
            "leads[0].modifiedAt must not be more than 5 minutes in the future.",
        ),
    ] {
        let (status, answer) = call(&app, with_body(BATCH, body.clone())).await;
        assert_eq!(status, 400, "{body} -> {answer}");
        assert_eq!(answer["error"]["message"], message, "{body}");
    }
    let too_many: Vec<Value> = (0..501).map(|i| json!({"id": format!("l{i}")})).collect();
    let (status, _) = call(&app, with_body(BATCH, json!({"leads": too_many}))).await;
    assert_eq!(status, 400);
    assert!(directory(&test).await.is_empty());
}

#[tokio::test]
async fn the_credential_is_judged_first_and_needs_the_leads_scope() {
    let (test, app) = setup().await;
    let (status, body) = call(&app, event_as(INVALID_PHONE, UNKNOWN_KEY)).await;
    assert_eq!(status, 401, "{body}");
    let reader = test
        .key("macrea", &[Scope::ReadAlerts, Scope::LogActivities])
        .await;
    let (status, body) = call(&app, event_as(ONE, &reader)).await;
    assert_eq!(status, 403, "{body}");
    let user = shared::testing::user_token("macrea", "u1");
    let (status, _) = call(&app, event_as(ONE, &user)).await;
    assert_eq!(status, 403);
    assert!(directory(&test).await.is_empty());
}

#[tokio::test]
async fn a_tenant_writes_and_sees_only_its_own_leads() {
    let (test, app) = setup().await;
    assert_eq!(call(&app, event(ONE)).await.0, 200);
    let other = test.key("other", &[Scope::WriteLeads]).await;
    let theirs = event_with(ONE, |event| {
        event["headers"]["authorization"] = json!(format!("Bearer {other}"));
        event["headers"].as_object_mut().unwrap().remove("x-tenant");
        event["body"] = json!(
            json!({"leads": [{"id": SOPHIE, "name": "Quelqu'un d'autre", "phones": ["+33612345678"]}]})
                .to_string()
        );
    });
    let (status, body) = call(&app, theirs).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["leads"][0]["outcome"], "created");
    let rows = directory(&test).await;
    assert_eq!(rows.len(), 2);
    assert_eq!(rows[0].0, "macrea");
    assert_eq!(rows[0].2.as_deref(), Some("Sophie Martin"));
    // The same number is each tenant's own.
    let phones: i64 = test
        .owner()
        .await
        .query_one(
            "SELECT count(*) FROM max_lead_phones WHERE phone = '+33612345678'",
            &[],
        )
        .await
        .unwrap()
        .get(0);
    assert_eq!(phones, 2);
}

#[tokio::test]
async fn whatsapp_messages_that_waited_for_a_number_join_the_lead_it_is_written_with() {
    let (test, app) = setup().await;
    let owner = test.owner().await;
    owner
        .batch_execute(
            "INSERT INTO max_unmatched_messages (tenant_id, phone, sender_name, direction, status, \
                 message_snippet, external_id, occurred_at) \
             VALUES ('macrea', '+33612345678', 'Sophie', 'in', 'received', 'Bonjour', \
                     'BAE5F4886F6F2D05', now() - interval '2 hours')",
        )
        .await
        .unwrap();
    assert_eq!(call(&app, event(ONE)).await.0, 200);
    let joined = owner
        .query(
            "SELECT lead_id::text, lead_name::text, external_id::text FROM lead_activities",
            &[],
        )
        .await
        .unwrap();
    assert_eq!(joined.len(), 1);
    assert_eq!(joined[0].get::<_, String>(0), SOPHIE);
    assert_eq!(joined[0].get::<_, String>(1), "Sophie Martin");
    let waiting: i64 = owner
        .query_one("SELECT count(*) FROM max_unmatched_messages", &[])
        .await
        .unwrap()
        .get(0);
    assert_eq!(waiting, 0);

    // A number an operator mapped by hand stays theirs.
    test.map_phone("macrea", "+33700000001", "lead-by-hand")
        .await;
    assert_eq!(call(&app, event(BATCH)).await.0, 200);
    let mapped: String = owner
        .query_one(
            "SELECT lead_id::text FROM max_lead_phones WHERE phone = '+33700000001'",
            &[],
        )
        .await
        .unwrap()
        .get(0);
    assert_eq!(mapped, "lead-by-hand");
}
