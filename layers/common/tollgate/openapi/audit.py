"""Audit: an account's append-only, hash-chained trail of changes."""

from __future__ import annotations

from tollgate.openapi.operation import Operation
from tollgate.openapi.schema import (
    const,
    integer,
    nullable,
    obj,
    open_obj,
    page_of,
    ref,
    string,
    unix_time,
)

TAG = "Audit"

_EVENT = obj(
    {
        "object": const("audit_event"),
        "account_id": string(),
        "sequence": integer("the event's place in the account's chain"),
        "actor": string("who changed it: a key, a person or the operator"),
        "action": string("e.g. key.created"),
        "target": string(),
        "request_id": nullable(string()),
        "source_ip": nullable(string()),
        "changes": nullable(open_obj("field -> [before, after]")),
        "created_at": unix_time(),
        "previous_digest": string(),
        "digest": string("SHA-256 over the event and the previous digest"),
    }
)

SCHEMAS = {"AuditEvent": _EVENT}

_MOMENT = "ISO 8601 or Unix seconds"

OPERATIONS = {
    ("GET", "/v1/audit"): Operation(
        "List the account's audit events, newest first",
        {200: page_of(ref("AuditEvent"))},
        query={
            "action": string(),
            "actor": string(),
            "target": string(),
            "from": string(_MOMENT),
            "to": string(_MOMENT),
            "limit": integer(minimum=1),
            "cursor": string(),
        },
    ),
}
