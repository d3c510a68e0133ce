"""Hooks for schemathesis, run against `max-local serve` by local/tests/contract.rs.

docs/openapi.json says in words the rules about time a JSON Schema cannot: a time the caller
gives (`occurredAt` of an activity, `modifiedAt` of a lead) may not be more than 5 minutes in the
future, a snooze ends a minute to 30 days from now, and a period's `from` comes before its `to`.
This teaches the generator those rules (a future year becomes 2000; a snooze's `until` becomes an
hour from now, its `for` two hours, when they have the documented form; a `from` not before its
`to` becomes a day before it; for the metrics' days, a `from` after its `to`, or more than 366
days before it, becomes 29 days before it); every other value is drawn from the document as it
stands.
"""

import datetime
import re

import schemathesis


def _not_in_future(fields, name):
    text = fields.get(name)
    if not isinstance(text, str):
        return
    try:
        at = datetime.datetime.fromisoformat(text.replace("Z", "+00:00").replace("z", "+00:00"))
    except ValueError:
        return
    if at.tzinfo is not None and at > datetime.datetime.now(datetime.timezone.utc):
        fields[name] = "2000" + text[4:]


def _snooze_within_bounds(body):
    until = body.get("until")
    if isinstance(until, str):
        try:
            datetime.datetime.fromisoformat(until.replace("Z", "+00:00").replace("z", "+00:00"))
        except ValueError:
            pass
        else:
            later = datetime.datetime.now(datetime.timezone.utc) + datetime.timedelta(hours=1)
            body["until"] = later.isoformat()
    length = body.get("for")
    if isinstance(length, str) and re.fullmatch(r"\s*([0-9]+\s*[a-zA-Z]+\s*)+", length):
        body["for"] = "2h"


def _parse(text):
    if not isinstance(text, str):
        return None
    try:
        at = datetime.datetime.fromisoformat(text.replace("Z", "+00:00").replace("z", "+00:00"))
    except ValueError:
        return None
    return at if at.tzinfo is not None else None


def _day(text):
    if not isinstance(text, str) or not re.fullmatch(r"[0-9]{4}-[0-9]{2}-[0-9]{2}", text):
        return None
    try:
        return datetime.date.fromisoformat(text)
    except ValueError:
        return None


def _days_within_bounds(query):
    start = _day(query.get("from"))
    end = _day(query["to"]) if "to" in query else datetime.date.today()
    if start is not None and end is not None and not 0 <= (end - start).days <= 365:
        try:
            query["from"] = (end - datetime.timedelta(days=29)).isoformat()
        except OverflowError:
            query["from"] = end.isoformat()


@schemathesis.hook
def map_query(ctx, query):
    if not isinstance(query, dict) or "from" not in query:
        return query
    if _day(query.get("from")) is not None:
        _days_within_bounds(query)
        return query
    start = _parse(query.get("from"))
    end = _parse(query["to"]) if "to" in query else datetime.datetime.now(datetime.timezone.utc)
    if start is not None and end is not None and start >= end:
        try:
            query["from"] = (end - datetime.timedelta(days=1)).isoformat()
        except OverflowError:
            query["from"] = end.isoformat()
    return query


@schemathesis.hook
def map_body(ctx, body):
    if not isinstance(body, dict):
        return body
    _not_in_future(body, "occurredAt")
    _snooze_within_bounds(body)
    leads = body.get("leads")
    if isinstance(leads, list):
        for lead in leads:
            if isinstance(lead, dict):
                _not_in_future(lead, "modifiedAt")
    return body
