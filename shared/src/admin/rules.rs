//! A tenant's rule settings: the defaults of each rule (`crate::rules`), or the tenant's own.

use std::time::Duration;

use tokio_postgres::Client;

use super::{AdminError, in_tenant};
use crate::alerts::Severity;
use crate::rules;
use crate::tenancy::TenantId;

/// A rule as it applies to a tenant: its default, or the tenant's override.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RuleSetting {
    pub rule: String,
    pub enabled: bool,
    pub threshold: Duration,
    pub severity: String,
    /// Whether the tenant overrides any of the defaults.
    pub overridden: bool,
    pub description: String,
}

/// A change to one rule for one tenant; `None` leaves a setting as it is.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RuleChange {
    pub enabled: Option<bool>,
    pub threshold: Option<Duration>,
    pub severity: Option<Severity>,
}

/// The effective rule settings of a tenant, in priority order.
pub async fn rules(client: &mut Client, tenant: &TenantId) -> Result<Vec<RuleSetting>, AdminError> {
    let names = rules::names(&rules::ALL);
    in_tenant(client, tenant, async |tx| {
        let rows = tx
            .query(
                "SELECT d.rule, coalesce(o.enabled, d.enabled),
                        extract(epoch FROM coalesce(o.threshold, d.threshold))::bigint,
                        coalesce(o.severity, d.severity), o.rule IS NOT NULL, d.description
                   FROM max_alert_rule_defaults d
                   LEFT JOIN max_alert_rules o ON o.tenant_id = $1 AND o.rule = d.rule
                  WHERE d.rule = ANY ($2)
                  ORDER BY array_position($2, d.rule)",
                &[&tenant.as_str(), &names],
            )
            .await?;
        Ok(rows
            .iter()
            .map(|row| RuleSetting {
                rule: row.get(0),
                enabled: row.get(1),
                threshold: Duration::from_secs(row.get::<_, i64>(2).max(0) as u64),
                severity: row.get(3),
                overridden: row.get(4),
                description: row.get(5),
            })
            .collect())
    })
    .await
}

/// Changes one rule for a tenant (`reset`: back to the defaults), and has the evaluator look at
/// every lead of the tenant again at its next pass.
pub async fn set_rule(
    client: &mut Client,
    tenant: &TenantId,
    rule: &str,
    change: &RuleChange,
    reset: bool,
) -> Result<(), AdminError> {
    if rules::find(rule).is_none() {
        return Err(AdminError::new(format!(
            "unknown rule {rule:?}: use {}",
            rules::listed()
        )));
    }
    let threshold_seconds = change
        .threshold
        .map(|threshold| i64::try_from(threshold.as_secs()))
        .transpose()
        .map_err(|_| AdminError::new("the threshold is too long"))?;
    let severity = change.severity.map(Severity::as_str);
    in_tenant(client, tenant, async |tx| {
        if reset {
            tx.execute(
                "DELETE FROM max_alert_rules WHERE tenant_id = $1 AND rule = $2",
                &[&tenant.as_str(), &rule],
            )
            .await?;
        }
        if change != &RuleChange::default() {
            tx.execute(
                "INSERT INTO max_alert_rules AS r (tenant_id, rule, enabled, threshold, severity)
                 VALUES ($1, $2, $3, make_interval(secs => $4::bigint), $5)
                 ON CONFLICT (tenant_id, rule) DO UPDATE SET
                     enabled = coalesce(excluded.enabled, r.enabled),
                     threshold = coalesce(excluded.threshold, r.threshold),
                     severity = coalesce(excluded.severity, r.severity),
                     updated_at = now()",
                &[
                    &tenant.as_str(),
                    &rule,
                    &change.enabled,
                    &threshold_seconds,
                    &severity,
                ],
            )
            .await?;
        }
        tx.execute(
            "UPDATE max_lead_states SET next_check_at = now() WHERE tenant_id = $1",
            &[&tenant.as_str()],
        )
        .await?;
        Ok(())
    })
    .await
}
