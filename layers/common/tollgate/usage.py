"""The usage API: an account's request metadata for the last 90 days (never a prompt or a
response: records hold none), one record by request id, and daily summaries.

Filters (query parameters): ``key_id``, ``model``, ``status`` (one of ``STATUSES``),
``endpoint``, ``from`` and ``to`` (ISO 8601 date or time, or unix seconds). The hot API covers
the last 90 days: ``from`` defaults to 90 days ago and may not be earlier (a day's slack is
clamped, for clients that compute "90 days ago" themselves); older usage is in the monthly
archives (``/v1/archives``). The summary comes from the daily rollups the settle keeps up, so
it reads one item per day, key and model, not the records.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Any

from tollgate import clock, spreadsheet
from tollgate.errors import BadRequest, NotFound
from tollgate.money import format_usd
from tollgate.store import layout
from tollgate.store import usage as store
from tollgate.store.models import UsageRecord, UsageRollup
from tollgate.store.pagination import page_size

HOT_WINDOW = layout.USAGE_RETENTION
CLAMP_SLACK = timedelta(days=1)
# Every status the proxy's settle (tollgate.proxy) and the reaper write on a usage record:
# answered in full, answered with an error, a stream cut by the upstream or the gateway, a
# stream the client hung up on, a hold the reaper released, and a video job cancelled.
STATUSES = ("settled", "error", "cut", "client_closed", "abandoned", "cancelled")
ENDPOINTS = (
    "chat.completions",
    "messages",
    "embeddings",
    "images.generations",
    "videos",
    "responses",
)
MAX_CSV_ROWS = 10_000
# A record asked for between the proxy's answer and its settle (one DynamoDB transaction) is
# waited for, this long at most.
PENDING_WAIT_SECONDS = 3.0
PENDING_POLL_SECONDS = 0.05
CSV_COLUMNS = (
    "request_id",
    "created_at",
    "key_id",
    "model",
    "requested_model",
    "provider",
    "endpoint",
    "stream",
    "status",
    "status_code",
    "error_type",
    "input_tokens",
    "output_tokens",
    "cached_tokens",
    "reasoning_tokens",
    "total_tokens",
    "latency_ms",
    "charge_usd",
    "usage_estimated",
    "video_seconds",  # last: a column added later goes after those a spreadsheet already reads
)


@dataclass(frozen=True, slots=True)
class UsageFilters:
    since: datetime
    until: datetime
    now: datetime
    key_id: str | None = None
    model: str | None = None
    status: str | None = None
    endpoint: str | None = None

    def equal(self, *names: str) -> tuple[tuple[str, str], ...]:
        return tuple((n, getattr(self, n)) for n in names if getattr(self, n) is not None)


def export_format(value: str | None) -> str:
    return spreadsheet.export_format(value)


def parse_filters(query: Callable[[str], str | None], now: datetime | None = None) -> UsageFilters:
    now = now or clock.utcnow()
    oldest = now - HOT_WINDOW
    since = _moment(query("from"), "from") or oldest
    until = _moment(query("to"), "to", end_of_day=True) or now
    if since < oldest - CLAMP_SLACK:
        raise BadRequest(
            "'from' is more than 90 days ago: older usage is in the monthly archives "
            "(GET /v1/archives).",
            param="from",
        )
    since, until = max(since, oldest), min(until, now)
    if since > until:
        raise BadRequest("'from' must not be after 'to'.", param="from")
    return UsageFilters(
        since=since,
        until=until,
        now=now,
        key_id=_text(query, "key_id"),
        model=_text(query, "model"),
        status=_choice(query, "status", STATUSES),
        endpoint=_choice(query, "endpoint", ENDPOINTS),
    )


def list_usage(
    account_id: str, filters: UsageFilters, *, limit: int | None, cursor: str | None
) -> tuple[list[UsageRecord], str | None]:
    """One page of the account's records, newest first."""
    return store.records(
        _record_query(account_id, filters), now=filters.now, limit=page_size(limit), cursor=cursor
    )


def export(
    account_id: str, filters: UsageFilters, *, cursor: str | None
) -> tuple[list[UsageRecord], str | None]:
    """Records for a CSV download: at most MAX_CSV_ROWS, and the cursor of the rest."""
    return store.records(
        _record_query(account_id, filters), now=filters.now, limit=MAX_CSV_ROWS, cursor=cursor
    )


def get_usage(account_id: str, request_id: str, now: datetime | None = None) -> UsageRecord:
    """One record of the caller's account; another account's request is not found either."""
    now = now or clock.utcnow()
    record = _settled_record(account_id, request_id, now)
    if record is None or record.account_id != account_id or record.created_at < now - HOT_WINDOW:
        raise NotFound(
            f"No usage record for request '{request_id}' in the last 90 days.",
            code="usage_not_found",
        )
    return record


def _settled_record(account_id: str, request_id: str, now: datetime) -> UsageRecord | None:
    """The request's record. The proxy sends its answer before the settle that writes it, so
    a client may ask in between: while the request's hold is there, wait for the settle (at
    most PENDING_WAIT_SECONDS; a request still running is not found)."""
    deadline = time.monotonic() + PENDING_WAIT_SECONDS
    while True:
        record = store.record_by_request(account_id, request_id, now=now)
        if record is not None:
            return record
        if not store.settle_pending(account_id, request_id):
            # the settle may have landed between the two reads: it deletes the hold and
            # writes the record in one transaction
            return store.record_by_request(account_id, request_id, now=now)
        if time.monotonic() >= deadline:
            return None
        time.sleep(PENDING_POLL_SECONDS)


def summary(account_id: str, filters: UsageFilters) -> dict[str, Any]:
    """Per day (UTC), key and model: requests, errors, tokens and charge; and the totals."""
    if filters.status is not None or filters.endpoint is not None:
        raise BadRequest(
            "The summary is per day, key and model: 'status' and 'endpoint' filter the records "
            "(GET /v1/usage), not the summary.",
            param="status" if filters.status is not None else "endpoint",
        )
    first, last = filters.since.date(), filters.until.date()
    found = store.rollups(
        account_id, first, last, now=filters.now, equal=filters.equal("key_id", "model")
    )
    rows = [_rollup_view(rollup) for rollup in found]
    return {
        "object": "usage_summary",
        "from": first.isoformat(),
        "to": last.isoformat(),
        "data": rows,
        "total": _figures(found),
    }


def usage_view(record: UsageRecord) -> dict[str, Any]:
    input_tokens, output_tokens = int(record.input_tokens), int(record.output_tokens)
    return {
        "object": "usage",
        "request_id": record.request_id,
        "created_at": int(record.created_at.timestamp()),
        "key_id": record.key_id,
        "model": record.model,
        "requested_model": record.requested_model or record.model,
        "provider": record.provider,
        "upstream_model": record.upstream_model,
        "route": int(record.route),  # 0: the model itself; n: its n-th fallback
        "endpoint": record.endpoint,
        "stream": bool(record.stream),
        "status": record.status,
        "status_code": int(record.status_code),
        "error_type": record.error_type,
        "input_tokens": input_tokens,
        "output_tokens": output_tokens,
        "cached_tokens": int(record.cached_tokens),
        "cache_write_tokens": int(record.cache_write_tokens),
        "reasoning_tokens": int(record.reasoning_tokens),
        "total_tokens": input_tokens + output_tokens,
        "latency_ms": int(record.latency_ms),
        "upstream_latency_ms": int(record.upstream_latency_ms),
        "overhead_ms": int(record.overhead_ms),
        "hold_usd": format_usd(int(record.hold)),  # reserved while it ran; released in the settle
        "charge_usd": format_usd(int(record.charge)),
        "usage_estimated": bool(record.usage_estimated),
        "video_seconds": int(record.video_seconds) if record.video_seconds is not None else None,
    }


def usage_csv(records: Iterable[UsageRecord]) -> str:
    return spreadsheet.to_csv(CSV_COLUMNS, map(csv_row, records))


def csv_row(record: UsageRecord) -> dict[str, Any]:
    row = usage_view(record)
    row["created_at"] = spreadsheet.time(record.created_at)
    for column in ("request_id", "key_id", "model", "requested_model", "provider", "error_type"):
        row[column] = spreadsheet.text(row[column])
    return row


def _rollup_view(rollup: UsageRollup) -> dict[str, Any]:
    return {
        "day": rollup.day,
        "key_id": rollup.key_id,
        "model": rollup.model,
        **_figures([rollup]),
    }


def _figures(rollups: list[UsageRollup]) -> dict[str, Any]:
    input_tokens = sum(int(r.input_tokens) for r in rollups)
    output_tokens = sum(int(r.output_tokens) for r in rollups)
    return {
        "requests": sum(int(r.requests) for r in rollups),
        "errors": sum(int(r.errors) for r in rollups),
        "input_tokens": input_tokens,
        "output_tokens": output_tokens,
        "total_tokens": input_tokens + output_tokens,
        "charge_usd": format_usd(sum(int(r.charge) for r in rollups)),
    }


def _record_query(account_id: str, filters: UsageFilters) -> store.RecordQuery:
    return store.RecordQuery(
        account_id,
        filters.since,
        filters.until,
        filters.equal("key_id", "model", "status", "endpoint"),
    )


def _moment(value: str | None, name: str, *, end_of_day: bool = False) -> datetime | None:
    """An ISO 8601 date (a ``to`` date means its end) or time, or unix seconds, in UTC."""
    if value is None or value == "":
        return None
    text = value.strip()
    try:
        if text.isdigit():
            return datetime.fromtimestamp(int(text), UTC)
        if len(text) == 10:
            day = date.fromisoformat(text)
            start = datetime.combine(day, datetime.min.time(), UTC)
            return start + timedelta(days=1, microseconds=-1) if end_of_day else start
        moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
        return moment.astimezone(UTC) if moment.tzinfo else moment.replace(tzinfo=UTC)
    except (ValueError, OverflowError):
        raise BadRequest(
            f"'{name}' must be an ISO 8601 date or time (e.g. 2026-11-23 or "
            "2026-11-23T10:00:00Z) or unix seconds.",
            param=name,
        ) from None


def _text(query: Callable[[str], str | None], name: str) -> str | None:
    value = query(name)
    if value is None or value == "":
        return None
    if len(value) > 200:
        raise BadRequest(f"'{name}' is too long.", param=name)
    return value


def _choice(query: Callable[[str], str | None], name: str, allowed: tuple[str, ...]) -> str | None:
    value = _text(query, name)
    if value is not None and value not in allowed:
        raise BadRequest(f"'{name}' must be one of: {', '.join(allowed)}.", param=name)
    return value
