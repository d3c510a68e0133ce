//! The alert evaluator against a real database. Situations are built in the past by logging
//! activities with `occurredAt`, and time is made to pass by moving every stored time back
//! (`TestDb::travel`): never by sleeping.

use std::time::Duration;

use shared::activities;
use shared::admin::{self, RuleChange};
use shared::alerts::{self, ListQuery, Severity};
use shared::config::EvaluatorSettings;
use shared::db::Db;
use shared::evaluator::{self, Evaluator, Summary};
use shared::http::activities::LogActivityBody;
use shared::parse::Parse;
use shared::rules;
use shared::tenancy::{TenantId, TenantScope};
use shared::testing::{SEED_INSERT, TestDb};
use shared::time::OffsetDateTime;

struct World {
    test: TestDb,
    db: Db,
}

#[derive(Debug, Clone, PartialEq)]
struct Open {
    lead: String,
    kind: String,
    severity: String,
    message: String,
    /// The English message (docs/alerts.md, "Languages").
    message_en: Option<String>,
    escalated: bool,
}

const MINUTE: i64 = 60;
const HOUR: i64 = 3600;
const DAY: i64 = 86_400;

impl World {
    async fn new() -> Self {
        let test = TestDb::new().await;
        let db = test.db();
        Self { test, db }
    }

    /// Logs an activity that happened `ago_seconds` ago, through the same code as the API.
    async fn log(&self, tenant: &str, lead: &str, what: (&str, &str, &str), ago_seconds: i64) {
        self.log_named(tenant, lead, None, what, ago_seconds).await;
    }

    async fn log_named(
        &self,
        tenant: &str,
        lead: &str,
        name: Option<&str>,
        (channel, direction, status): (&str, &str, &str),
        ago_seconds: i64,
    ) {
        let body = serde_json::json!({
            "leadId": lead, "leadName": name, "channel": channel, "direction": direction,
            "status": status,
        });
        let mut new = serde_json::from_value::<LogActivityBody>(body)
            .unwrap()
            .into_activity(None, OffsetDateTime::now_utc())
            .unwrap();
        new.occurred_at =
            Some(OffsetDateTime::now_utc() - shared::time::Duration::seconds(ago_seconds));
        let tenant = TenantId::parse(tenant).unwrap();
        activities::log(&self.db, &TenantScope::Verified(&tenant), &new)
            .await
            .unwrap();
    }

    async fn evaluate(&self) -> Summary {
        Evaluator::default()
            .pass(&self.db, &on(EvaluatorSettings::default().workers))
            .await
            .unwrap()
    }

    async fn open(&self, tenant: &str) -> Vec<Open> {
        self.test
            .owner()
            .await
            .query(
                "SELECT lead_id, type, severity, message, escalated_at IS NOT NULL, message_en
                   FROM max_alerts WHERE tenant_id = $1 AND resolved_at IS NULL
                  ORDER BY lead_id, type",
                &[&tenant],
            )
            .await
            .unwrap()
            .iter()
            .map(|row| Open {
                lead: row.get(0),
                kind: row.get(1),
                severity: row.get(2),
                message: row.get(3),
                escalated: row.get(4),
                message_en: row.get(5),
            })
            .collect()
    }

    async fn kinds(&self, tenant: &str) -> Vec<(String, String)> {
        self.open(tenant)
            .await
            .into_iter()
            .map(|o| (o.lead, o.kind))
            .collect()
    }

    /// How the last alert of a type for a lead was resolved, if it was.
    async fn resolution(&self, tenant: &str, lead: &str, kind: &str) -> Option<String> {
        self.test
            .owner()
            .await
            .query_one(
                "SELECT resolution FROM max_alerts WHERE tenant_id = $1 AND lead_id = $2 AND type = $3
                  ORDER BY created_at DESC LIMIT 1",
                &[&tenant, &lead, &kind],
            )
            .await
            .unwrap()
            .get(0)
    }

    async fn resolve_by_hand(&self, tenant: &str, lead: &str) {
        let id: uuid::Uuid = self
            .test
            .owner()
            .await
            .query_one(
                "SELECT id FROM max_alerts WHERE tenant_id = $1 AND lead_id = $2 AND resolved_at IS NULL",
                &[&tenant, &lead],
            )
            .await
            .unwrap()
            .get(0);
        let tenant = TenantId::parse(tenant).unwrap();
        alerts::resolve(&self.db, &TenantScope::Verified(&tenant), id, "user:alice")
            .await
            .unwrap()
            .unwrap();
    }

    /// Runs a statement as the tables' owner.
    async fn owner_sql(&self, sql: &str) {
        self.test.owner().await.batch_execute(sql).await.unwrap();
    }

    async fn set_rule(&self, tenant: &str, rule: &str, change: RuleChange) {
        let mut owner = self.test.owner().await;
        admin::set_rule(
            &mut owner,
            &TenantId::parse(tenant).unwrap(),
            rule,
            &change,
            false,
        )
        .await
        .unwrap();
    }
}

/// A pass's settings: a minute per batch, on `workers` connections.
fn on(workers: usize) -> EvaluatorSettings {
    EvaluatorSettings {
        timeout: Duration::from_secs(60),
        workers,
    }
}

fn one(lead: &str, kind: &str) -> Vec<(String, String)> {
    vec![(lead.to_owned(), kind.to_owned())]
}

const SENT_EMAIL: (&str, &str, &str) = ("email", "out", "sent");
const SENT_WHATSAPP: (&str, &str, &str) = ("whatsapp", "out", "sent");
const RECEIVED_WHATSAPP: (&str, &str, &str) = ("whatsapp", "in", "received");

#[tokio::test]
async fn no_contact_is_raised_at_seven_days_and_not_a_minute_before() {
    let w = World::new().await;
    w.log("t", "lead", SENT_WHATSAPP, 7 * DAY - MINUTE).await;
    w.evaluate().await;
    assert_eq!(w.kinds("t").await, one("lead", "NoReply3d"));

    w.travel_and_evaluate("2 minutes").await;
    let open = w.open("t").await;
    assert_eq!(open.len(), 1, "{open:?}");
    assert_eq!(open[0].kind, "NoContact7d");
    assert_eq!(open[0].severity, "high");
    assert_eq!(open[0].message, "Aucun contact depuis 7 jours");
    let action: serde_json::Value = w
        .test
        .owner()
        .await
        .query_one(
            "SELECT suggested_action FROM max_alerts WHERE resolved_at IS NULL",
            &[],
        )
        .await
        .unwrap()
        .get(0);
    assert_eq!(
        action,
        serde_json::json!({"label": "Relancer le lead", "action": "follow_up"})
    );
}

impl World {
    async fn travel_and_evaluate(&self, interval: &str) -> Summary {
        self.test.travel(interval).await;
        self.evaluate().await
    }
}

#[tokio::test]
async fn a_lead_never_contacted_is_raised_seven_days_after_it_first_appeared() {
    let w = World::new().await;
    // A missed outbound call is an attempt, not a contact.
    w.log("t", "anonymous", ("call", "out", "missed"), 8 * DAY)
        .await;
    w.log_named(
        "t",
        "sophie",
        Some("Sophie"),
        ("call", "out", "missed"),
        9 * DAY,
    )
    .await;
    w.log("t", "recent", ("call", "out", "missed"), 6 * DAY)
        .await;
    w.evaluate().await;
    let open = w.open("t").await;
    assert_eq!(open.len(), 2, "{open:?}");
    assert_eq!(open[0].message, "Jamais contacté depuis 8 jours");
    assert_eq!(
        open[1].message,
        "Sophie attend un premier contact depuis 9 jours"
    );
    assert_eq!(
        open[0].message_en.as_deref(),
        Some("Never contacted in 8 days")
    );
    assert_eq!(
        open[1].message_en.as_deref(),
        Some("Sophie has been waiting for a first contact for 9 days")
    );
}

#[tokio::test]
async fn an_unanswered_inbound_message_is_raised_after_four_hours_and_cleared_by_answering() {
    let w = World::new().await;
    w.log("t", "lead", RECEIVED_WHATSAPP, 4 * HOUR - MINUTE)
        .await;
    w.evaluate().await;
    assert_eq!(w.open("t").await, vec![]);

    w.travel_and_evaluate("2 minutes").await;
    let open = w.open("t").await;
    assert_eq!(open.len(), 1);
    assert_eq!(open[0].kind, "UnansweredInbound");
    assert_eq!(
        open[0].message,
        "Le lead a écrit il y a 4 heures, sans réponse"
    );
    assert_eq!(
        open[0].message_en.as_deref(),
        Some("The lead wrote 4 hours ago, unanswered")
    );

    // Answering resolves it at once, in the same transaction as the insert.
    w.log("t", "lead", SENT_WHATSAPP, 0).await;
    assert_eq!(w.open("t").await, vec![]);
    assert_eq!(
        w.resolution("t", "lead", "UnansweredInbound")
            .await
            .as_deref(),
        Some("auto")
    );
    let summary = w.evaluate().await;
    assert_eq!(summary.raised.values().sum::<u64>(), 0);
}

#[tokio::test]
async fn no_reply_is_raised_after_three_days_and_cleared_by_a_reply() {
    let w = World::new().await;
    w.log_named("t", "sophie", Some("Sophie"), SENT_EMAIL, 3 * DAY - MINUTE)
        .await;
    w.evaluate().await;
    assert_eq!(w.open("t").await, vec![]);

    w.travel_and_evaluate("2 minutes").await;
    let open = w.open("t").await;
    assert_eq!(open.len(), 1);
    assert_eq!(open[0].kind, "NoReply3d");
    assert_eq!(open[0].severity, "medium");
    assert_eq!(
        open[0].message,
        "Sophie n'a pas répondu depuis 3 jours. Peut-être essayer WhatsApp ?"
    );
    assert_eq!(
        open[0].message_en.as_deref(),
        Some("Sophie has not replied for 3 days. Maybe try WhatsApp?")
    );

    w.log("t", "sophie", ("email", "in", "received"), 0).await;
    assert_eq!(w.open("t").await, vec![]);
    assert_eq!(
        w.resolution("t", "sophie", "NoReply3d").await.as_deref(),
        Some("auto")
    );
}

#[tokio::test]
async fn no_reply_gives_way_to_no_contact_at_seven_days_one_alert_at_a_time() {
    let w = World::new().await;
    w.log("t", "lead", SENT_WHATSAPP, 4 * DAY).await;
    w.evaluate().await;
    assert_eq!(w.kinds("t").await, one("lead", "NoReply3d"));
    assert_eq!(
        w.open("t").await[0].message,
        "Le lead n'a pas répondu depuis 4 jours. Peut-être essayer un appel ?"
    );

    let summary = w.travel_and_evaluate("3 days").await;
    assert_eq!(w.kinds("t").await, one("lead", "NoContact7d"));
    assert_eq!(summary.auto_resolved.get("NoReply3d"), Some(&1));
    assert_eq!(summary.raised.get("NoContact7d"), Some(&1));
    assert_eq!(
        w.resolution("t", "lead", "NoReply3d").await.as_deref(),
        Some("auto")
    );
}

#[tokio::test]
async fn a_failed_delivery_is_raised_at_once_and_cleared_by_a_delivery() {
    let w = World::new().await;
    w.log("t", "lead", SENT_WHATSAPP, 10 * MINUTE).await;
    w.log("t", "lead", ("whatsapp", "out", "failed"), 9 * MINUTE)
        .await;
    // A failure followed by a successful message is no failure.
    w.log("t", "fixed", ("sms", "out", "failed"), 9 * MINUTE)
        .await;
    w.log("t", "fixed", ("sms", "out", "delivered"), 5 * MINUTE)
        .await;
    w.evaluate().await;
    let open = w.open("t").await;
    assert_eq!(open.len(), 1, "{open:?}");
    assert_eq!(open[0].kind, "DeliveryFailed");
    assert_eq!(open[0].severity, "high");
    assert_eq!(
        open[0].message,
        "Le dernier message WhatsApp n'a pas été délivré"
    );
    assert_eq!(
        open[0].message_en.as_deref(),
        Some("The last WhatsApp message was not delivered")
    );

    w.log("t", "lead", ("whatsapp", "out", "delivered"), 0)
        .await;
    assert_eq!(w.open("t").await, vec![]);
    assert_eq!(
        w.resolution("t", "lead", "DeliveryFailed").await.as_deref(),
        Some("auto")
    );
}

#[tokio::test]
async fn the_most_actionable_rule_wins_when_several_hold() {
    let w = World::new().await;
    // The lead wrote 5 hours ago; our last message before that had failed; no contact for 9 days.
    w.log("t", "lead", SENT_EMAIL, 9 * DAY).await;
    w.log("t", "lead", ("whatsapp", "out", "failed"), 6 * HOUR)
        .await;
    w.log("t", "lead", RECEIVED_WHATSAPP, 5 * HOUR).await;
    // No inbound: DeliveryFailed beats NoContact7d.
    w.log("t", "other", SENT_EMAIL, 9 * DAY).await;
    w.log("t", "other", ("sms", "out", "failed"), HOUR).await;
    w.evaluate().await;
    let mut expected = one("lead", "UnansweredInbound");
    expected.extend(one("other", "DeliveryFailed"));
    assert_eq!(w.kinds("t").await, expected);
}

#[tokio::test]
async fn the_priority_of_the_rules_is_the_order_they_are_listed_in() {
    let w = World::new().await;
    // Both NoContact7d and NoReply3d hold: our last message, 8 days ago, got no reply.
    w.log("t", "lead", SENT_EMAIL, 8 * DAY).await;
    let reversed: Vec<&rules::Rule> = rules::ALL.into_iter().rev().collect();
    Evaluator::new(&reversed).pass(&w.db, &on(1)).await.unwrap();
    assert_eq!(w.kinds("t").await, one("lead", "NoReply3d"));

    // In the declared order, NoContact7d comes first: the next pass puts it in NoReply3d's place.
    w.test.travel("1 minute").await;
    w.owner_sql("UPDATE max_lead_states SET next_check_at = now()")
        .await;
    Evaluator::new(&rules::ALL)
        .pass(&w.db, &on(1))
        .await
        .unwrap();
    assert_eq!(w.kinds("t").await, one("lead", "NoContact7d"));
    assert_eq!(
        w.resolution("t", "lead", "NoReply3d").await.as_deref(),
        Some("auto")
    );
}

#[tokio::test]
async fn tenants_can_change_thresholds_severities_and_turn_rules_off() {
    let w = World::new().await;
    for tenant in ["strict", "default"] {
        w.log(tenant, "lead", SENT_EMAIL, 3 * DAY + HOUR).await;
    }
    w.set_rule(
        "strict",
        "NoContact7d",
        RuleChange {
            threshold: Some(Duration::from_secs(2 * DAY as u64)),
            severity: Some(Severity::Low),
            ..RuleChange::default()
        },
    )
    .await;
    w.evaluate().await;
    let strict = w.open("strict").await;
    assert_eq!(
        (strict[0].kind.as_str(), strict[0].severity.as_str()),
        ("NoContact7d", "low")
    );
    assert_eq!(w.kinds("default").await, one("lead", "NoReply3d"));

    // Turning the rule off resolves its alert at the next pass; the next rule takes over.
    w.set_rule(
        "strict",
        "NoContact7d",
        RuleChange {
            enabled: Some(false),
            ..RuleChange::default()
        },
    )
    .await;
    w.set_rule(
        "strict",
        "NoReply3d",
        RuleChange {
            enabled: Some(false),
            ..RuleChange::default()
        },
    )
    .await;
    w.evaluate().await;
    assert_eq!(w.open("strict").await, vec![]);
    assert_eq!(
        w.resolution("strict", "lead", "NoContact7d")
            .await
            .as_deref(),
        Some("auto")
    );
    assert_eq!(w.kinds("default").await, one("lead", "NoReply3d"));

    let mut owner = w.test.owner().await;
    let rules = admin::rules(&mut owner, &TenantId::parse("strict").unwrap())
        .await
        .unwrap();
    let no_contact = rules.iter().find(|r| r.rule == "NoContact7d").unwrap();
    assert!(!no_contact.enabled && no_contact.overridden);
    assert_eq!(
        (
            no_contact.threshold.as_secs() as i64,
            no_contact.severity.as_str()
        ),
        (2 * DAY, "low")
    );
    let defaults = admin::rules(&mut owner, &TenantId::parse("default").unwrap())
        .await
        .unwrap();
    assert!(defaults.iter().all(|r| r.enabled && !r.overridden));
}

#[tokio::test]
async fn a_person_s_resolution_holds_until_the_situation_changes_or_the_period_passes_again() {
    let w = World::new().await;
    w.log("t", "lead", SENT_EMAIL, 8 * DAY).await;
    w.log("t", "other", SENT_EMAIL, 8 * DAY).await;
    w.evaluate().await;
    assert_eq!(w.open("t").await.len(), 2);
    w.resolve_by_hand("t", "lead").await;
    w.resolve_by_hand("t", "other").await;

    w.evaluate().await;
    assert_eq!(
        w.open("t").await,
        vec![],
        "resolved by hand: not raised again"
    );
    w.travel_and_evaluate("6 days").await;
    assert_eq!(
        w.open("t").await,
        vec![],
        "the rule's period has not passed again"
    );

    // The situation changes for one lead: it wrote, we answered; then quiet for 7 days again.
    w.log("t", "other", ("email", "in", "received"), MINUTE)
        .await;
    w.log("t", "other", SENT_EMAIL, 0).await;
    let summary = w.travel_and_evaluate("1 day + 1 hour").await;
    assert_eq!(
        w.kinds("t").await,
        one("lead", "NoContact7d"),
        "{summary:?}"
    );
    assert_eq!(
        w.open("t").await[0].message,
        "Aucun contact depuis 15 jours",
        "the period passed again"
    );
    w.travel_and_evaluate("6 days").await;
    let mut both = one("lead", "NoContact7d");
    both.extend(one("other", "NoContact7d"));
    assert_eq!(w.kinds("t").await, both);
}

#[tokio::test]
async fn a_failed_delivery_resolved_by_hand_returns_only_with_a_new_failure() {
    let w = World::new().await;
    w.log("t", "lead", ("sms", "out", "failed"), HOUR).await;
    w.evaluate().await;
    w.resolve_by_hand("t", "lead").await;
    w.travel_and_evaluate("10 days").await;
    assert!(
        w.kinds("t")
            .await
            .iter()
            .all(|(_, kind)| kind != "DeliveryFailed")
    );
    w.log("t", "lead", ("sms", "out", "failed"), 0).await;
    w.evaluate().await;
    assert!(
        w.kinds("t")
            .await
            .contains(&("lead".into(), "DeliveryFailed".into()))
    );
}

#[tokio::test]
async fn high_alerts_left_open_for_24_hours_are_escalated() {
    let w = World::new().await;
    w.log("t", "urgent", RECEIVED_WHATSAPP, 5 * HOUR).await;
    w.log("t", "calm", SENT_EMAIL, 3 * DAY + HOUR).await;
    w.evaluate().await;
    let summary = w.travel_and_evaluate("23 hours").await;
    assert!(summary.escalated.is_empty());
    assert!(w.open("t").await.iter().all(|o| !o.escalated));

    let summary = w.travel_and_evaluate("2 hours").await;
    assert_eq!(summary.escalated.get("UnansweredInbound"), Some(&1));
    let open = w.open("t").await;
    let urgent = open.iter().find(|o| o.lead == "urgent").unwrap();
    assert!(urgent.escalated);
    assert_eq!(
        urgent.message,
        "Le lead a écrit il y a 1 jour, sans réponse"
    );
    assert!(
        !open.iter().find(|o| o.lead == "calm").unwrap().escalated,
        "medium is never escalated"
    );

    let tenant = TenantId::parse("t").unwrap();
    let page = alerts::list_active(
        &w.db,
        &TenantScope::Verified(&tenant),
        &ListQuery::default(),
    )
    .await
    .unwrap();
    assert_eq!(page.stats.escalated, 1);
    let alerts = page.alerts().unwrap();
    assert!(alerts[0].escalated && alerts[0].escalated_at.is_some());
}

#[tokio::test]
async fn every_transition_of_an_alert_is_in_its_history_whoever_made_it() {
    let w = World::new().await;
    w.log("t", "urgent", RECEIVED_WHATSAPP, 5 * HOUR).await;
    w.evaluate().await;
    // A day later: reworded ("il y a 1 jour") and escalated, in one pass.
    w.travel_and_evaluate("1 day").await;
    let tenant = TenantId::parse("t").unwrap();
    let scope = TenantScope::Verified(&tenant);
    let id = alerts::list_active(&w.db, &scope, &ListQuery::default())
        .await
        .unwrap()
        .alerts()
        .unwrap()[0]
        .id;
    let comment = shared::alerts::Comment::parse("Je la rappelle ce matin").unwrap();
    let row = alerts::acknowledge(&w.db, &scope, id, "user:sophie", Some(&comment))
        .await
        .unwrap()
        .unwrap();
    let alert = row.alert().unwrap();
    assert_eq!(alert.acknowledged_by, Some("user:sophie"));
    assert_eq!(alert.acknowledgement, Some("Je la rappelle ce matin"));
    assert!(alert.resolved_at.is_none(), "acknowledging keeps it active");
    // Acknowledging again changes nothing; answering the lead resolves it automatically.
    let again = alerts::acknowledge(&w.db, &scope, id, "user:marc", None)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(again.alert().unwrap().acknowledged_by, Some("user:sophie"));
    w.log("t", "urgent", SENT_WHATSAPP, 0).await;
    w.evaluate().await;

    let (alert, history) = alerts::with_history(&w.db, &scope, id)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(alert.alert().unwrap().resolution, Some("auto"));
    let events: Vec<_> = history.iter().map(|e| e.event().unwrap()).collect();
    let summary: Vec<_> = events
        .iter()
        .map(|e| (e.kind, e.actor, e.comment, e.resolution))
        .collect();
    assert_eq!(
        summary,
        [
            ("raised", None, None, None),
            ("reworded", None, None, None),
            ("escalated", None, None, None),
            (
                "acknowledged",
                Some("user:sophie"),
                Some("Je la rappelle ce matin"),
                None
            ),
            ("resolved", None, None, Some("auto")),
        ]
    );
    assert_eq!(
        events[0].message,
        "Le lead a écrit il y a 5 heures, sans réponse"
    );
    assert_eq!(
        events[1].message,
        "Le lead a écrit il y a 1 jour, sans réponse"
    );
    assert!(events.windows(2).all(|pair| pair[0].at <= pair[1].at));
    // Another tenant sees neither the alert nor its history.
    let other = TenantId::parse("u").unwrap();
    assert!(
        alerts::with_history(&w.db, &TenantScope::Verified(&other), id)
            .await
            .unwrap()
            .is_none()
    );
}

#[tokio::test]
async fn a_snoozed_alert_comes_back_by_itself_and_is_still_resolved_by_an_answer() {
    let w = World::new().await;
    w.log("t", "later", SENT_EMAIL, 7 * DAY + HOUR).await;
    w.log("t", "asks", RECEIVED_WHATSAPP, 5 * HOUR).await;
    w.evaluate().await;
    let tenant = TenantId::parse("t").unwrap();
    let scope = TenantScope::Verified(&tenant);
    let listed = || async {
        let page = alerts::list_active(&w.db, &scope, &ListQuery::default())
            .await
            .unwrap();
        let leads: Vec<String> = page
            .alerts()
            .unwrap()
            .iter()
            .map(|a| a.lead_id.to_owned())
            .collect();
        (leads, page.stats.total, page.stats.snoozed)
    };
    let ids: Vec<_> = alerts::list_active(&w.db, &scope, &ListQuery::default())
        .await
        .unwrap()
        .alerts()
        .unwrap()
        .iter()
        .map(|a| (a.lead_id.to_owned(), a.id))
        .collect();
    let id_of = |lead: &str| ids.iter().find(|(l, _)| l == lead).unwrap().1;
    let now = OffsetDateTime::now_utc();
    for lead in ["later", "asks"] {
        let end = alerts::SnoozeEnd::after(Duration::from_secs(2 * 3600), now).unwrap();
        alerts::snooze(&w.db, &scope, id_of(lead), "user:sophie", end)
            .await
            .unwrap()
            .unwrap();
    }
    assert_eq!(listed().await, (vec![], 0, 2));

    // Answering the lead resolves its snoozed alert as any other.
    w.log("t", "asks", SENT_WHATSAPP, 0).await;
    assert_eq!(listed().await, (vec![], 0, 1));
    // Three hours later the other is back, before any pass; the pass records when it woke.
    w.test.travel("3 hours").await;
    assert_eq!(listed().await, (vec!["later".to_owned()], 1, 0));
    let summary = w.evaluate().await;
    assert_eq!(summary.woken.get("NoContact7d"), Some(&1));
    let (_, history) = alerts::with_history(&w.db, &scope, id_of("later"))
        .await
        .unwrap()
        .unwrap();
    let events: Vec<_> = history.iter().map(|e| e.event().unwrap()).collect();
    let kinds: Vec<_> = events.iter().map(|e| (e.kind, e.actor)).collect();
    assert_eq!(
        kinds,
        [
            ("raised", None),
            ("snoozed", Some("user:sophie")),
            ("woken", None)
        ]
    );
    assert_eq!(
        events[2].at,
        events[1].until.unwrap(),
        "woken at the snooze's end"
    );
    assert_eq!(w.evaluate().await.woken.len(), 0);
}

#[tokio::test]
async fn messages_stay_true_as_days_pass() {
    let w = World::new().await;
    w.log("t", "lead", SENT_EMAIL, 7 * DAY + HOUR).await;
    w.evaluate().await;
    let before = w.open("t").await;
    assert_eq!(before[0].message, "Aucun contact depuis 7 jours");
    assert_eq!(
        before[0].message_en.as_deref(),
        Some("No contact for 7 days")
    );
    let summary = w.travel_and_evaluate("1 day").await;
    assert_eq!(summary.refreshed.get("NoContact7d"), Some(&1));
    assert_eq!(w.open("t").await[0].message, "Aucun contact depuis 8 jours");
    assert_eq!(
        w.open("t").await[0].message_en.as_deref(),
        Some("No contact for 8 days"),
        "both languages change wording together"
    );
    assert_eq!(w.open("t").await.len(), 1, "the same alert, reworded");
}

#[tokio::test]
async fn a_second_pass_changes_nothing_and_evaluates_no_lead() {
    let w = World::new().await;
    for i in 0..20 {
        w.log("t", &format!("lead-{i}"), SENT_EMAIL, (i % 10) * DAY)
            .await;
    }
    let first = w.evaluate().await;
    assert_eq!(first.leads_evaluated, 20);
    assert!(first.changed_anything());
    let second = w.evaluate().await;
    assert_eq!(second.leads_evaluated, 0);
    assert!(!second.changed_anything(), "{second:?}");
}

#[tokio::test]
async fn two_passes_at_once_raise_each_alert_once_without_error() {
    let w = World::new().await;
    let owner = w.test.owner().await;
    // Many leads, written in bulk: the summary follows any insert path.
    owner
        .batch_execute(
            "INSERT INTO lead_activities (tenant_id, lead_id, channel, direction, status, occurred_at)
             SELECT 't' || (i % 3), 'lead-' || i, 'email', 'out', 'sent', now() - interval '8 days'
               FROM generate_series(1, 600) AS i",
        )
        .await
        .unwrap();
    let (evaluator, settings) = (Evaluator::default(), on(2));
    let (a, b) = tokio::join!(
        evaluator.pass(&w.db, &settings),
        evaluator.pass(&w.db, &settings)
    );
    let (a, b) = (a.unwrap(), b.unwrap());
    let raised = a.raised.values().sum::<u64>() + b.raised.values().sum::<u64>();
    assert_eq!(raised, 600, "{a:?} {b:?}");
    let open: i64 = owner
        .query_one(
            "SELECT count(*) FROM max_alerts WHERE resolved_at IS NULL AND type = 'NoContact7d'",
            &[],
        )
        .await
        .unwrap()
        .get(0);
    assert_eq!(open, 600);
    // And again, both at once, with nothing left to do.
    let (evaluator, settings) = (Evaluator::default(), on(2));
    let (a, b) = tokio::join!(
        evaluator.pass(&w.db, &settings),
        evaluator.pass(&w.db, &settings)
    );
    assert!(!a.unwrap().changed_anything() && !b.unwrap().changed_anything());
}

#[tokio::test]
async fn a_pass_that_finds_another_at_work_is_skipped_and_changes_nothing() {
    let w = World::new().await;
    w.log("t", "lead-1", SENT_EMAIL, 8 * DAY).await;
    // Another pass's first worker, in the middle of a batch.
    let mut other = w.test.owner().await;
    let other = other.transaction().await.unwrap();
    other
        .execute("SELECT pg_advisory_xact_lock($1)", &[&evaluator::PASS_LOCK])
        .await
        .unwrap();
    let summary = w.evaluate().await;
    assert!(summary.skipped, "{summary:?}");
    assert_eq!(summary.leads_evaluated, 0);
    assert!(!summary.changed_anything());
    other.rollback().await.unwrap();
    let summary = w.evaluate().await;
    assert!(!summary.skipped);
    assert_eq!(summary.raised.get("NoContact7d"), Some(&1));
}

#[tokio::test]
async fn a_pass_of_several_batches_shares_them_between_its_workers_and_counts_each_lead_once() {
    let w = World::new().await;
    // More workers than the default, and more than the batches left after the first one.
    let workers = 3;
    assert!(workers > EvaluatorSettings::default().workers && workers <= w.db.max_connections());
    let owner = w.test.owner().await;
    let leads = 2 * evaluator::BATCH_SIZE + 500;
    owner
        .execute(
            "INSERT INTO lead_activities (tenant_id, lead_id, channel, direction, status, occurred_at)
             SELECT 't' || (i % 7), 'lead-' || i, 'email', 'out', 'sent', now() - interval '8 days'
               FROM generate_series(1, $1::int8) AS i",
            &[&leads],
        )
        .await
        .unwrap();
    let summary = Evaluator::default()
        .pass(&w.db, &on(workers))
        .await
        .unwrap();
    assert_eq!(summary.leads_evaluated, leads as u64);
    assert_eq!(summary.raised.get("NoContact7d"), Some(&(leads as u64)));
    let row = owner
        .query_one(
            "SELECT (SELECT count(*) FROM max_alerts WHERE resolved_at IS NULL),
                    (SELECT sum(high + medium + low)::int8 FROM max_alert_counters),
                    (SELECT count(*) FROM max_lead_states WHERE next_check_at <= now())",
            &[],
        )
        .await
        .unwrap();
    let (open, counted, due): (i64, i64, i64) = (row.get(0), row.get(1), row.get(2));
    assert_eq!((open, counted, due), (leads, leads, 0));
}

#[tokio::test]
async fn a_batch_that_could_not_reschedule_some_of_its_leads_does_not_end_the_pass_early() {
    let w = World::new().await;
    let owner = w.test.owner().await;
    let leads = 2 * evaluator::BATCH_SIZE + 500;
    owner
        .execute(
            "INSERT INTO lead_activities (tenant_id, lead_id, channel, direction, status, occurred_at)
             SELECT 't', 'lead-' || i, 'email', 'out', 'sent', now() - interval '8 days'
               FROM generate_series(1, $1::int8) AS i",
            &[&leads],
        )
        .await
        .unwrap();
    // Leads a batch locks but cannot reschedule, as when another worker updated the row (still
    // due) after the batch's snapshot: here a trigger drops the update of one lead in a thousand.
    owner
        .batch_execute(
            "CREATE FUNCTION keep_due() RETURNS trigger LANGUAGE plpgsql AS $$
             BEGIN
                 IF NEW.lead_id LIKE '%000' THEN RETURN NULL; END IF;
                 RETURN NEW;
             END $$;
             CREATE TRIGGER keep_due BEFORE UPDATE ON max_lead_states
                FOR EACH ROW EXECUTE FUNCTION keep_due();",
        )
        .await
        .unwrap();
    let stuck = leads / 1000;
    let summary = Evaluator::default().pass(&w.db, &on(2)).await.unwrap();
    // The first batch came back short of rescheduled leads; the pass went on all the same, and
    // only the leads it could not reschedule are still due.
    let due: i64 = owner
        .query_one(
            "SELECT count(*) FROM max_lead_states WHERE next_check_at <= now()",
            &[],
        )
        .await
        .unwrap()
        .get(0);
    assert_eq!(due, stuck);
    assert!(
        summary.leads_evaluated >= (leads - stuck) as u64,
        "{summary:?}"
    );
    assert_eq!(summary.raised.get("NoContact7d"), Some(&(leads as u64)));
}

#[tokio::test]
async fn one_tenant_s_activities_never_raise_or_resolve_another_s_alerts() {
    let w = World::new().await;
    w.log("a", "same-lead", SENT_EMAIL, 8 * DAY).await;
    w.evaluate().await;
    assert_eq!(w.kinds("a").await, one("same-lead", "NoContact7d"));
    // Tenant b contacts a lead with the same id: a's alert stays.
    w.log("b", "same-lead", SENT_EMAIL, 0).await;
    w.evaluate().await;
    assert_eq!(w.kinds("a").await, one("same-lead", "NoContact7d"));
    assert_eq!(w.kinds("b").await, vec![]);
}

#[tokio::test]
async fn the_seed_manual_alert_and_foreign_alert_types_are_left_alone() {
    let w = World::new().await;
    let owner = w.test.owner().await;
    owner.batch_execute(SEED_INSERT).await.unwrap();
    w.log("t", "known", SENT_EMAIL, HOUR).await;
    owner
        .batch_execute(
            "INSERT INTO max_alerts (tenant_id, lead_id, type, severity, message)
             VALUES ('t', 'known', 'HotLead', 'high', 'Lead chaud')",
        )
        .await
        .unwrap();
    w.evaluate().await;
    w.travel_and_evaluate("25 hours").await;
    let seed = &w.open("macrea").await[0];
    assert_eq!(
        (seed.lead.as_str(), seed.message.as_str()),
        ("test_prod_alert", "Test alerte production")
    );
    // Its type is a rule's, so it escalates like any high alert of that rule.
    assert!(seed.escalated);
    let foreign = w
        .open("t")
        .await
        .into_iter()
        .find(|o| o.kind == "HotLead")
        .expect("the HotLead alert is still open");
    assert!(!foreign.escalated, "types no rule owns are never touched");
}

#[tokio::test]
async fn a_pass_with_nothing_due_reads_an_empty_index_range() {
    let w = World::new().await;
    let owner = w.test.owner().await;
    owner
        .batch_execute(
            "INSERT INTO lead_activities (tenant_id, lead_id, channel, direction, status, occurred_at)
             SELECT 't', 'lead-' || i, 'email', 'out', 'sent', now() - interval '1 day'
               FROM generate_series(1, 2000) AS i",
        )
        .await
        .unwrap();
    w.evaluate().await;
    // Statistics as autovacuum keeps them: every lead is due later.
    owner
        .batch_execute("ANALYZE max_lead_states")
        .await
        .unwrap();
    let evaluator = Evaluator::default();
    let plan: serde_json::Value = owner
        .query_one(
            &format!("EXPLAIN (ANALYZE, FORMAT JSON) {}", evaluator.statement()),
            &[&evaluator::BATCH_SIZE, &evaluator.rule_names()],
        )
        .await
        .unwrap()
        .get(0);
    let text = plan.to_string();
    assert!(text.contains("max_lead_states_due"), "{text}");
    // No table is read in full: nothing is due, so no scan of leads or alerts runs at all.
    fn full_scans(node: &serde_json::Value, found: &mut Vec<String>) {
        if node["Node Type"] == "Seq Scan" && node["Actual Loops"].as_u64().unwrap_or(0) > 0 {
            found.push(node["Relation Name"].as_str().unwrap_or("?").to_owned());
        }
        for child in node["Plans"].as_array().into_iter().flatten() {
            full_scans(child, found);
        }
    }
    let mut found = Vec::new();
    full_scans(&plan[0]["Plan"], &mut found);
    assert!(
        found.iter().all(|table| table == "max_alert_rule_defaults"),
        "a no-op pass scanned {found:?}"
    );
}
