"""Opaque cursors for paginated queries: the last evaluated key, base64url-encoded JSON."""

from __future__ import annotations

import base64
import binascii
import json
from typing import Any

from tollgate.errors import BadRequest
from tollgate.validation import strict_json

MAX_PAGE_SIZE = 100


def encode_cursor(last_evaluated_key: dict[str, Any] | None) -> str | None:
    if not last_evaluated_key:
        return None
    raw = json.dumps(last_evaluated_key, separators=(",", ":"), sort_keys=True).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_cursor(cursor: str | None, *, partition: tuple[str, str]) -> dict[str, Any] | None:
    """Decode a cursor, refusing one that does not belong to the caller's partition."""
    if not cursor:
        return None
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
        key = strict_json(raw)
    except (ValueError, binascii.Error) as error:
        raise BadRequest("The cursor is not valid.", param="cursor") from error
    name, value = partition
    if not _is_key(key) or key.get(name) != {"S": value}:
        raise BadRequest("The cursor is not valid.", param="cursor")
    return key


def _is_key(key: Any) -> bool:
    """A DynamoDB key as encode_cursor writes it: a few string or number attributes."""
    return (
        isinstance(key, dict)
        and 0 < len(key) <= 4
        and all(
            isinstance(attribute, dict)
            and len(attribute) == 1
            and isinstance(attribute.get("S", attribute.get("N")), str)
            for attribute in key.values()
        )
    )


def page_size(limit: int | None) -> int:
    if limit is None:
        return 20
    if not 1 <= limit <= MAX_PAGE_SIZE:
        raise BadRequest(f"limit must be between 1 and {MAX_PAGE_SIZE}.", param="limit")
    return limit
