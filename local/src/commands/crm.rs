//! `crm sync|status` and `lead`: a tenant's lead directory and its sync from EspoCRM
//! (docs/leads.md).

use shared::admin;
use shared::config::Config;
use shared::crm::connection::Connections;
use shared::crm::sync::{Settings, sync_tenant};
use shared::db::Db;
use shared::leads::LeadId;
use shared::leads::directory;
use shared::parse::Parse;
use shared::tenancy::{TenantId, TenantScope};

use super::{Error, migrate, tenant_arg};
use crate::cli::CrmCommand;

async fn tenant_db(config: &Config, tenant: &str) -> Result<(Db, TenantId), Error> {
    let url = migrate(config, false).await?;
    let tenant = tenant_arg(tenant)?;
    let mut client = admin::connect(&url).await?;
    admin::ensure_tenant(&mut client, &tenant, tenant.as_str()).await?;
    let db = Db::connect_lazily(admin::parse_url(&url)?, &config.pool, "max-local")
        .map_err(|error| Error::new(error.to_string()))?;
    Ok((db, tenant))
}

pub async fn run(command: CrmCommand, config: &Config) -> Result<(), Error> {
    match command {
        CrmCommand::Sync { tenant, full } => {
            let (db, tenant) = tenant_db(config, &tenant).await?;
            let connection = Connections::from_env()
                .of(&tenant)
                .await
                .map_err(|error| Error::new(error.to_string()))?
                .ok_or_else(|| {
                    Error::new(format!(
                        "no EspoCRM connection for tenant {tenant}: set ESPO_URL and \
                         ESPO_API_KEY, or CRM_SECRETS_FILE (docs/leads.md)"
                    ))
                })?;
            let report = sync_tenant(&db, &tenant, &connection, &Settings::default(), full, true)
                .await
                .map_err(|error| Error::new(error.to_string()))?;
            println!(
                "{} sync of tenant {tenant}: {}; {} leads read, {} written, {} removed, {} \
                 numbers skipped, {} retries.",
                if report.full { "Full" } else { "Incremental" },
                report.outcome,
                report.leads_read,
                report.leads_written,
                report.leads_removed,
                report.phones_skipped,
                report.retries,
            );
            println!(
                "{}",
                serde_json::to_string(&report).map_err(|error| Error::new(error.to_string()))?
            );
            if report.outcome != "ok" {
                return Err(Error::new(format!(
                    "the sync stopped: {} (the directory keeps what it had)",
                    report.outcome
                )));
            }
        }
        CrmCommand::Status { tenant } => {
            let url = migrate(config, false).await?;
            let tenant = tenant_arg(&tenant)?;
            let client = admin::connect(&url).await?;
            // The tenant's rows, under Row Level Security as any login sees them.
            client
                .execute(
                    "SELECT set_config('app.tenant_id', $1, false)",
                    &[&tenant.as_str()],
                )
                .await
                .map_err(|error| Error::new(error.to_string()))?;
            let rows = client
                .query(
                    "SELECT cursor_at::text, full_at::text, last_run_at::text, last_outcome, \
                            last_ok_at::text, failures, retry_after::text, leads_read, \
                            leads_written, leads_removed, phones_skipped, \
                            (SELECT count(*) FROM max_leads WHERE tenant_id = $1 \
                                AND source = 'espocrm' AND removed_at IS NULL) \
                       FROM max_crm_syncs WHERE tenant_id = $1",
                    &[&tenant.as_str()],
                )
                .await
                .map_err(|error| Error::new(error.to_string()))?;
            let Some(row) = rows.first() else {
                println!("Tenant {tenant} has never been synced from a CRM.");
                return Ok(());
            };
            let text = |n: usize| {
                row.get::<_, Option<String>>(n)
                    .unwrap_or_else(|| "-".into())
            };
            println!("Leads from the CRM: {}", row.get::<_, i64>(11));
            println!("Last run: {} ({})", text(2), text(3));
            println!("Last success: {}; last full pass: {}", text(4), text(1));
            println!("Modified since (next run): {}", text(0));
            println!(
                "Last run read {}, wrote {}, removed {}, skipped {} numbers",
                row.get::<_, i32>(7),
                row.get::<_, i32>(8),
                row.get::<_, i32>(9),
                row.get::<_, i32>(10)
            );
            let failures: i32 = row.get(5);
            if failures > 0 {
                println!(
                    "Failed runs in a row: {failures}; the schedule waits until {}",
                    text(6)
                );
            }
        }
    }
    Ok(())
}

pub async fn lead(tenant: &str, id: &str, config: &Config) -> Result<(), Error> {
    let (db, tenant) = tenant_db(config, tenant).await?;
    let id = LeadId::parse(id).map_err(|invalid| Error::new(format!("the lead id {invalid}")))?;
    let entry = directory::get(&db, &TenantScope::Verified(&tenant), &id)
        .await
        .map_err(|error| Error::new(error.to_string()))?;
    match entry {
        Some(entry) => println!(
            "{}",
            serde_json::to_string_pretty(&entry).map_err(|error| Error::new(error.to_string()))?
        ),
        None => {
            return Err(Error::new(format!(
                "tenant {tenant} knows no lead {id}: neither the directory nor an activity names it",
                id = id.as_str()
            )));
        }
    }
    Ok(())
}
