//! `whatsapp ...`: a tenant's Green-API webhook token, its leads' numbers, and the messages of
//! numbers no lead has yet (docs/whatsapp.md).

use shared::admin::{self, Existing};
use shared::config::Config;
use shared::leads::{LeadId, LeadName, Phone};
use shared::parse::Parse;
use shared::tenancy::{EVENTS_FIXTURE_INSTANCE, EVENTS_FIXTURE_WEBHOOK_TOKEN, WebhookToken};
use shared::whatsapp::InstanceId;

use super::{Error, migrate, tenant_arg};
use crate::cli::WhatsappCommand;

pub async fn run(command: WhatsappCommand, config: &Config) -> Result<(), Error> {
    let url = migrate(config, false).await?;
    let mut client = admin::connect(&url).await?;
    match command {
        WhatsappCommand::CreateToken {
            tenant,
            instance,
            events_fixture,
        } => {
            let tenant = tenant_arg(&tenant)?;
            if events_fixture {
                let token = WebhookToken::parse(EVENTS_FIXTURE_WEBHOOK_TOKEN)
                    .expect("the events fixture token parses");
                if token.tenant() != &tenant {
                    return Err(Error::new(format!(
                        "the events fixture token belongs to tenant {}",
                        token.tenant()
                    )));
                }
                admin::ensure_tenant(&mut client, &tenant, tenant.as_str()).await?;
                let instance = InstanceId(EVENTS_FIXTURE_INSTANCE);
                admin::register_webhook_token(&mut client, &token, instance, Existing::Revoke)
                    .await?;
                println!(
                    "Registered the events fixture webhook token for tenant {tenant}, Green-API \
                     instance {} (local use only).",
                    instance.0
                );
                println!("{EVENTS_FIXTURE_WEBHOOK_TOKEN}");
                return Ok(());
            }
            let instance = instance_arg(instance)?;
            let (token, info) =
                admin::create_webhook_token(&mut client, &tenant, instance, Existing::Refuse)
                    .await?;
            print_new(&info, "Created");
            println!("{token}");
        }
        WhatsappCommand::RotateToken { tenant, instance } => {
            let tenant = tenant_arg(&tenant)?;
            let instance = instance_arg(Some(instance))?;
            let (token, info) =
                admin::create_webhook_token(&mut client, &tenant, instance, Existing::Revoke)
                    .await?;
            print_new(&info, "Rotated: the previous token is revoked; created");
            println!("{token}");
        }
        WhatsappCommand::RevokeToken { tenant, instance } => {
            let tenant = tenant_arg(&tenant)?;
            let instance = instance.map(|id| instance_arg(Some(id))).transpose()?;
            let revoked = admin::revoke_webhook_tokens(&mut client, &tenant, instance).await?;
            if revoked.is_empty() {
                return Err(Error::new(format!(
                    "tenant {tenant} has no live webhook token{}",
                    instance.map_or(String::new(), |id| format!(" for instance {}", id.0))
                )));
            }
            for info in revoked {
                println!(
                    "Revoked webhook token {} of tenant {} (instance {})",
                    info.prefix, info.tenant, info.instance
                );
            }
        }
        WhatsappCommand::ListTokens { tenant } => {
            let tenant = tenant_arg(&tenant)?;
            let tokens = admin::list_webhook_tokens(&mut client, &tenant).await?;
            if tokens.is_empty() {
                println!("Tenant {tenant} has no webhook tokens.");
            }
            for token in tokens {
                println!(
                    "{}  instance {}  created {}  {}",
                    token.prefix,
                    token.instance,
                    token.created_at.date(),
                    token
                        .revoked_at
                        .map_or("active".to_owned(), |at| format!("revoked {}", at.date())),
                );
            }
        }
        WhatsappCommand::MapPhone {
            tenant,
            phone,
            lead,
            name,
        } => {
            let tenant = tenant_arg(&tenant)?;
            let phone = Phone::parse(&phone)
                .map_err(|invalid| Error::new(format!("the phone number {invalid}")))?;
            let lead = LeadId::parse(&lead)
                .map_err(|invalid| Error::new(format!("the lead id {invalid}")))?;
            let name = name
                .as_deref()
                .map(<Option<LeadName>>::parse)
                .transpose()
                .map_err(|invalid| Error::new(format!("the name {invalid}")))?
                .flatten();
            let joined =
                admin::map_phone(&mut client, &tenant, &phone, &lead, name.as_ref()).await?;
            println!(
                "{phone} is lead {lead} of tenant {tenant}; {joined} unmatched message{} joined it.",
                if joined == 1 { "" } else { "s" }
            );
        }
        WhatsappCommand::Unmatched { tenant } => {
            let tenant = tenant_arg(&tenant)?;
            let numbers = admin::unmatched(&mut client, &tenant).await?;
            if numbers.is_empty() {
                println!("Tenant {tenant} has no unmatched WhatsApp messages.");
            }
            for number in numbers {
                println!(
                    "{}  {}  {} message{}  first {}  last {}",
                    number.phone,
                    number.sender_name.as_deref().unwrap_or("-"),
                    number.messages,
                    if number.messages == 1 { "" } else { "s" },
                    number.first_at,
                    number.last_at,
                );
            }
        }
    }
    Ok(())
}

fn instance_arg(instance: Option<i64>) -> Result<InstanceId, Error> {
    match instance {
        Some(id) if id > 0 => Ok(InstanceId(id)),
        Some(id) => Err(Error::new(format!(
            "invalid Green-API instance {id}: use its idInstance, such as 1101000001"
        ))),
        None => Err(Error::new(
            "--instance is required: the Green-API instance's idInstance",
        )),
    }
}

fn print_new(info: &admin::WebhookTokenInfo, what: &str) {
    println!(
        "{what} webhook token {} for tenant {}, Green-API instance {} (shown once; set it as the \
         instance's webhookUrlToken now):",
        info.prefix, info.tenant, info.instance
    );
}
