//! What the alert routes read: the query of `GET /api/alerts/active` (`severity`, `leadId`,
//! `limit`, `cursor`), read into a [`ListQuery`] (anything invalid is a 400 `invalid_query` naming
//! the parameter); an alert's id in the path; the body of an acknowledgement.

use lambda_http::aws_lambda_events::query_map::QueryMap;
use lambda_http::{Request, RequestExt};
use serde::Deserialize;
use uuid::Uuid;

use super::ApiError;
use super::body::{self, Field};
use crate::alerts::{
    Comment, Cursor, Language, ListQuery, MAX_LIMIT, ResolvedCursor, ResolvedQuery, Severity,
    SnoozeEnd, SnoozeLength, SnoozeRefused,
};
use crate::leads::LeadId;
use crate::metrics::{MAX_DAYS, PeriodQuery, PeriodRefused};
use crate::parse::{Day, Parse, Timestamp};

/// The language a reader asks for: `lang` in the query (`fr` or `en`), else the first of French
/// and English in `Accept-Language` (by preference), else French.
pub fn language(req: &Request) -> Result<Language, ApiError> {
    if let Some(lang) = req
        .query_string_parameters_ref()
        .and_then(|p| p.first("lang"))
    {
        return match lang.trim() {
            lang if lang.eq_ignore_ascii_case("fr") => Ok(Language::French),
            lang if lang.eq_ignore_ascii_case("en") => Ok(Language::English),
            _ => Err(invalid_query("lang", "lang must be fr or en.".into())),
        };
    }
    let accepted = super::header(req, "accept-language")?.unwrap_or_default();
    Ok(
        Language::first_of(accept_language::parse(accepted).iter().map(String::as_str))
            .unwrap_or_default(),
    )
}

/// The 404 of an alert the tenant does not have.
pub fn no_such_alert() -> ApiError {
    ApiError::not_found("No such alert.")
}

/// The alert id of the path (`/api/alerts/{id}/...`): one that cannot exist is as unknown as one
/// that does not (a 404).
pub fn alert_id(req: &Request) -> Result<Uuid, ApiError> {
    req.path_parameters_ref()
        .and_then(|params| params.first("id"))
        .and_then(|id| Uuid::try_parse(id).ok())
        .ok_or_else(no_such_alert)
}

/// `{"comment"?}` of `POST /api/alerts/{id}/acknowledge`. Unknown fields are ignored.
#[derive(Debug, Deserialize)]
struct AcknowledgeBody {
    #[serde(default)]
    comment: Field<Comment>,
}

/// The comment of an acknowledgement, if any: an empty body acknowledges without one.
pub fn acknowledgement(req: &Request) -> Result<Option<Comment>, ApiError> {
    if body::bytes(req)?.iter().all(u8::is_ascii_whitespace) {
        return Ok(None);
    }
    body::json::<AcknowledgeBody>(req)?
        .comment
        .optional("comment")
}

/// `{"until"}` or `{"for"}` of `POST /api/alerts/{id}/snooze`. Unknown fields are ignored.
#[derive(Debug, Deserialize)]
struct SnoozeBody {
    #[serde(default)]
    until: Field<Timestamp>,
    #[serde(default, rename = "for")]
    length: Field<SnoozeLength>,
}

/// When a snooze asked for at `now` ends: `until` (a date and time) or `for` (a length), one of
/// them, a minute to 30 days ahead.
pub fn snooze_end(req: &Request, now: time::OffsetDateTime) -> Result<SnoozeEnd, ApiError> {
    let body = body::json::<SnoozeBody>(req)?;
    let until = body.until.optional("until")?;
    let length = body.length.optional("for")?;
    let (field, end) = match (until, length) {
        (Some(until), None) => ("until", SnoozeEnd::at(until.0, now)),
        (None, Some(length)) => ("for", SnoozeEnd::after(length.0, now)),
        _ => {
            return Err(ApiError::invalid_field(
                "until",
                "Send either until (a date and time, such as 2026-12-07T09:00:00+01:00) or for \
                 (a duration, such as 4h or 2d).",
            ));
        }
    };
    end.map_err(|refused| {
        ApiError::invalid_field(
            field,
            match refused {
                SnoozeRefused::TooSoon => {
                    format!("{field} must end at least a minute from now.")
                }
                SnoozeRefused::TooFar => format!("{field} must end at most 30 days from now."),
            },
        )
    })
}

/// Reads the query string's parameters (the first value of each).
pub fn list_query(params: Option<&QueryMap>) -> Result<ListQuery, ApiError> {
    let mut query = ListQuery::default();
    let Some(params) = params else {
        return Ok(query);
    };
    if let Some(severity) = params.first("severity") {
        query.severity = Some(
            Severity::parse(severity).map_err(|why| invalid_query("severity", why.to_string()))?,
        );
    }
    if let Some(lead_id) = params.first("leadId") {
        query.lead_id = Some(
            LeadId::parse(lead_id)
                .map_err(|why| invalid_query("leadId", format!("leadId {why}")))?,
        );
    }
    if let Some(limit) = limit_param(params)? {
        query.limit = limit;
    }
    if let Some(cursor) = params.first("cursor") {
        query.cursor = Some(Cursor::decode(cursor).ok_or_else(not_a_cursor)?);
    }
    Ok(query)
}

/// A 400 `invalid_query` naming the parameter.
fn invalid_query(name: &str, message: String) -> ApiError {
    ApiError::bad_request("invalid_query", format!("{name}: {message}"))
}

fn not_a_cursor() -> ApiError {
    invalid_query(
        "cursor",
        "is not a cursor returned by this route (nextCursor).".into(),
    )
}

/// `limit`, when given: a whole number from 1 to [`MAX_LIMIT`].
fn limit_param(params: &QueryMap) -> Result<Option<i64>, ApiError> {
    params
        .first("limit")
        .map(|limit| {
            limit
                .trim()
                .parse::<i64>()
                .ok()
                .filter(|n| (1..=MAX_LIMIT).contains(n))
                .ok_or_else(|| {
                    invalid_query(
                        "limit",
                        format!("must be a whole number from 1 to {MAX_LIMIT}."),
                    )
                })
        })
        .transpose()
}

/// How far back `GET /api/alerts/resolved` looks when `from` is not given.
pub const RESOLVED_DEFAULT_DAYS: i64 = 7;

/// The query of `GET /api/alerts/resolved` (`from`, `to`: RFC 3339 times, the last 7 days by
/// default; `limit`; `cursor`), judged at `now`.
pub fn resolved_query(
    params: Option<&QueryMap>,
    now: time::OffsetDateTime,
) -> Result<ResolvedQuery, ApiError> {
    let time_param = |name: &'static str| {
        params
            .and_then(|params| params.first(name))
            .map(|text| {
                Timestamp::parse(text)
                    .map(|at| at.0)
                    .map_err(|why| invalid_query(name, format!("{name} {why}")))
            })
            .transpose()
    };
    let to = time_param("to")?.unwrap_or(now);
    let from = time_param("from")?
        .unwrap_or_else(|| to.saturating_sub(time::Duration::days(RESOLVED_DEFAULT_DAYS)));
    if from >= to {
        return Err(invalid_query("from", "from must be before to.".into()));
    }
    let (limit, cursor) = match params {
        None => (None, None),
        Some(params) => (
            limit_param(params)?,
            params
                .first("cursor")
                .map(|cursor| ResolvedCursor::decode(cursor).ok_or_else(not_a_cursor))
                .transpose()?,
        ),
    };
    Ok(ResolvedQuery {
        from,
        to,
        limit: limit.unwrap_or(crate::alerts::DEFAULT_LIMIT),
        cursor,
    })
}

/// The query of `GET /api/alerts/metrics` (`from`, `to`: the tenant's days, `2026-11-24`).
pub fn metrics_query(params: Option<&QueryMap>) -> Result<PeriodQuery, ApiError> {
    let day_param = |name: &'static str| {
        params
            .and_then(|params| params.first(name))
            .map(|text| {
                Day::parse(text)
                    .map(|day| day.0)
                    .map_err(|why| invalid_query(name, format!("{name} {why}")))
            })
            .transpose()
    };
    Ok(PeriodQuery {
        from: day_param("from")?,
        to: day_param("to")?,
    })
}

/// The 400 of a period that cannot be answered.
pub fn period_refused(refused: PeriodRefused) -> ApiError {
    match refused {
        PeriodRefused::Reversed => invalid_query("from", "from must not be after to.".into()),
        PeriodRefused::TooLong => invalid_query(
            "from",
            format!("the period must be at most {MAX_DAYS} days."),
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;
    use uuid::Uuid;

    fn params(pairs: &[(&str, &str)]) -> QueryMap {
        let map: HashMap<String, String> = pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        QueryMap::from(map)
    }

    #[test]
    fn the_query_has_defaults() {
        assert_eq!(list_query(None).unwrap(), ListQuery::default());
        assert_eq!(
            list_query(Some(&params(&[]))).unwrap(),
            ListQuery::default()
        );
    }

    #[test]
    fn the_query_reads_every_parameter() {
        let cursor = Cursor::at(0, false, 1, Uuid::nil());
        let token = cursor.encode();
        let query = list_query(Some(&params(&[
            ("severity", "HIGH"),
            ("leadId", "lead-1"),
            ("limit", "10"),
            ("cursor", &token),
        ])))
        .unwrap();
        assert_eq!(query.severity, Some(Severity::High));
        assert_eq!(query.lead_id.as_ref().map(LeadId::as_str), Some("lead-1"));
        assert_eq!(query.limit, 10);
        assert_eq!(query.cursor, Some(cursor));
    }

    #[test]
    fn invalid_parameters_are_400s() {
        for (name, value, message) in [
            (
                "severity",
                "med",
                "severity: must be one of: high, medium, low.",
            ),
            ("limit", "0", "limit: must be a whole number from 1 to 200."),
            (
                "limit",
                "201",
                "limit: must be a whole number from 1 to 200.",
            ),
            (
                "limit",
                "ten",
                "limit: must be a whole number from 1 to 200.",
            ),
            (
                "cursor",
                "abc",
                "cursor: is not a cursor returned by this route (nextCursor).",
            ),
            ("leadId", "", "leadId: leadId must not be empty."),
        ] {
            let error = list_query(Some(&params(&[(name, value)]))).unwrap_err();
            assert_eq!(error.status, 400, "{name}={value}");
            assert_eq!(error.code, "invalid_query");
            assert_eq!(error.message, message);
        }
    }
}
