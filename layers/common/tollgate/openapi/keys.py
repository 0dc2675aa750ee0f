"""Keys: an account's API keys and their policies."""

from __future__ import annotations

from tollgate.key_policy import ENDPOINTS, PERIODS
from tollgate.keys import ROLES
from tollgate.openapi.operation import Operation
from tollgate.openapi.schema import (
    array,
    boolean,
    const,
    integer,
    nullable,
    obj,
    open_obj,
    page_of,
    ref,
    string,
    unix_time,
    usd,
)

TAG = "Keys"

_POLICY = {
    "environment": nullable(string("a label, e.g. production")),
    "allowed_models": nullable(
        array(string("a model id or pattern (*, ?); an alias is kept as its id"))
    ),
    "allowed_endpoints": nullable(array(string(enum=list(ENDPOINTS)))),
    "allowed_cidrs": nullable(array(string("an IPv4 or IPv6 network"))),
    "expires_at": nullable(unix_time("the key stops working at this time")),
    "spend_cap": nullable(obj({"amount_usd": usd(), "period": string(enum=list(PERIODS))})),
    "rate_limit": nullable(
        obj({}, {"rpm": nullable(integer(minimum=1)), "tpm": nullable(integer(minimum=1))})
    ),
    "tags": nullable(open_obj("string labels, copied into usage records")),
    "allowed_origins": nullable(array(string("a browser origin, e.g. https://app.example"))),
    "require_no_training": boolean("only providers whose terms say they do not train on API data"),
}

_SPEND_CAP_SHOWN = obj(
    {"amount_usd": usd(), "period": string(enum=list(PERIODS))},
    {"current_period": string(), "spent_usd": usd()},
)

_KEY = obj(
    {
        "id": string(),
        "object": const("api_key"),
        "name": string(),
        "role": string(enum=list(ROLES)),
        "status": string(enum=["active", "expired", "revoked"]),
        "prefix": string(),
        "last_four": string(),
        "redacted_value": string(),
        "created_at": unix_time(),
        "last_used_at": nullable(unix_time()),
        "rotated_at": nullable(unix_time()),
        "revoked_at": nullable(unix_time()),
        "spend_usd": usd("spent over the key's life"),
        **{name: schema for name, schema in _POLICY.items() if name != "spend_cap"},
        "spend_cap": nullable(_SPEND_CAP_SHOWN),
        "tags": open_obj(),
        "require_no_training": boolean(),
    },
    {"secret": string("the key's secret: shown only when created or rotated")},
)

SCHEMAS = {"ApiKey": _KEY}

_NEW_KEY = obj({}, {"name": string(), "role": string(enum=list(ROLES)), **_POLICY})
_KEY_CHANGES = obj({}, {"name": string(), **_POLICY})

OPERATIONS = {
    ("POST", "/v1/keys"): Operation(
        "Create a key (its secret is shown once)", {201: ref("ApiKey")}, body=_NEW_KEY
    ),
    ("GET", "/v1/keys"): Operation(
        "List the account's keys",
        {200: page_of(ref("ApiKey"))},
        query={
            "limit": integer(minimum=1),
            "cursor": string(),
            "role": string(enum=list(ROLES)),
            "environment": string(),
            "status": string(),
        },
    ),
    ("GET", "/v1/keys/{key_id}"): Operation("Read a key", {200: ref("ApiKey")}),
    ("PATCH", "/v1/keys/{key_id}"): Operation(
        "Change a key's name or policy (null clears a field)",
        {200: ref("ApiKey")},
        body=_KEY_CHANGES,
    ),
    ("POST", "/v1/keys/{key_id}/rotate"): Operation(
        "Give a key a new secret; the old one works for the grace asked",
        {200: ref("ApiKey")},
        body=obj({}, {"grace_seconds": integer(minimum=0)}),
    ),
    ("DELETE", "/v1/keys/{key_id}"): Operation("Revoke a key", {200: ref("ApiKey")}),
}
