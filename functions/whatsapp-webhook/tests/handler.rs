//! The handler, fed Green-API's notifications as `events/` holds them, against a real database:
//! what is stored, for whom, once, and the alerts that follow.

use serde_json::{Value, json};
use shared::config::EvaluatorSettings;
use shared::evaluator::Evaluator;
use shared::http::App;
use shared::tenancy::Scope;
use shared::testing::{TestDb, event, event_as, event_with, status_and_json};
use shared::time::{Duration, OffsetDateTime};

const INCOMING_TEXT: &str = include_str!("../../../events/greenapi-incoming-text.json");
const INCOMING_IMAGE: &str = include_str!("../../../events/greenapi-incoming-image.json");
const INCOMING_LOCATION: &str = include_str!("../../../events/greenapi-incoming-location.json");
const INCOMING_CONTACT: &str = include_str!("../../../events/greenapi-incoming-contact.json");
const INCOMING_REACTION: &str = include_str!("../../../events/greenapi-incoming-reaction.json");
const OUTGOING_PHONE: &str = include_str!("../../../events/greenapi-outgoing-phone.json");
const OUTGOING_API: &str = include_str!("../../../events/greenapi-outgoing-api.json");
const STATUS_SENT: &str = include_str!("../../../events/greenapi-status-sent.json");
const STATUS_DELIVERED: &str = include_str!("../../../events/greenapi-status-delivered.json");
const STATUS_READ: &str = include_str!("../../../events/greenapi-status-read.json");
const STATUS_FAILED: &str = include_str!("../../../events/greenapi-status-failed.json");
const STATUS_NO_ACCOUNT: &str = include_str!("../../../events/greenapi-status-no-account.json");
const STATE_CHANGED: &str = include_str!("../../../events/greenapi-state-changed.json");
const INCOMING_CALL: &str = include_str!("../../../events/greenapi-incoming-call.json");
const GROUP_MESSAGE: &str = include_str!("../../../events/greenapi-group-message.json");
const INVALID_JSON: &str = include_str!("../../../events/greenapi-invalid-json.json");
const MISSING_INSTANCE: &str = include_str!("../../../events/greenapi-missing-instance.json");
const NO_TOKEN: &str = include_str!("../../../events/greenapi-no-token.json");
const WRONG_INSTANCE: &str = include_str!("../../../events/greenapi-wrong-instance.json");

/// The number of the sample notifications' chat.
const SOPHIE: &str = "+33612345678";

async fn setup() -> (TestDb, App) {
    let test = TestDb::new().await;
    test.register_events_webhook_token().await;
    let app = App::new(test.db(), None);
    (test, app)
}

async fn post(app: &App, request: lambda_http::Request) -> (u16, Value) {
    status_and_json(whatsapp_webhook::handle(app, request).await)
}

async fn count(test: &TestDb, sql: &str) -> i64 {
    test.owner().await.query_one(sql, &[]).await.unwrap().get(0)
}

async fn stored(test: &TestDb) -> (i64, i64) {
    (
        count(test, "SELECT count(*) FROM lead_activities").await,
        count(test, "SELECT count(*) FROM max_unmatched_messages").await,
    )
}

/// A sample notification whose WhatsApp time is `ago` before now.
fn at(json: &str, ago: Duration) -> lambda_http::Request {
    let timestamp = (OffsetDateTime::now_utc() - ago).unix_timestamp();
    event_with(json, |event| {
        let mut body: Value = serde_json::from_str(event["body"].as_str().unwrap()).unwrap();
        body["timestamp"] = json!(timestamp);
        event["body"] = json!(body.to_string());
    })
}

#[tokio::test]
async fn a_message_from_a_known_number_is_an_activity_of_its_lead_stored_once() {
    let (test, app) = setup().await;
    test.map_phone("macrea", SOPHIE, "lead_sophie").await;
    let (status, body) = post(&app, event(INCOMING_TEXT)).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(
        body,
        json!({"success": true, "stored": "activity", "leadId": "lead_sophie", "replayed": false})
    );
    // Green-API sends a notification again until it gets a 200, and may send it twice anyway.
    let (status, again) = post(&app, event(INCOMING_TEXT)).await;
    assert_eq!((status, &again["replayed"]), (200, &json!(true)));
    assert_eq!(stored(&test).await, (1, 0));
    let row = test
        .owner()
        .await
        .query_one(
            "SELECT lead_id::text, lead_name::text, channel::text, direction::text, status::text,
                    message_snippet, external_id::text, occurred_at
               FROM lead_activities",
            &[],
        )
        .await
        .unwrap();
    assert_eq!(row.get::<_, String>(0), "lead_sophie");
    assert_eq!(row.get::<_, String>(1), "Sophie Martin");
    assert_eq!(
        (
            row.get::<_, String>(2),
            row.get::<_, String>(3),
            row.get::<_, String>(4)
        ),
        ("whatsapp".into(), "in".into(), "received".into())
    );
    assert_eq!(row.get::<_, String>(5), "Bonjour, des nouvelles du devis ?");
    assert_eq!(row.get::<_, String>(6), "BAE5F4886F6F2D05");
    // The notification's own time, however late it arrives.
    assert_eq!(
        row.get::<_, OffsetDateTime>(7).unix_timestamp(),
        1_795_512_600
    );
}

#[tokio::test]
async fn every_documented_notification_is_answered_200_and_stored_as_the_mapping_says() {
    let (test, app) = setup().await;
    test.map_phone("macrea", SOPHIE, "lead_sophie").await;
    for (file, stored_as, snippet) in [
        (
            INCOMING_TEXT,
            "activity",
            Some("Bonjour, des nouvelles du devis ?"),
        ),
        (
            INCOMING_IMAGE,
            "activity",
            Some("[Photo] La photo du chantier"),
        ),
        (
            INCOMING_LOCATION,
            "activity",
            Some("[Position] Agence Macrea"),
        ),
        (INCOMING_CONTACT, "activity", Some("[Contact] Paul Durand")),
        (INCOMING_REACTION, "activity", Some("[Réaction] 👍")),
        (
            OUTGOING_PHONE,
            "activity",
            Some("Je vous envoie le devis aujourd'hui."),
        ),
        (
            OUTGOING_API,
            "activity",
            Some("Voici le devis : https://macrea.fr/devis/42"),
        ),
        (STATUS_DELIVERED, "activity", None),
        (STATUS_READ, "activity", None),
        (STATUS_FAILED, "activity", None),
        (STATUS_NO_ACCOUNT, "activity", None),
        (STATE_CHANGED, "ignored", None),
        (INCOMING_CALL, "ignored", None),
        (GROUP_MESSAGE, "ignored", None),
    ] {
        let (status, body) = post(&app, event(file)).await;
        assert_eq!(status, 200, "{body}");
        assert_eq!(body["stored"], stored_as, "{body}");
        if let Some(snippet) = snippet {
            let id = serde_json::from_str::<Value>(
                serde_json::from_str::<Value>(file).unwrap()["body"]
                    .as_str()
                    .unwrap(),
            )
            .unwrap()["idMessage"]
                .as_str()
                .unwrap()
                .to_owned();
            let row = test
                .owner()
                .await
                .query_one(
                    "SELECT message_snippet FROM lead_activities WHERE external_id = $1",
                    &[&id],
                )
                .await
                .unwrap();
            assert_eq!(row.get::<_, String>(0), snippet);
        }
    }
    let (_, group) = post(&app, event(GROUP_MESSAGE)).await;
    assert_eq!(group["ignored"], "group_chat");
    let (_, state) = post(&app, event(STATE_CHANGED)).await;
    assert_eq!(state["ignored"], "other_type");
    // Eleven events, none twice; the status `sent` of the API's message is that message.
    assert_eq!(stored(&test).await, (11, 0));
    let (status, sent) = post(&app, event(STATUS_SENT)).await;
    assert_eq!((status, &sent["replayed"]), (200, &json!(true)));
    assert_eq!(stored(&test).await, (11, 0));
    // Outbound messages carry no lead name (their sender is the tenant's own account).
    assert_eq!(
        count(
            &test,
            "SELECT count(*) FROM lead_activities WHERE direction = 'out' AND lead_name IS NOT NULL"
        )
        .await,
        0
    );
}

#[tokio::test]
async fn a_number_nobody_knows_waits_and_joins_its_lead_once_mapped() {
    let (test, app) = setup().await;
    let (status, body) = post(&app, event(INCOMING_TEXT)).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(
        body,
        json!({"success": true, "stored": "unmatched", "replayed": false})
    );
    post(&app, event(OUTGOING_API)).await;
    let (_, again) = post(&app, event(INCOMING_TEXT)).await;
    assert_eq!(again["replayed"], true);
    assert_eq!(stored(&test).await, (0, 2));

    let mut client = test.owner().await;
    let tenant = shared::tenancy::TenantId::parse("macrea").unwrap();
    let waiting = shared::admin::unmatched(&mut client, &tenant)
        .await
        .unwrap();
    assert_eq!(waiting.len(), 1);
    assert_eq!(waiting[0].phone, SOPHIE);
    assert_eq!(waiting[0].sender_name.as_deref(), Some("Sophie Martin"));
    assert_eq!(waiting[0].messages, 2);

    assert_eq!(
        test.map_phone("macrea", "+33 6 12 34 56 78", "lead_sophie")
            .await,
        2
    );
    assert_eq!(stored(&test).await, (2, 0));
    assert!(
        shared::admin::unmatched(&mut client, &tenant)
            .await
            .unwrap()
            .is_empty()
    );
    // The lead's summary knows both, at their own times.
    let row = client
        .query_one(
            "SELECT last_in_at, last_contact_at FROM max_lead_states WHERE lead_id = 'lead_sophie'",
            &[],
        )
        .await
        .unwrap();
    assert_eq!(
        row.get::<_, OffsetDateTime>(0).unix_timestamp(),
        1_795_512_600
    );
    assert_eq!(
        row.get::<_, OffsetDateTime>(1).unix_timestamp(),
        1_795_516_260
    );
    // From now on the number's messages are its lead's at once.
    let (_, read) = post(&app, event(STATUS_READ)).await;
    assert_eq!(read["stored"], "activity");
    assert_eq!(read["leadId"], "lead_sophie");
}

#[tokio::test]
async fn no_token_a_wrong_token_or_another_instance_is_a_401_and_stores_nothing() {
    let (test, app) = setup().await;
    test.map_phone("macrea", SOPHIE, "lead_sophie").await;
    let api_key = test.key("macrea", &Scope::ALL).await;
    let (other_token, _) = {
        let mut client = test.owner().await;
        shared::admin::create_webhook_token(
            &mut client,
            &shared::tenancy::TenantId::parse("other").unwrap(),
            shared::whatsapp::InstanceId(2202000002),
            shared::admin::Existing::Refuse,
        )
        .await
        .unwrap()
    };
    let unknown = "mxw_macrea_AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA";
    for (request, what) in [
        (event(NO_TOKEN), "no token"),
        (event_as(INCOMING_TEXT, unknown), "an unknown token"),
        (event_as(INCOMING_TEXT, &api_key), "an API key"),
        (
            event_as(INCOMING_TEXT, &other_token),
            "another tenant's token",
        ),
        (event(WRONG_INSTANCE), "another instance"),
        (
            event_as(INVALID_JSON, unknown),
            "an unknown token with a bad body",
        ),
        (
            event_as(STATE_CHANGED, unknown),
            "an unknown token on a state change",
        ),
    ] {
        let (status, body) = post(&app, request).await;
        assert_eq!(status, 401, "{what}: {body}");
        assert_eq!(body["error"]["code"], "unauthorized", "{what}");
    }
    // The token alone, without `Bearer`, is read too.
    let raw = event_with(INCOMING_TEXT, |event| {
        event["headers"]["authorization"] = json!(shared::tenancy::EVENTS_FIXTURE_WEBHOOK_TOKEN);
    });
    assert_eq!(post(&app, raw).await.0, 200);
    assert_eq!(stored(&test).await, (1, 0));
    assert_eq!(
        count(
            &test,
            "SELECT count(*) FROM lead_activities WHERE tenant_id <> 'macrea'"
        )
        .await,
        0
    );

    // A revoked token stops at once.
    let mut client = test.owner().await;
    let tenant = shared::tenancy::TenantId::parse("macrea").unwrap();
    shared::admin::revoke_webhook_tokens(&mut client, &tenant, None)
        .await
        .unwrap();
    assert_eq!(post(&app, event(INCOMING_IMAGE)).await.0, 401);
    assert_eq!(stored(&test).await, (1, 0));
}

#[tokio::test]
async fn a_malformed_notification_is_a_400_and_stores_nothing() {
    let (test, app) = setup().await;
    for (file, what) in [
        (INVALID_JSON, "invalid JSON"),
        (MISSING_INSTANCE, "no instanceData"),
    ] {
        let (status, body) = post(&app, event(file)).await;
        assert_eq!(status, 400, "{what}: {body}");
        assert_eq!(body["success"], false);
        assert_eq!(body["error"]["code"], "invalid_notification", "{what}");
    }
    assert_eq!(stored(&test).await, (0, 0));
}

#[tokio::test]
async fn statuses_out_of_order_leave_the_message_as_its_latest_fate() {
    let (test, app) = setup().await;
    test.map_phone("macrea", SOPHIE, "lead_sophie").await;
    post(&app, event(OUTGOING_API)).await;
    // `read` arrives before `delivered` and `failed`, which happened before it.
    post(&app, event(STATUS_READ)).await;
    post(&app, event(STATUS_DELIVERED)).await;
    post(&app, event(STATUS_FAILED)).await;
    let row = test
        .owner()
        .await
        .query_one(
            "SELECT last_outcome_at, last_outcome_failed, last_contact_at FROM max_lead_states",
            &[],
        )
        .await
        .unwrap();
    assert_eq!(
        row.get::<_, OffsetDateTime>(0).unix_timestamp(),
        1_795_516_400
    );
    assert!(!row.get::<_, bool>(1), "the message was read in the end");
    // A status is never a new contact: the contact is the message, at its own time.
    assert_eq!(
        row.get::<_, OffsetDateTime>(2).unix_timestamp(),
        1_795_516_260
    );
    assert_eq!(stored(&test).await, (4, 0));
}

async fn evaluate(test: &TestDb) {
    Evaluator::default()
        .pass(&test.db(), &EvaluatorSettings::default())
        .await
        .unwrap();
}

async fn open_alerts(test: &TestDb) -> Vec<String> {
    test.owner()
        .await
        .query(
            "SELECT type FROM max_alerts WHERE lead_id = 'lead_sophie' AND resolved_at IS NULL
              ORDER BY type",
            &[],
        )
        .await
        .unwrap()
        .iter()
        .map(|row| row.get(0))
        .collect()
}

#[tokio::test]
async fn alerts_follow_the_conversation_through_the_webhook() {
    let (test, app) = setup().await;
    test.map_phone("macrea", SOPHIE, "lead_sophie").await;

    // We wrote four days ago and Sophie never answered: NoReply3d.
    assert_eq!(
        post(&app, at(OUTGOING_PHONE, Duration::days(4))).await.0,
        200
    );
    evaluate(&test).await;
    assert_eq!(open_alerts(&test).await, ["NoReply3d"]);

    // Her answer on WhatsApp resolves it at once, in the webhook's own request...
    assert_eq!(
        post(&app, at(INCOMING_TEXT, Duration::minutes(1))).await.0,
        200
    );
    assert!(open_alerts(&test).await.is_empty());
    // ... and left unanswered past the threshold it raises UnansweredInbound.
    test.travel("5 hours").await;
    evaluate(&test).await;
    assert_eq!(open_alerts(&test).await, ["UnansweredInbound"]);

    // Our reply from the API resolves it; its delivery failing raises DeliveryFailed.
    assert_eq!(
        post(&app, at(OUTGOING_API, Duration::minutes(3))).await.0,
        200
    );
    assert!(open_alerts(&test).await.is_empty());
    assert_eq!(
        post(&app, at(STATUS_FAILED, Duration::minutes(2))).await.0,
        200
    );
    evaluate(&test).await;
    assert_eq!(open_alerts(&test).await, ["DeliveryFailed"]);

    // She read it after all: resolved at once.
    assert_eq!(
        post(&app, at(STATUS_READ, Duration::minutes(1))).await.0,
        200
    );
    assert!(open_alerts(&test).await.is_empty());
    assert_eq!(
        count(
            &test,
            "SELECT count(*) FROM max_alerts WHERE resolution = 'auto' AND lead_id = 'lead_sophie'"
        )
        .await,
        3
    );
}

#[tokio::test]
async fn a_tenants_token_never_writes_into_another_tenant() {
    let (test, app) = setup().await;
    // The same number is a lead of both tenants.
    test.map_phone("macrea", SOPHIE, "lead_sophie").await;
    test.map_phone("other", SOPHIE, "other_lead").await;
    assert_eq!(post(&app, event(INCOMING_TEXT)).await.0, 200);
    assert_eq!(
        count(
            &test,
            "SELECT count(*) FROM lead_activities WHERE tenant_id = 'macrea'"
        )
        .await,
        1
    );
    assert_eq!(
        count(
            &test,
            "SELECT count(*) FROM lead_activities WHERE tenant_id = 'other'"
        )
        .await,
        0
    );
}
