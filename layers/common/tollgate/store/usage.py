"""Usage records and their daily rollups in MetadataTable, as the usage API reads them.

Records sort by time in the account's partition (``USAGE#<timestamp>#<request id>``), rollups
by day (``ROLLUP#<date>#<key id>#<model>``). TTL deletion lags, so every read here also
filters on ``ttl``: an item whose TTL has passed is never returned, deleted or not.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date, datetime

from pynamodb.expressions.condition import Condition

from tollgate.errors import BadRequest
from tollgate.store import layout
from tollgate.store.errors import get_item, storage_errors
from tollgate.store.models import Hold, UsagePointer, UsageRecord, UsageRollup
from tollgate.store.pagination import decode_cursor, encode_cursor

USAGE_PREFIX = "USAGE#"
ROLLUP_PREFIX = "ROLLUP#"
_AFTER_EVERYTHING = "~"  # sorts after every character a key or timestamp uses


@dataclass(frozen=True, slots=True)
class RecordQuery:
    """Records of one account between two moments (inclusive), newest first, matching
    every attribute in ``equal``."""

    account_id: str
    since: datetime
    until: datetime
    equal: tuple[tuple[str, str], ...] = ()


def records(
    query: RecordQuery, *, now: datetime, limit: int, cursor: str | None
) -> tuple[list[UsageRecord], str | None]:
    """Up to ``limit`` records from ``cursor`` on, and the cursor of the rest (None: no more)."""
    found: list[UsageRecord] = []
    with storage_errors("list_usage"):
        for record in _matching(query, now, cursor):
            found.append(record)
            if len(found) > limit:
                break
    shown = found[:limit]
    if len(found) <= limit:
        return shown, None
    key = {"pk": {"S": layout.account_pk(query.account_id)}, "sk": {"S": shown[-1].sk}}
    return shown, encode_cursor(key)


def _matching(query: RecordQuery, now: datetime, cursor: str | None) -> Iterator[UsageRecord]:
    partition = layout.account_pk(query.account_id)
    low = USAGE_PREFIX + layout.timestamp(query.since)
    high = USAGE_PREFIX + layout.timestamp(query.until) + _AFTER_EVERYTHING
    start = decode_cursor(cursor, partition=("pk", partition))
    if start is not None and not low <= start["sk"]["S"] <= high:
        raise BadRequest("The cursor does not belong to this query.", param="cursor")
    condition: Condition = UsageRecord.ttl > now
    for name, value in query.equal:
        condition &= getattr(UsageRecord, name) == value
    return iter(
        UsageRecord.query(
            partition,
            UsageRecord.sk.between(low, high),
            filter_condition=condition,
            scan_index_forward=False,
            last_evaluated_key=start,
            page_size=100,
        )
    )


def record_by_request(account_id: str, request_id: str, *, now: datetime) -> UsageRecord | None:
    """The usage record of one of the account's requests, read consistently: there once the
    proxy settled. Records written before their pointer existed come from the index."""
    partition = layout.account_pk(account_id)
    pointer = get_item(UsagePointer, partition, layout.request_sk(request_id))
    if pointer is not None:
        record = get_item(UsageRecord, partition, pointer.usage_sk)
    else:
        with storage_errors("get_usage"):
            entry = next(
                iter(UsageRecord.by_request_and_day.query(layout.request_pk(request_id))), None
            )
        record = None
        if entry is not None and entry.pk == partition:
            record = get_item(UsageRecord, entry.pk, entry.sk)
    return record if record is not None and record.ttl > now else None


def settle_pending(account_id: str, request_id: str) -> bool:
    """Whether the account still holds money for the request: the proxy answered (or is
    answering) and its settle, which writes the record, is still to come. Reads the hold's
    key only."""
    with storage_errors("get_hold"):
        try:
            Hold.get(
                layout.account_pk(account_id),
                layout.hold_sk(request_id),
                consistent_read=True,
                attributes_to_get=["pk", "sk"],
            )
        except Hold.DoesNotExist:
            return False
    return True


def rollups(
    account_id: str, first: date, last: date, *, now: datetime, equal: tuple[tuple[str, str], ...]
) -> list[UsageRollup]:
    """The account's daily rollups from ``first`` to ``last`` (inclusive), oldest first."""
    condition: Condition = UsageRollup.ttl > now
    for name, value in equal:
        condition &= getattr(UsageRollup, name) == value
    with storage_errors("usage_rollups"):
        return list(
            UsageRollup.query(
                layout.account_pk(account_id),
                UsageRollup.sk.between(
                    f"{ROLLUP_PREFIX}{first.isoformat()}",
                    f"{ROLLUP_PREFIX}{last.isoformat()}{_AFTER_EVERYTHING}",
                ),
                filter_condition=condition,
            )
        )
