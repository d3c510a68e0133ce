//! `rules`: a tenant's alert rules, and changing one.

use shared::admin::{self, RuleChange};
use shared::alerts::Severity;
use shared::config::Config;
use shared::parse::Parse;

use super::{Error, duration_arg, migrate, tenant_arg};
use crate::cli::RulesOptions;

fn change(options: &RulesOptions) -> Result<RuleChange, Error> {
    Ok(RuleChange {
        enabled: (options.enable || options.disable).then_some(options.enable),
        threshold: options
            .threshold
            .as_deref()
            .map(|text| duration_arg(text, "threshold"))
            .transpose()?,
        severity: options
            .severity
            .as_deref()
            .map(|text| {
                Severity::parse(text)
                    .map_err(|_| Error::new("severity must be high, medium or low"))
            })
            .transpose()?,
    })
}

pub async fn run(options: RulesOptions, config: &Config) -> Result<(), Error> {
    let change = change(&options)?;
    let url = migrate(config, false).await?;
    let tenant = tenant_arg(&options.tenant)?;
    let mut client = admin::connect(&url).await?;
    if let Some(rule) = &options.rule {
        admin::set_rule(&mut client, &tenant, rule, &change, options.reset).await?;
        println!(
            "Updated {rule} for tenant {tenant}; the evaluator looks at its leads again at its next pass."
        );
    }
    println!("Alert rules of tenant {tenant} (* = set for this tenant):");
    for setting in admin::rules(&mut client, &tenant).await? {
        println!(
            "  {} {:<18} {:<4} after {:<7} {:<7} {}",
            if setting.overridden { '*' } else { ' ' },
            setting.rule,
            if setting.enabled { "on" } else { "off" },
            humantime::format_duration(setting.threshold).to_string(),
            setting.severity,
            setting.description,
        );
    }
    Ok(())
}
