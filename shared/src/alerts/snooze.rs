//! Snoozing an alert: it leaves the active list and the counts until a time, then comes back by
//! itself; waking it brings it back sooner. Resolving it (by hand, or by an activity that clears
//! its condition) works as for any alert.

use std::time::Duration;

use time::OffsetDateTime;
use tokio_postgres::types::Type;
use uuid::Uuid;

use super::{AlertRow, change_one, write_one};
use crate::db::{Db, DbError};
use crate::parse::{self, Invalid, Parse};
use crate::tenancy::TenantScope;

/// The shortest snooze: a minute.
pub const MIN_SNOOZE: Duration = Duration::from_secs(60);
/// The longest snooze: 30 days (past that, an alert should be resolved, or its rule tuned).
pub const MAX_SNOOZE: Duration = Duration::from_secs(30 * 24 * 3600);

/// When a snooze ends: from one to 30 days ahead of the request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SnoozeEnd(OffsetDateTime);

/// Why a snooze end is refused (the HTTP layer names the field).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SnoozeRefused {
    TooSoon,
    TooFar,
}

impl SnoozeEnd {
    /// A snooze ending at `until`, judged at `now`.
    pub fn at(until: OffsetDateTime, now: OffsetDateTime) -> Result<Self, SnoozeRefused> {
        if until < now + MIN_SNOOZE {
            Err(SnoozeRefused::TooSoon)
        } else if until > now + MAX_SNOOZE {
            Err(SnoozeRefused::TooFar)
        } else {
            Ok(Self(until))
        }
    }

    /// A snooze of `length` from `now`.
    pub fn after(length: Duration, now: OffsetDateTime) -> Result<Self, SnoozeRefused> {
        if length > MAX_SNOOZE {
            return Err(SnoozeRefused::TooFar);
        }
        Self::at(now + length, now)
    }

    pub fn time(&self) -> OffsetDateTime {
        self.0
    }
}

/// A snooze's length as sent: `30m`, `4h`, `2d`, `1h 30m`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SnoozeLength(pub Duration);

impl Parse for SnoozeLength {
    fn parse(text: &str) -> Result<Self, Invalid> {
        humantime::parse_duration(parse::text(text)?.trim())
            .map(SnoozeLength)
            .map_err(|_| Invalid::NotDuration)
    }

    const EXPECTED: Option<Invalid> = Some(Invalid::NotDuration);
}

/// Snoozes an active alert until `$4` (again: the new end replaces the old); an alert already
/// resolved is only read.
pub const SNOOZE: &str = change_one!("snoozed_until = $4, snoozed_by = $3", "resolved_at IS NULL");

/// Wakes an alert snoozed now (recording who); any other is only read.
pub const WAKE: &str = change_one!(
    "snoozed_until = NULL, snoozed_by = $3",
    "resolved_at IS NULL AND snoozed_until > now()"
);

/// Snoozes an alert of the tenant until `end`, as `actor`. `None` when the tenant has no such
/// alert.
pub async fn snooze(
    db: &Db,
    scope: &TenantScope<'_>,
    id: Uuid,
    actor: &str,
    end: SnoozeEnd,
) -> Result<Option<AlertRow>, DbError> {
    let tenant = scope.tenant().as_str();
    let until = end.time();
    write_one(
        db,
        scope,
        SNOOZE,
        &[
            (&tenant, Type::TEXT),
            (&id, Type::UUID),
            (&actor, Type::TEXT),
            (&until, Type::TIMESTAMPTZ),
        ],
    )
    .await
}

/// Wakes a snoozed alert of the tenant, as `actor`; an alert not snoozed is returned as it is.
/// `None` when the tenant has no such alert.
pub async fn wake(
    db: &Db,
    scope: &TenantScope<'_>,
    id: Uuid,
    actor: &str,
) -> Result<Option<AlertRow>, DbError> {
    let tenant = scope.tenant().as_str();
    write_one(
        db,
        scope,
        WAKE,
        &[
            (&tenant, Type::TEXT),
            (&id, Type::UUID),
            (&actor, Type::TEXT),
        ],
    )
    .await
}

#[cfg(test)]
mod tests {
    use super::*;
    use time::macros::datetime;

    #[test]
    fn a_snooze_ends_one_minute_to_thirty_days_ahead() {
        let now = datetime!(2026-12-04 10:00 UTC);
        let hour = Duration::from_secs(3600);
        assert_eq!(
            SnoozeEnd::after(4 * hour, now).map(|end| end.time()),
            Ok(datetime!(2026-12-04 14:00 UTC))
        );
        assert!(SnoozeEnd::at(datetime!(2027-01-03 10:00 UTC), now).is_ok());
        assert_eq!(
            SnoozeEnd::at(datetime!(2026-12-04 09:00 UTC), now),
            Err(SnoozeRefused::TooSoon)
        );
        assert_eq!(
            SnoozeEnd::after(Duration::from_secs(30), now),
            Err(SnoozeRefused::TooSoon)
        );
        assert_eq!(
            SnoozeEnd::at(datetime!(2027-01-03 10:01 UTC), now),
            Err(SnoozeRefused::TooFar)
        );
        assert_eq!(
            SnoozeEnd::after(Duration::from_secs(u64::MAX / 4), now),
            Err(SnoozeRefused::TooFar)
        );
    }

    #[test]
    fn a_snooze_is_sent_as_a_time_or_a_length() {
        assert_eq!(
            parse::Timestamp::parse("2026-12-07T09:00:00+01:00").map(|u| u.0),
            Ok(datetime!(2026-12-07 08:00 UTC))
        );
        assert_eq!(parse::Timestamp::parse("lundi"), Err(Invalid::NotTimestamp));
        assert_eq!(
            SnoozeLength::parse(" 1h 30m").map(|l| l.0),
            Ok(Duration::from_secs(5400))
        );
        assert_eq!(
            SnoozeLength::parse("2d").map(|l| l.0.as_secs()),
            Ok(172_800)
        );
        assert_eq!(SnoozeLength::parse("soon"), Err(Invalid::NotDuration));
    }
}
