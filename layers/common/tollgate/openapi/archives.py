"""Archives: an account's monthly usage archives (older than the 90 days /v1/usage covers)."""

from __future__ import annotations

from tollgate.openapi.operation import Operation, Redirect
from tollgate.openapi.schema import const, integer, obj, page_of, ref, string, unix_time

TAG = "Archives"

_ARCHIVE = obj(
    {
        "object": const("archive"),
        "month": string("YYYY-MM"),
        "record_count": integer(),
        "size_bytes": integer(),
        "sha256": string("of the gzipped JSON Lines file"),
        "schema_version": integer(),
        "created_at": unix_time(),
    }
)

SCHEMAS = {"Archive": _ARCHIVE}

OPERATIONS = {
    ("GET", "/v1/archives"): Operation(
        "List the monthly archives, newest first", {200: page_of(ref("Archive"))}
    ),
    ("GET", "/v1/archives/{month}"): Operation(
        "Download a month's archive",
        {
            302: Redirect(
                "A link valid 5 minutes to the month's usage records as gzipped JSON Lines "
                "(`tollgate-usage-YYYY-MM.jsonl.gz`)."
            )
        },
    ),
}
