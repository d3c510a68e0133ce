"""Hooks for schemathesis, run against `max-local serve` by local/tests/contract.rs.

docs/openapi.json says in words the one rule a JSON Schema cannot: `occurredAt` may not be more
than 5 minutes in the future. This teaches the generator that rule (a future year becomes 2000);
every other value is drawn from the document as it stands.
"""

import datetime

import schemathesis


@schemathesis.hook
def map_body(ctx, body):
    if not isinstance(body, dict) or not isinstance(body.get("occurredAt"), str):
        return body
    text = body["occurredAt"]
    try:
        at = datetime.datetime.fromisoformat(text.replace("Z", "+00:00").replace("z", "+00:00"))
    except ValueError:
        return body
    if at.tzinfo is not None and at > datetime.datetime.now(datetime.timezone.utc):
        body["occurredAt"] = "2000" + text[4:]
    return body
