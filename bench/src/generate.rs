//! A reproducible (seeded) data set: many small tenants, one huge tenant with 10,000 open alerts
//! of its own and a tenth of all leads (whose alerts the evaluator raises: about 108,000 open
//! alerts at full scale once it has run), loaded with binary COPY in chunks (each chunk also
//! exercises the activity trigger, row by row).

use std::time::Instant;

use tokio_postgres::Client;
use tokio_postgres::binary_copy::BinaryCopyInWriter;
use tokio_postgres::types::{ToSql, Type};

use shared::time::{Duration, OffsetDateTime};

/// How much data a run loads.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
pub struct Scale {
    pub name: &'static str,
    pub tenants: usize,
    pub leads: usize,
    pub activities_per_lead: usize,
    /// Open alerts of the huge tenant (and of the tenant whose alerts are resolved).
    pub huge_open_alerts: usize,
    /// Open alerts of each small tenant.
    pub small_open_alerts: usize,
    /// Leads of the CRM tenant the lead directory's benchmark syncs from a fake EspoCRM.
    pub crm_leads: usize,
}

pub const TINY: Scale = Scale {
    name: "tiny",
    tenants: 4,
    leads: 2_000,
    activities_per_lead: 5,
    huge_open_alerts: 1_000,
    small_open_alerts: 10,
    crm_leads: 500,
};
pub const QUICK: Scale = Scale {
    name: "quick",
    tenants: 50,
    leads: 50_000,
    activities_per_lead: 5,
    huge_open_alerts: 10_000,
    small_open_alerts: 30,
    crm_leads: 20_000,
};
pub const FULL: Scale = Scale {
    name: "full",
    tenants: 1_000,
    leads: 1_000_000,
    activities_per_lead: 10,
    huge_open_alerts: 10_000,
    small_open_alerts: 30,
    crm_leads: 100_000,
};

/// The huge tenant, the small tenant the benchmarks read, and the tenant whose alerts the resolve
/// benchmark resolves.
pub const HUGE: &str = "huge";
pub const SMALL: &str = "t0001";
pub const RESOLVE: &str = "resolve";

/// SplitMix64: a tiny, seeded, reproducible generator (the data set, not security).
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Self {
        Self(seed)
    }

    pub fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    pub fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
}

/// The id of the resolve tenant's alert number `i` (pgbench computes the same:
/// `lpad(to_hex(i::int8), 32, '0')::uuid`).
pub fn resolve_id(i: usize) -> shared::uuid::Uuid {
    shared::uuid::Uuid::from_u128(i as u128)
}

/// The planner's statistics once the data set is loaded.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Statistics {
    /// `VACUUM ANALYZE` after the load: the statistics describe the data.
    Fresh,
    /// Nothing after the load: the tables keep the statistics of when they were created, empty
    /// (never analyzed), as after a large import that autovacuum has not caught up with yet.
    Stale,
}

/// What was loaded, and how long it took.
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
pub struct Loaded {
    pub activities: usize,
    pub alerts: usize,
    pub seconds: f64,
    pub rows_per_second: f64,
}

const CHUNK: usize = 50_000;
const CHANNELS: [&str; 4] = ["whatsapp", "email", "sms", "call"];

/// The number of the tenant of a generated lead: 0 for the huge tenant, which has a tenth of the
/// leads, the small tenants' own number for the rest, spread over them. pgbench computes the same
/// (`pgbench::whatsapp_script`).
pub fn tenant_number(lead: usize, scale: &Scale) -> usize {
    if lead.is_multiple_of(10) {
        0
    } else {
        1 + lead % (scale.tenants - 1)
    }
}

/// The id of tenant number `number` (see [`tenant_number`]).
pub fn tenant_name(number: usize) -> String {
    if number == 0 {
        HUGE.to_owned()
    } else {
        format!("t{number:04}")
    }
}

fn tenant_of(lead: usize, scale: &Scale) -> String {
    tenant_name(tenant_number(lead, scale))
}

/// Loads the activities and the open alerts of a scale into a migrated, empty database, then
/// compacts the lead summaries and runs `VACUUM ANALYZE` unless `statistics` is
/// [`Statistics::Stale`].
pub async fn load(
    client: &mut Client,
    scale: &Scale,
    statistics: Statistics,
) -> Result<Loaded, tokio_postgres::Error> {
    let started = Instant::now();
    let mut rng = Rng::new(0x4d41_5821);
    let now = OffsetDateTime::now_utc();
    let total = scale.leads * scale.activities_per_lead;
    let types = [
        Type::TEXT,
        Type::TEXT,
        Type::TEXT,
        Type::TEXT,
        Type::TEXT,
        Type::TEXT,
        Type::TIMESTAMPTZ,
    ];
    let mut written = 0;
    while written < total {
        let rows = CHUNK.min(total - written);
        let tx = client.transaction().await?;
        let sink = tx
            .copy_in(
                "COPY lead_activities (tenant_id, lead_id, channel, direction, status, message_snippet, occurred_at) \
                 FROM STDIN (FORMAT binary)",
            )
            .await?;
        let writer = BinaryCopyInWriter::new(sink, &types);
        futures_util::pin_mut!(writer);
        for row in written..written + rows {
            let lead = row / scale.activities_per_lead;
            let tenant = tenant_of(lead, scale);
            let lead_id = format!("lead-{lead}");
            let inbound = rng.below(3) == 0;
            let status = if inbound {
                "received"
            } else {
                ["sent", "delivered", "read", "failed"][(rng.below(20) as usize).min(3) % 4]
            };
            let channel = CHANNELS[rng.below(4) as usize];
            let snippet = format!("Message {row}");
            // Spread over the last 30 days.
            let at = now - Duration::seconds(rng.below(30 * 86_400) as i64);
            let values: [&(dyn ToSql + Sync); 7] = [
                &tenant,
                &lead_id,
                &channel,
                &if inbound { "in" } else { "out" },
                &status,
                &snippet,
                &at,
            ];
            writer.as_mut().write(&values).await?;
        }
        writer.finish().await?;
        tx.commit().await?;
        written += rows;
    }

    // Open alerts, on leads of their own (no activity: the evaluator leaves them as they are).
    let mut alerts = 0;
    let mut tenants: Vec<(String, usize)> = vec![
        (HUGE.to_owned(), scale.huge_open_alerts),
        (RESOLVE.to_owned(), scale.huge_open_alerts),
    ];
    tenants.extend((1..scale.tenants).map(|t| (format!("t{t:04}"), scale.small_open_alerts)));
    let alert_types = [
        Type::UUID,
        Type::TEXT,
        Type::TEXT,
        Type::TEXT,
        Type::TEXT,
        Type::TEXT,
        Type::TIMESTAMPTZ,
    ];
    let tx = client.transaction().await?;
    let sink = tx
        .copy_in(
            "COPY max_alerts (id, tenant_id, lead_id, type, severity, message, created_at) FROM STDIN (FORMAT binary)",
        )
        .await?;
    let writer = BinaryCopyInWriter::new(sink, &alert_types);
    futures_util::pin_mut!(writer);
    for (tenant, count) in &tenants {
        for i in 0..*count {
            let lead_id = format!("alert-lead-{i}");
            let kind = shared::rules::ALL[i % shared::rules::ALL.len()].name;
            let severity = ["high", "medium", "low"][rng.below(3) as usize];
            let at = now - Duration::seconds(rng.below(20 * 3600) as i64);
            let message = format!("Aucun contact depuis {} jours", 7 + i % 20);
            // The resolve benchmarks (HTTP and pgbench) name these alerts by number.
            let id = if tenant == RESOLVE {
                resolve_id(i)
            } else {
                shared::uuid::Uuid::from_u64_pair(rng.next(), rng.next())
            };
            let values: [&(dyn ToSql + Sync); 7] =
                [&id, tenant, &lead_id, &kind, &severity, &message, &at];
            writer.as_mut().write(&values).await?;
            alerts += 1;
        }
    }
    writer.finish().await?;
    tx.commit().await?;
    if statistics == Statistics::Fresh {
        // Every activity of the load updated its lead's summary, and autovacuum (off on the
        // benchmark's server, on in any production one) never reclaimed the old row versions:
        // the summaries would take seven times their size (1.3 GB for a million leads, 142 MB
        // compact), and a pass would read them scattered over it while the floor's copy of them
        // (`floor::copy_leads`) is compact. Compacted as autovacuum keeps them.
        client
            .batch_execute("VACUUM (FULL) max_lead_states")
            .await?;
        client.batch_execute("VACUUM ANALYZE").await?;
    }
    let seconds = started.elapsed().as_secs_f64();
    Ok(Loaded {
        activities: total,
        alerts,
        seconds,
        rows_per_second: (total + alerts) as f64 / seconds,
    })
}
