"""Hooks for schemathesis, run against `max-local serve` by local/tests/contract.rs.

docs/openapi.json says in words the one rule a JSON Schema cannot: a time the caller gives
(`occurredAt` of an activity, `modifiedAt` of a lead) may not be more than 5 minutes in the
future. This teaches the generator that rule (a future year becomes 2000); every other value is
drawn from the document as it stands.
"""

import datetime

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


@schemathesis.hook
def map_body(ctx, body):
    if not isinstance(body, dict):
        return body
    _not_in_future(body, "occurredAt")
    leads = body.get("leads")
    if isinstance(leads, list):
        for lead in leads:
            if isinstance(lead, dict):
                _not_in_future(lead, "modifiedAt")
    return body
