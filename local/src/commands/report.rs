//! `report`: the client's post-deployment figures for a tenant and a period (raised, resolved,
//! time to resolution, share within 24 hours, widget adoption), from the same roll-ups as
//! `GET /api/alerts/metrics` (`shared::metrics`); and `time-zone`, the zone of a tenant's days.

use shared::admin;
use shared::config::Config;
use shared::db::Db;
use shared::metrics::{self, Figures, Metrics, PeriodQuery, PeriodRefused, Waits};
use shared::parse::{Day, Parse};
use shared::tenancy::TenantScope;

use super::{Error, migrate, tenant_arg};

/// A day as an operator writes it.
fn day_arg(text: Option<&str>, name: &str) -> Result<Option<shared::time::Date>, Error> {
    text.map(|text| {
        Day::parse(text)
            .map(|day| day.0)
            .map_err(|why| Error::new(format!("--{name} {why}")))
    })
    .transpose()
}

pub async fn run(
    tenant: &str,
    from: Option<&str>,
    to: Option<&str>,
    json: bool,
    config: &Config,
) -> Result<(), Error> {
    let tenant = tenant_arg(tenant)?;
    let query = PeriodQuery {
        from: day_arg(from, "from")?,
        to: day_arg(to, "to")?,
    };
    let url = migrate(config, false).await?;
    let db = Db::connect_lazily(admin::parse_url(&url)?, &config.pool, "max-local")
        .map_err(|error| Error::new(error.to_string()))?;
    let scope = TenantScope::Verified(&tenant);
    let failed = |error: shared::db::DbError| Error::new(error.to_string());
    let (zone, today) = metrics::tenant_today(&db, &scope).await.map_err(failed)?;
    let (from, to) = query.period(today).map_err(|refused| {
        Error::new(match refused {
            PeriodRefused::Reversed => "--from must not be after --to".to_owned(),
            PeriodRefused::TooLong => {
                format!("the period must be at most {} days", metrics::MAX_DAYS)
            }
        })
    })?;
    let metrics = metrics::read(&db, &scope, zone, from, to)
        .await
        .map_err(failed)?;
    if json {
        println!(
            "{}",
            serde_json::to_string_pretty(&metrics).map_err(|e| Error::new(e.to_string()))?
        );
    } else {
        print!("{}", render(tenant.as_str(), &metrics));
    }
    Ok(())
}

/// The report, as text.
pub fn render(tenant: &str, metrics: &Metrics) -> String {
    let mut out = String::new();
    let mut line = |text: String| {
        out.push_str(&text);
        out.push('\n');
    };
    let t = &metrics.totals;
    line(format!(
        "Alerts of tenant {tenant}, {} to {} ({} days)",
        metrics.from, metrics.to, metrics.time_zone
    ));
    line(String::new());
    line(format!("Raised:                  {}", t.raised));
    line(format!(
        "Resolved:                {} ({} by a person, {} automatically)",
        t.resolved_manually + t.resolved_automatically,
        t.resolved_manually,
        t.resolved_automatically
    ));
    line(format!("Still open at the end:   {}", t.open_at_end));
    line(format!("Escalated:               {}", t.escalated));
    line(format!("Acknowledged:            {}", t.acknowledged));
    line(format!(
        "Time to resolve:         {}",
        waits(t.time_to_resolve.as_ref())
    ));
    line(format!(
        "Time to acknowledge:     {}",
        waits(t.time_to_acknowledge.as_ref())
    ));
    line(format!(
        "Resolved within 24 h:    {} ({} of the {} raised)",
        share(t),
        t.resolved_within_24h,
        t.raised
    ));
    let active_days: Vec<i64> = metrics
        .days
        .iter()
        .map(|d| d.widget_users)
        .filter(|u| *u > 0)
        .collect();
    let average = if active_days.is_empty() {
        0.0
    } else {
        active_days.iter().sum::<i64>() as f64 / metrics.days.len() as f64
    };
    line(format!(
        "Widget users:            {} over the period, {average:.1} a day on average{}",
        metrics.widget_users,
        if metrics.widget_users > 0 {
            format!(
                " ({:.0} % of them)",
                100.0 * average / metrics.widget_users as f64
            )
        } else {
            String::new()
        }
    ));
    line(String::new());
    line(format!(
        "{:<12}{:>8}{:>8}{:>8}{:>8}{:>12}{:>20}{:>14}",
        "day",
        "raised",
        "manual",
        "auto",
        "open",
        "within 24h",
        "median to resolve",
        "widget users"
    ));
    for day in &metrics.days {
        let f = &day.figures;
        line(format!(
            "{:<12}{:>8}{:>8}{:>8}{:>8}{:>12}{:>20}{:>14}",
            day.day.to_string(),
            f.raised,
            f.resolved_manually,
            f.resolved_automatically,
            f.open_at_end,
            share(f),
            f.time_to_resolve
                .map_or("-".to_owned(), |w| duration(w.median_seconds)),
            day.widget_users
        ));
    }
    let group = |line: &mut dyn FnMut(String), name: &str, figures: &Figures| {
        line(format!(
            "{name:<20}{:>8}{:>8}{:>8}{:>8}{:>12}{:>20}",
            figures.raised,
            figures.resolved_manually,
            figures.resolved_automatically,
            figures.open_at_end,
            share(figures),
            figures
                .time_to_resolve
                .map_or("-".to_owned(), |w| duration(w.median_seconds)),
        ));
    };
    line(String::new());
    line(format!(
        "{:<20}{:>8}{:>8}{:>8}{:>8}{:>12}{:>20}",
        "rule", "raised", "manual", "auto", "open", "within 24h", "median to resolve"
    ));
    for rule in &metrics.by_rule {
        group(&mut line, &rule.kind, &rule.figures);
    }
    line(String::new());
    line(format!(
        "{:<20}{:>8}{:>8}{:>8}{:>8}{:>12}{:>20}",
        "severity", "raised", "manual", "auto", "open", "within 24h", "median to resolve"
    ));
    for severity in &metrics.by_severity {
        group(&mut line, &severity.severity, &severity.figures);
    }
    out
}

fn share(figures: &Figures) -> String {
    figures
        .resolved_within_24h_share
        .map_or("-".to_owned(), |share| format!("{:.0} %", share * 100.0))
}

fn waits(waits: Option<&Waits>) -> String {
    waits.map_or("none in the period".to_owned(), |w| {
        format!(
            "mean {}, median {}, 90th percentile {}",
            duration(w.mean_seconds),
            duration(w.median_seconds),
            duration(w.p90_seconds)
        )
    })
}

/// A waiting time, to the two largest units: `45 s`, `12 min`, `2 h 10 min`, `3 d 4 h`.
fn duration(seconds: i64) -> String {
    let (d, h, m, s) = (
        seconds / 86_400,
        seconds % 86_400 / 3600,
        seconds % 3600 / 60,
        seconds % 60,
    );
    match (d, h, m) {
        (0, 0, 0) => format!("{s} s"),
        (0, 0, _) => format!("{m} min"),
        (0, _, 0) => format!("{h} h"),
        (0, _, _) => format!("{h} h {m} min"),
        (_, 0, _) => format!("{d} d"),
        _ => format!("{d} d {h} h"),
    }
}

/// Shows a tenant's time zone, or sets it (an IANA name, such as Europe/Paris).
pub async fn time_zone(tenant: &str, zone: Option<&str>, config: &Config) -> Result<(), Error> {
    let tenant = tenant_arg(tenant)?;
    let url = migrate(config, false).await?;
    let client = admin::connect(&url).await?;
    let row = match zone {
        Some(zone) => client
            .query_opt(
                "UPDATE max_tenants SET time_zone = $2 WHERE id = $1 RETURNING time_zone",
                &[&tenant.as_str(), &zone.trim()],
            )
            .await
            .map_err(|error| match error.code() {
                Some(code) if code.code() == "22023" => Error::new(format!(
                    "unknown time zone {zone:?}: use an IANA name such as Europe/Paris"
                )),
                _ => Error::new(error.to_string()),
            })?,
        None => client
            .query_opt(
                "SELECT time_zone FROM max_tenants WHERE id = $1",
                &[&tenant.as_str()],
            )
            .await
            .map_err(|error| Error::new(error.to_string()))?,
    };
    let row = row.ok_or_else(|| Error::new(format!("no tenant {tenant}")))?;
    let zone: String = row.get(0);
    println!("Tenant {tenant} counts its days in {zone}.");
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn waiting_times_read_in_their_two_largest_units() {
        assert_eq!(duration(45), "45 s");
        assert_eq!(duration(12 * 60 + 5), "12 min");
        assert_eq!(duration(2 * 3600), "2 h");
        assert_eq!(duration(2 * 3600 + 10 * 60), "2 h 10 min");
        assert_eq!(duration(3 * 86_400 + 4 * 3600 + 60), "3 d 4 h");
        assert_eq!(duration(86_400 + 60), "1 d");
    }
}
