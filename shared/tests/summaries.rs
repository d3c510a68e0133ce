//! The leads' summaries (`max_lead_states`) that the activity insert trigger keeps: exact whatever
//! way activities arrive (one at a time, many per statement, by COPY, out of order, from several
//! connections at once for the same lead), and alerts cleared at ingest in the inserting
//! transaction itself.

use std::io::Cursor;

use futures_util::{SinkExt, pin_mut};
use shared::testing::TestDb;
use tokio_postgres::Client;

/// The summary columns, computed from scratch from every stored activity. `lead_name` is left
/// out: it is the name last logged, not the newest by `occurred_at`.
const RECOMPUTED: &str = "
    SELECT tenant_id, lead_id,
           min(occurred_at) AS first_seen_at,
           max(occurred_at) FILTER (WHERE direction = 'in') AS last_in_at,
           max(occurred_at) FILTER (WHERE direction = 'out' AND status IN ('sent', 'completed')) AS last_contact_at,
           (array_agg(channel ORDER BY occurred_at DESC)
               FILTER (WHERE direction = 'out' AND status IN ('sent', 'completed')))[1] AS last_contact_channel,
           max(occurred_at) FILTER (WHERE direction = 'in' OR status IN ('sent', 'completed')) AS last_touch_at,
           (array_agg(direction = 'in' ORDER BY occurred_at DESC)
               FILTER (WHERE direction = 'in' OR status IN ('sent', 'completed')))[1] AS last_touch_in,
           (array_agg(channel ORDER BY occurred_at DESC)
               FILTER (WHERE direction = 'in' OR status IN ('sent', 'completed')))[1] AS last_touch_channel,
           max(occurred_at) FILTER (WHERE direction = 'out' AND status <> 'missed') AS last_outcome_at,
           (array_agg(status = 'failed' ORDER BY occurred_at DESC)
               FILTER (WHERE direction = 'out' AND status <> 'missed'))[1] AS last_outcome_failed,
           (array_agg(channel ORDER BY occurred_at DESC)
               FILTER (WHERE direction = 'out' AND status <> 'missed'))[1] AS last_outcome_channel
      FROM lead_activities
     GROUP BY tenant_id, lead_id";

const KEPT: &str = "
    SELECT tenant_id, lead_id, first_seen_at, last_in_at, last_contact_at, last_contact_channel,
           last_touch_at, last_touch_in, last_touch_channel, last_outcome_at, last_outcome_failed,
           last_outcome_channel
      FROM max_lead_states";

/// Rows of the summaries that differ from their recomputation, either way (none when exact).
async fn differences(client: &Client) -> i64 {
    client
        .query_one(
            &format!(
                "SELECT count(*) FROM (({KEPT}) EXCEPT ({RECOMPUTED})
                                       UNION ALL
                                       ({RECOMPUTED}) EXCEPT ({KEPT})) AS d"
            ),
            &[],
        )
        .await
        .unwrap()
        .get(0)
}

/// The `n`th activity of a deterministic mix: two tenants, five leads, every channel, direction
/// and status the table allows on that direction, times spread over 30 days (each distinct, so
/// that "the newest" is never a tie) and given in no particular order.
fn activity(
    n: u32,
) -> (
    String,
    String,
    &'static str,
    &'static str,
    &'static str,
    i64,
) {
    const OUT: [&str; 6] = ["sent", "delivered", "read", "failed", "completed", "missed"];
    const IN: [&str; 2] = ["received", "missed"];
    const CHANNELS: [&str; 6] = ["whatsapp", "email", "sms", "call", "meeting", "other"];
    let mix = n.wrapping_mul(2_654_435_761) >> 7;
    let tenant = format!("tenant_{}", mix % 2);
    let lead = format!("lead_{}", (mix / 2) % 5);
    let channel = CHANNELS[(mix / 10 % 6) as usize];
    let (direction, status) = if (mix / 60).is_multiple_of(3) {
        ("in", IN[(mix / 180 % 2) as usize])
    } else {
        ("out", OUT[(mix / 180 % 6) as usize])
    };
    // Distinct minutes in the past, in an order unrelated to n.
    let minutes_ago = i64::from((n * 7_919) % 43_201);
    (tenant, lead, channel, direction, status, minutes_ago)
}

fn values(range: std::ops::Range<u32>) -> String {
    range
        .map(|n| {
            let (tenant, lead, channel, direction, status, ago) = activity(n);
            format!(
                "('{tenant}', '{lead}', '{channel}', '{direction}', '{status}', \
                 now() - interval '{ago} minutes')"
            )
        })
        .collect::<Vec<_>>()
        .join(", ")
}

const COLUMNS: &str = "tenant_id, lead_id, channel, direction, status, occurred_at";

#[tokio::test]
async fn summaries_stay_exact_one_by_one_in_batches_and_by_copy() {
    let test = TestDb::new().await;
    let client = test.owner().await;

    // One at a time.
    for n in 0..40 {
        client
            .batch_execute(&format!(
                "INSERT INTO lead_activities ({COLUMNS}) VALUES {}",
                values(n..n + 1)
            ))
            .await
            .unwrap();
    }
    assert_eq!(differences(&client).await, 0, "after single inserts");

    // Many per statement, several per lead, older and newer than what is known.
    for start in (40..400).step_by(90) {
        client
            .batch_execute(&format!(
                "INSERT INTO lead_activities ({COLUMNS}) VALUES {}",
                values(start..start + 90)
            ))
            .await
            .unwrap();
    }
    assert_eq!(differences(&client).await, 0, "after multi-row inserts");

    // Bulk loading with COPY, which takes literal timestamps: the server computes them first.
    let literal: Vec<String> = client
        .query(
            "SELECT (now() - make_interval(mins => m))::text FROM unnest($1::int[]) AS m",
            &[&(400..900)
                .map(|n| activity(n).5 as i32)
                .collect::<Vec<i32>>()],
        )
        .await
        .unwrap()
        .iter()
        .map(|row| row.get(0))
        .collect();
    let mut data = String::new();
    for (n, at) in (400..900).zip(&literal) {
        let (tenant, lead, channel, direction, status, _) = activity(n);
        data.push_str(&format!(
            "{tenant}\t{lead}\t{channel}\t{direction}\t{status}\t{at}\n"
        ));
    }
    let sink = client
        .copy_in::<_, Cursor<Vec<u8>>>(&format!("COPY lead_activities ({COLUMNS}) FROM STDIN"))
        .await
        .unwrap();
    pin_mut!(sink);
    sink.send(Cursor::new(data.into_bytes())).await.unwrap();
    assert_eq!(sink.finish().await.unwrap(), 500);
    assert_eq!(differences(&client).await, 0, "after COPY");

    let leads: i64 = client
        .query_one("SELECT count(*) FROM max_lead_states", &[])
        .await
        .unwrap()
        .get(0);
    assert_eq!(leads, 10, "two tenants of five leads each");
}

#[tokio::test]
async fn concurrent_logs_for_one_lead_keep_its_summary_exact() {
    let test = TestDb::new().await;
    let mut tasks = Vec::new();
    for worker in 0..8u32 {
        let url = test.url.clone();
        tasks.push(tokio::spawn(async move {
            let client = shared::admin::connect(&url).await.unwrap();
            for i in 0..25u32 {
                let n = worker * 25 + i;
                let (_, _, channel, direction, status, ago) = activity(n);
                client
                    .execute(
                        "INSERT INTO lead_activities (tenant_id, lead_id, channel, direction, status, occurred_at)
                         VALUES ('tenant_0', 'lead_0', $1::text, $2::text, $3::text,
                                 now() - make_interval(mins => $4))",
                        &[&channel, &direction, &status, &(ago as i32)],
                    )
                    .await
                    .unwrap();
            }
        }));
    }
    for task in tasks {
        task.await.unwrap();
    }
    let client = test.owner().await;
    assert_eq!(differences(&client).await, 0);
    let stored: i64 = client
        .query_one("SELECT count(*) FROM lead_activities", &[])
        .await
        .unwrap()
        .get(0);
    assert_eq!(stored, 200);
}

/// The leads whose alerts are open.
async fn open(client: &impl tokio_postgres::GenericClient) -> Vec<String> {
    client
        .query(
            "SELECT lead_id FROM max_alerts WHERE resolved_at IS NULL ORDER BY lead_id",
            &[],
        )
        .await
        .unwrap()
        .iter()
        .map(|row| row.get(0))
        .collect()
}

#[tokio::test]
async fn an_activity_clears_its_lead_s_alerts_in_the_inserting_transaction() {
    let test = TestDb::new().await;
    let mut client = test.owner().await;
    client
        .batch_execute(
            "INSERT INTO lead_activities (tenant_id, lead_id, channel, direction, status, occurred_at)
             VALUES ('tenant_0', 'lead_0', 'whatsapp', 'in', 'received', now() - interval '5 hours'),
                    ('tenant_0', 'lead_1', 'whatsapp', 'in', 'received', now() - interval '5 hours');
             INSERT INTO max_alerts (tenant_id, lead_id, type, severity, message)
             VALUES ('tenant_0', 'lead_0', 'UnansweredInbound', 'high', 'waiting'),
                    ('tenant_0', 'lead_1', 'UnansweredInbound', 'high', 'waiting');",
        )
        .await
        .unwrap();
    let tx = client.transaction().await.unwrap();
    tx.batch_execute(
        "INSERT INTO lead_activities (tenant_id, lead_id, channel, direction, status)
         VALUES ('tenant_0', 'lead_0', 'whatsapp', 'out', 'sent')",
    )
    .await
    .unwrap();
    assert_eq!(
        open(&tx).await,
        ["lead_1"],
        "cleared within the transaction"
    );
    tx.rollback().await.unwrap();
    assert_eq!(
        open(&client).await,
        ["lead_0", "lead_1"],
        "nothing is cleared when the activity is not stored"
    );
    // The counters follow what is open.
    let high: i64 = client
        .query_one(
            "SELECT high FROM max_alert_counters WHERE tenant_id = 'tenant_0'",
            &[],
        )
        .await
        .unwrap()
        .get(0);
    assert_eq!(high, 2);
}

/// Whether each lead's summary is marked as having had an alert, by lead.
async fn marked(client: &Client) -> Vec<(String, bool)> {
    client
        .query(
            "SELECT lead_id::text, alerted FROM max_lead_states ORDER BY lead_id",
            &[],
        )
        .await
        .unwrap()
        .iter()
        .map(|row| (row.get(0), row.get(1)))
        .collect()
}

#[tokio::test]
async fn an_alert_written_before_its_lead_s_first_activity_is_still_cleared_by_it() {
    let test = TestDb::new().await;
    let client = test.owner().await;
    // Written by hand (as the deployment checklist does): the lead has no summary to mark yet.
    client
        .batch_execute(
            "INSERT INTO max_alerts (tenant_id, lead_id, type, severity, message)
             VALUES ('tenant_0', 'lead_0', 'NoContact7d', 'high', 'never contacted');
             INSERT INTO lead_activities (tenant_id, lead_id, channel, direction, status)
             VALUES ('tenant_0', 'lead_0', 'call', 'out', 'completed');",
        )
        .await
        .unwrap();
    assert!(open(&client).await.is_empty(), "the first activity probes");
}

#[tokio::test]
async fn leads_are_marked_when_an_alert_is_written_and_only_marked_leads_are_probed() {
    let test = TestDb::new().await;
    let client = test.owner().await;
    client
        .batch_execute(
            "INSERT INTO lead_activities (tenant_id, lead_id, channel, direction, status, occurred_at)
             VALUES ('tenant_0', 'lead_0', 'whatsapp', 'in', 'received', now() - interval '5 hours'),
                    ('tenant_0', 'lead_1', 'whatsapp', 'in', 'received', now() - interval '5 hours');",
        )
        .await
        .unwrap();
    assert_eq!(
        marked(&client).await,
        [("lead_0".into(), false), ("lead_1".into(), false)]
    );
    // An alert written by anything but the evaluator marks its lead, in the same statement.
    client
        .batch_execute(
            "INSERT INTO max_alerts (tenant_id, lead_id, type, severity, message)
             VALUES ('tenant_0', 'lead_1', 'UnansweredInbound', 'high', 'waiting')",
        )
        .await
        .unwrap();
    assert_eq!(
        marked(&client).await,
        [("lead_0".into(), false), ("lead_1".into(), true)]
    );
    // The mark is what the activity trigger goes by: take it off, and the alert stays open; put
    // it back, and the next reply clears it.
    let reply = "INSERT INTO lead_activities (tenant_id, lead_id, channel, direction, status)
                 VALUES ('tenant_0', 'lead_1', 'whatsapp', 'out', 'sent')";
    client
        .batch_execute(&format!(
            "BEGIN; UPDATE max_lead_states SET alerted = false WHERE lead_id = 'lead_1'; {reply}; "
        ))
        .await
        .unwrap();
    assert_eq!(open(&client).await, ["lead_1"]);
    client.batch_execute("ROLLBACK").await.unwrap();
    client.batch_execute(reply).await.unwrap();
    assert!(open(&client).await.is_empty());
}
