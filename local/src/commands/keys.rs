//! `create-key`, `revoke-key`, `list-keys`: a tenant's API keys.

use shared::admin;
use shared::config::Config;
use shared::tenancy::{ApiKey, EVENTS_FIXTURE_KEY, Scope};

use super::{Error, migrate, tenant_arg};
use crate::cli::CreateKeyOptions;

fn scopes_arg(scopes: &[String]) -> Result<Vec<Scope>, Error> {
    if scopes.is_empty() {
        return Ok(Scope::ALL.to_vec());
    }
    scopes
        .iter()
        .map(|scope| {
            Scope::parse(scope.trim()).ok_or_else(|| {
                let known: Vec<&str> = Scope::ALL.iter().map(|scope| scope.as_str()).collect();
                Error::new(format!(
                    "unknown scope {scope:?}: use one or more of {}",
                    known.join(", ")
                ))
            })
        })
        .collect()
}

pub async fn create(options: CreateKeyOptions, config: &Config) -> Result<(), Error> {
    let url = migrate(config, false).await?;
    let mut client = admin::connect(&url).await?;
    if options.events_fixture {
        let key = ApiKey::parse(EVENTS_FIXTURE_KEY).expect("the events key parses");
        if key.tenant().as_str() != options.tenant {
            return Err(Error::new(format!(
                "the events fixture key belongs to tenant {}",
                key.tenant()
            )));
        }
        admin::ensure_tenant(&mut client, key.tenant(), key.tenant().as_str()).await?;
        match admin::register_key(&mut client, &key, &Scope::ALL, Some("events fixture")).await {
            Ok(_) => println!(
                "Registered the events fixture key for tenant {} (local use only).",
                options.tenant
            ),
            Err(error) if error.sqlstate() == Some("23505") => {
                println!("The events fixture key is already registered.");
            }
            Err(error) => return Err(error),
        }
        println!("{EVENTS_FIXTURE_KEY}");
        return Ok(());
    }
    let tenant = tenant_arg(&options.tenant)?;
    let scopes = scopes_arg(&options.scopes)?;
    let (key, info) =
        admin::create_key(&mut client, &tenant, &scopes, options.label.as_deref()).await?;
    println!(
        "Created key {} for tenant {} with scopes {} (shown once; store it now):",
        info.prefix,
        info.tenant,
        info.scopes.join(",")
    );
    println!("{key}");
    Ok(())
}

pub async fn revoke(key: &str, config: &Config) -> Result<(), Error> {
    let url = migrate(config, false).await?;
    let mut client = admin::connect(&url).await?;
    let revoked = admin::revoke_key(&mut client, key).await?;
    if revoked.is_empty() {
        return Err(Error::new(
            "no active key matches (unknown, already revoked, or an ambiguous prefix)",
        ));
    }
    for info in revoked {
        println!("Revoked key {} of tenant {}", info.prefix, info.tenant);
    }
    Ok(())
}

pub async fn list(tenant: &str, config: &Config) -> Result<(), Error> {
    let url = migrate(config, false).await?;
    let tenant = tenant_arg(tenant)?;
    let mut client = admin::connect(&url).await?;
    let keys = admin::list_keys(&mut client, &tenant).await?;
    if keys.is_empty() {
        println!("Tenant {tenant} has no keys.");
    }
    for key in keys {
        println!(
            "{}  {}  created {}  {}{}",
            key.prefix,
            key.scopes.join(","),
            key.created_at.date(),
            key.revoked_at
                .map_or("active".to_owned(), |at| format!("revoked {}", at.date())),
            key.label
                .map(|label| format!("  ({label})"))
                .unwrap_or_default(),
        );
    }
    Ok(())
}
