"""Usage: an account's request records (metadata only, the last 90 days) and their summary."""

from __future__ import annotations

from tollgate.openapi.operation import Operation
from tollgate.openapi.schema import (
    array,
    boolean,
    const,
    integer,
    nullable,
    obj,
    page_of,
    ref,
    string,
    unix_time,
    usd,
)
from tollgate.openapi.wallet import CSV_DOWNLOAD
from tollgate.usage import ENDPOINTS, STATUSES

TAG = "Usage"

_RECORD = obj(
    {
        "object": const("usage"),
        "request_id": string(),
        "created_at": unix_time(),
        "key_id": string(),
        "model": string("the model that served (or was last tried)"),
        "requested_model": string("what the client asked for"),
        "provider": string(),
        "upstream_model": string(),
        "route": integer("0: the model itself; n: its n-th fallback", minimum=0),
        "endpoint": string(enum=list(ENDPOINTS)),
        "stream": boolean(),
        "status": string(enum=list(STATUSES)),
        "status_code": integer(),
        "error_type": nullable(string()),
        "input_tokens": integer(),
        "output_tokens": integer(),
        "cached_tokens": integer(),
        "cache_write_tokens": integer(),
        "reasoning_tokens": integer(),
        "total_tokens": integer(),
        "latency_ms": integer(),
        "upstream_latency_ms": integer(),
        "overhead_ms": integer(),
        "hold_usd": usd("reserved while it ran"),
        "charge_usd": usd(),
        "usage_estimated": boolean("the provider reported no usage: estimated by the gateway"),
        "video_seconds": nullable(integer("a video job's seconds delivered")),
    }
)

_FIGURES = {
    "requests": integer(),
    "errors": integer(),
    "input_tokens": integer(),
    "output_tokens": integer(),
    "total_tokens": integer(),
    "charge_usd": usd(),
}

_SUMMARY = obj(
    {
        "object": const("usage_summary"),
        "from": string(fmt="date"),
        "to": string(fmt="date"),
        "data": array(
            obj(
                {
                    "day": string("UTC", fmt="date"),
                    "key_id": string(),
                    "model": string(),
                    **_FIGURES,
                }
            )
        ),
        "total": obj(_FIGURES),
    }
)

SCHEMAS = {"UsageRecord": _RECORD, "UsageSummary": _SUMMARY}

_MOMENT = "an ISO 8601 date or time, or Unix seconds (UTC)"
_WINDOW = {
    "from": string(f"{_MOMENT}; at most 90 days ago (older usage: /v1/archives)"),
    "to": string(f"{_MOMENT}; a date means its end"),
    "key_id": string(),
    "model": string(),
}

OPERATIONS = {
    ("GET", "/v1/usage"): Operation(
        "List usage records, newest first (metadata only: never a prompt or an answer)",
        {200: (page_of(ref("UsageRecord")), CSV_DOWNLOAD)},
        query={
            **_WINDOW,
            "status": string(enum=list(STATUSES)),
            "endpoint": string(enum=list(ENDPOINTS)),
            "limit": integer(minimum=1),
            "cursor": string(),
            "format": string("csv: the records as a CSV download", enum=["json", "csv"]),
        },
    ),
    ("GET", "/v1/usage/summary"): Operation(
        "Sum usage per UTC day, key and model", {200: ref("UsageSummary")}, query=_WINDOW
    ),
    ("GET", "/v1/usage/{request_id}"): Operation(
        "Read one request's usage record", {200: ref("UsageRecord")}
    ),
}
