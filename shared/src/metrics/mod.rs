//! The alerts' metrics of a tenant for a period of its days ([`read`]): per day, per rule, per
//! severity and in all, the alerts raised, escalated, acknowledged, resolved by a person and
//! automatically, still open at the end, how long they waited to be acknowledged and resolved
//! (mean, median, 90th percentile), the share resolved within 24 hours; and the widget's adoption
//! (the users who opened it each day, and over the period). What the client's checklist asks to
//! watch after going live, read off the daily roll-ups the database keeps as alerts change
//! (migrations/V13), never off the history. [`visits`] records the widget's users.

pub mod visits;

use std::collections::BTreeMap;

use serde::Serialize;
use time::Date;
use tokio_postgres::Row;
use tokio_postgres::types::Type;

use crate::db::{Access, Db, DbError, Stmt};
use crate::rules;
use crate::tenancy::TenantScope;

/// The period when none is asked for: the last 30 days, today included.
pub const DEFAULT_DAYS: i64 = 30;
/// The longest period answered.
pub const MAX_DAYS: i64 = 366;

/// The period asked for: tenant's days, both included; either end may be left to its default.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct PeriodQuery {
    pub from: Option<Date>,
    pub to: Option<Date>,
}

/// Why a period is refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PeriodRefused {
    /// `from` is after `to`.
    Reversed,
    /// More than [`MAX_DAYS`].
    TooLong,
}

impl PeriodQuery {
    /// The period, given the tenant's today: `to` is today unless given, `from` 29 days before
    /// `to` unless given.
    pub fn period(&self, today: Date) -> Result<(Date, Date), PeriodRefused> {
        let to = self.to.unwrap_or(today);
        let from = self
            .from
            .unwrap_or_else(|| to.saturating_sub(time::Duration::days(DEFAULT_DAYS - 1)));
        if from > to {
            Err(PeriodRefused::Reversed)
        } else if (to - from).whole_days() >= MAX_DAYS {
            Err(PeriodRefused::TooLong)
        } else {
            Ok((from, to))
        }
    }
}

/// A tenant's time zone and its today.
pub const TENANT_TODAY: &str = "SELECT zone, (now() AT TIME ZONE zone)::date \
     FROM max_tenant_time_zone($1) AS zone";

/// The roll-up rows of a period (`$2` to `$3`): a few per day (one per rule and severity).
pub const DAYS: &str = "SELECT day, type, severity, raised, escalated, acknowledged, \
     resolved_manual, resolved_auto, resolved_within_24h, opened, acknowledge_seconds, \
     resolve_seconds, acknowledge_times, resolve_times \
     FROM max_alert_days WHERE tenant_id = $1 AND day BETWEEN $2 AND $3";

/// The alerts open before the period (`$2`), by rule, by severity and in all (`GROUPING`: 5, 6
/// and 7, as [`Group::of`] reads them).
pub const OPEN_BEFORE: &str = "SELECT NULL::date, type, severity, \
     GROUPING(type, severity)::int4 | 4, coalesce(sum(opened), 0)::int8 \
     FROM max_alert_days WHERE tenant_id = $1 AND day < $2 \
     GROUP BY GROUPING SETS ((type), (severity), ())";

/// Buckets of waiting times per doubling (migrations/V13, `max_time_bucket`): bucket b counts
/// the times from 2^(b/8) to 2^((b+1)/8) seconds.
pub const BUCKETS_PER_DOUBLING: f64 = 8.0;

/// The `q` quantile of a histogram of waiting times, in seconds: the bucket where it falls,
/// interpolated inside it; `None` for an empty histogram.
pub fn quantile(counts: &[i64], q: f64) -> Option<f64> {
    let total: i64 = counts.iter().sum();
    if total == 0 {
        return None;
    }
    let target = q * total as f64;
    let mut before = 0.0;
    for (bucket, &n) in counts.iter().enumerate().filter(|(_, n)| **n > 0) {
        let upto = before + n as f64;
        if upto >= target {
            let within = (target - before) / n as f64;
            return Some(2f64.powf((bucket as f64 + within) / BUCKETS_PER_DOUBLING));
        }
        before = upto;
    }
    None
}

/// The users who opened the widget, each day and over the period.
pub const WIDGET_USERS: &str = "SELECT day, count(DISTINCT user_id) FROM max_widget_visits \
     WHERE tenant_id = $1 AND day BETWEEN $2 AND $3 GROUP BY GROUPING SETS ((day), ())";

/// How long alerts waited, in whole seconds.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Waits {
    pub mean_seconds: i64,
    /// To within 10 % (read from the roll-ups' buckets).
    pub median_seconds: i64,
    pub p90_seconds: i64,
}

/// What happened to a set of alerts (a day's, a rule's, a severity's, all) in the period.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Figures {
    pub raised: i64,
    pub escalated: i64,
    pub acknowledged: i64,
    pub resolved_manually: i64,
    pub resolved_automatically: i64,
    /// Unresolved at the end (of the day, or of the period).
    pub open_at_end: i64,
    /// Of the alerts raised, those resolved within 24 hours of being raised.
    pub resolved_within_24h: i64,
    /// `resolved_within_24h / raised`; `None` when none was raised.
    pub resolved_within_24h_share: Option<f64>,
    /// From raised to acknowledged, for the acknowledgements of the period.
    pub time_to_acknowledge: Option<Waits>,
    /// From raised to resolved, for the resolutions of the period.
    pub time_to_resolve: Option<Waits>,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct DayFigures {
    #[serde(serialize_with = "iso_date")]
    pub day: Date,
    #[serde(flatten)]
    pub figures: Figures,
    /// The users who opened the widget that day.
    pub widget_users: i64,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct RuleFigures {
    #[serde(rename = "type")]
    pub kind: String,
    #[serde(flatten)]
    pub figures: Figures,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct SeverityFigures {
    pub severity: String,
    #[serde(flatten)]
    pub figures: Figures,
}

/// A tenant's metrics for a period.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Metrics {
    #[serde(serialize_with = "iso_date")]
    pub from: Date,
    #[serde(serialize_with = "iso_date")]
    pub to: Date,
    /// The zone of the tenant's days.
    pub time_zone: String,
    pub totals: Figures,
    /// Every day of the period, oldest first.
    pub days: Vec<DayFigures>,
    /// Every rule, in priority order (then any other alert type seen).
    pub by_rule: Vec<RuleFigures>,
    /// high, medium, low.
    pub by_severity: Vec<SeverityFigures>,
    /// The distinct users who opened the widget in the period.
    pub widget_users: i64,
}

fn iso_date<S: serde::Serializer>(date: &Date, serializer: S) -> Result<S::Ok, S::Error> {
    serializer.collect_str(date)
}

/// A tenant's today and time zone.
pub async fn tenant_today(db: &Db, scope: &TenantScope<'_>) -> Result<(String, Date), DbError> {
    let tenant = scope.tenant().as_str();
    let results = db
        .run(
            scope,
            Access::ReadOnlySnapshot,
            &[Stmt {
                sql: TENANT_TODAY,
                params: &[(&tenant, Type::TEXT)],
            }],
        )
        .await?;
    let row = results
        .into_iter()
        .next()
        .and_then(|rows| rows.into_iter().next())
        .ok_or(DbError::Unexpected("no time zone"))?;
    Ok((row.try_get(0)?, row.try_get(1)?))
}

/// The groups figures are given for.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
enum Group {
    Day(Date),
    Rule(String),
    Severity(String),
    All,
}

impl Group {
    /// Reads the grouping columns (day, type, severity, GROUPING()) at the start of a row of
    /// [`OPEN_BEFORE`].
    fn of(row: &Row) -> Result<Self, DbError> {
        Ok(match row.try_get::<_, i32>(3)? {
            5 => Group::Rule(row.try_get(1)?),
            6 => Group::Severity(row.try_get(2)?),
            _ => Group::All,
        })
    }
}

/// The sums of one group, before they become [`Figures`].
#[derive(Debug, Default)]
struct Sums {
    figures: Figures,
    opened: i64,
    acknowledge_seconds: f64,
    resolve_seconds: f64,
    acknowledge_times: Vec<i64>,
    resolve_times: Vec<i64>,
}

/// Adds a histogram to another.
fn add_counts(sum: &mut Vec<i64>, counts: &[i32]) {
    if sum.len() < counts.len() {
        sum.resize(counts.len(), 0);
    }
    for (sum, n) in sum.iter_mut().zip(counts) {
        *sum += i64::from(*n);
    }
}

impl Sums {
    /// Adds a row of [`DAYS`].
    fn add(&mut self, row: &Row) -> Result<(), DbError> {
        let count = |index: usize| row.try_get::<_, i32>(index).map(i64::from);
        let f = &mut self.figures;
        f.raised += count(3)?;
        f.escalated += count(4)?;
        f.acknowledged += count(5)?;
        f.resolved_manually += count(6)?;
        f.resolved_automatically += count(7)?;
        f.resolved_within_24h += count(8)?;
        self.opened += count(9)?;
        self.acknowledge_seconds += row.try_get::<_, f64>(10)?;
        self.resolve_seconds += row.try_get::<_, f64>(11)?;
        add_counts(
            &mut self.acknowledge_times,
            &row.try_get::<_, Vec<i32>>(12)?,
        );
        add_counts(&mut self.resolve_times, &row.try_get::<_, Vec<i32>>(13)?);
        Ok(())
    }

    fn figures(&self, open_at_end: i64) -> Figures {
        let waits = |count: i64, seconds: f64, times: &[i64]| {
            (count > 0).then(|| Waits {
                mean_seconds: (seconds / count as f64).round() as i64,
                median_seconds: quantile(times, 0.5).unwrap_or_default().round() as i64,
                p90_seconds: quantile(times, 0.9).unwrap_or_default().round() as i64,
            })
        };
        let f = &self.figures;
        let resolved = f.resolved_manually + f.resolved_automatically;
        Figures {
            open_at_end,
            resolved_within_24h_share: (f.raised > 0)
                .then(|| f.resolved_within_24h as f64 / f.raised as f64),
            time_to_acknowledge: waits(
                f.acknowledged,
                self.acknowledge_seconds,
                &self.acknowledge_times,
            ),
            time_to_resolve: waits(resolved, self.resolve_seconds, &self.resolve_times),
            ..*f
        }
    }
}

/// Reads a tenant's metrics for the period `from` to `to` (its days, both included), all in one
/// snapshot.
pub async fn read(
    db: &Db,
    scope: &TenantScope<'_>,
    time_zone: String,
    from: Date,
    to: Date,
) -> Result<Metrics, DbError> {
    let tenant = scope.tenant().as_str();
    let period: [(&(dyn tokio_postgres::types::ToSql + Sync), Type); 3] = [
        (&tenant, Type::TEXT),
        (&from, Type::DATE),
        (&to, Type::DATE),
    ];
    let results = db
        .run(
            scope,
            Access::ReadOnlySnapshot,
            &[
                Stmt {
                    sql: DAYS,
                    params: &period,
                },
                Stmt {
                    sql: OPEN_BEFORE,
                    params: &period[..2],
                },
                Stmt {
                    sql: WIDGET_USERS,
                    params: &period,
                },
            ],
        )
        .await?;
    let [days, open_before, widget_users]: [Vec<Row>; 3] = results
        .try_into()
        .map_err(|_| DbError::Unexpected("not three results"))?;

    // Each row counts for its day, its rule, its severity and the totals.
    let mut sums: BTreeMap<Group, Sums> = BTreeMap::new();
    for row in &days {
        for group in [
            Group::Day(row.try_get(0)?),
            Group::Rule(row.try_get(1)?),
            Group::Severity(row.try_get(2)?),
            Group::All,
        ] {
            sums.entry(group).or_default().add(row)?;
        }
    }
    let mut before: BTreeMap<Group, i64> = BTreeMap::new();
    for row in &open_before {
        before.insert(Group::of(row)?, row.try_get(4)?);
    }
    let mut users: BTreeMap<Option<Date>, i64> = BTreeMap::new();
    for row in &widget_users {
        users.insert(row.try_get(0)?, row.try_get(1)?);
    }

    let empty = Sums::default();
    let open_at_end = |group: &Group| {
        before.get(group).copied().unwrap_or_default()
            + sums.get(group).map_or(0, |sums| sums.opened)
    };
    let mut open = before.get(&Group::All).copied().unwrap_or_default();
    let days = std::iter::successors(Some(from), |day| day.next_day().filter(|d| *d <= to))
        .map(|day| {
            let group = Group::Day(day);
            let sums = sums.get(&group).unwrap_or(&empty);
            open += sums.opened;
            DayFigures {
                day,
                figures: sums.figures(open),
                widget_users: users.get(&Some(day)).copied().unwrap_or_default(),
            }
        })
        .collect();

    let mut rule_names: Vec<String> = rules::ALL.iter().map(|r| r.name.to_owned()).collect();
    for group in sums.keys().chain(before.keys()) {
        if let Group::Rule(name) = group
            && !rule_names.contains(name)
        {
            rule_names.push(name.clone());
        }
    }
    let by_rule = rule_names
        .into_iter()
        .map(|kind| {
            let group = Group::Rule(kind);
            let figures = sums
                .get(&group)
                .unwrap_or(&empty)
                .figures(open_at_end(&group));
            let Group::Rule(kind) = group else {
                unreachable!()
            };
            RuleFigures { kind, figures }
        })
        .collect();
    let by_severity = <crate::alerts::Severity as strum::VariantNames>::VARIANTS
        .iter()
        .map(|severity| {
            let group = Group::Severity((*severity).to_owned());
            SeverityFigures {
                severity: (*severity).to_owned(),
                figures: sums
                    .get(&group)
                    .unwrap_or(&empty)
                    .figures(open_at_end(&group)),
            }
        })
        .collect();
    Ok(Metrics {
        from,
        to,
        time_zone,
        totals: sums
            .get(&Group::All)
            .unwrap_or(&empty)
            .figures(open_at_end(&Group::All)),
        days,
        by_rule,
        by_severity,
        widget_users: users.get(&None).copied().unwrap_or_default(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use time::macros::date;

    #[test]
    fn a_quantile_falls_in_its_bucket_interpolated_inside_it() {
        assert_eq!(quantile(&[], 0.5), None);
        assert_eq!(quantile(&[0, 0], 0.5), None);
        // One time in bucket 86 (1782 to 1885 s: 30 minutes): the middle of the bucket.
        let mut one = vec![0; 87];
        one[86] = 1;
        let median = quantile(&one, 0.5).unwrap();
        assert!((1782.0..1885.0).contains(&median), "{median}");
        // 9 short ones and 1 long: the median among the short, the 90th percentile too, the 95th
        // in the long one's bucket.
        let mut counts = vec![0; 131];
        counts[40] = 9;
        counts[130] = 1;
        let bucket = |b: f64| 2f64.powf(b / 8.0);
        assert!(quantile(&counts, 0.5).unwrap() < bucket(41.0));
        assert!(quantile(&counts, 0.9).unwrap() <= bucket(41.0));
        assert!(quantile(&counts, 0.95).unwrap() >= bucket(130.0));
    }

    #[test]
    fn a_period_defaults_to_the_last_30_days_and_is_bounded() {
        let today = date!(2026 - 12 - 06);
        assert_eq!(
            PeriodQuery::default().period(today),
            Ok((date!(2026 - 11 - 07), today))
        );
        let to = Some(date!(2026 - 11 - 30));
        assert_eq!(
            PeriodQuery { from: None, to }.period(today),
            Ok((date!(2026 - 11 - 01), date!(2026 - 11 - 30)))
        );
        let from = Some(date!(2026 - 12 - 01));
        assert_eq!(
            PeriodQuery { from, to: None }.period(today),
            Ok((date!(2026 - 12 - 01), today))
        );
        assert_eq!(
            PeriodQuery { from, to }.period(today),
            Err(PeriodRefused::Reversed)
        );
        let from = Some(date!(2025 - 11 - 30));
        assert_eq!(
            PeriodQuery { from, to }.period(today),
            Ok((date!(2025 - 11 - 30), date!(2026 - 11 - 30)))
        );
        let from = Some(date!(2025 - 11 - 29));
        assert_eq!(
            PeriodQuery { from, to }.period(today),
            Err(PeriodRefused::TooLong)
        );
    }
}
