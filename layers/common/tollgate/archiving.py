"""The archive job (ArchiveFunction, daily): usage records that crossed 90 days go to S3,
metadata only, and every complete calendar month becomes one batch per account.

A day D is due once all of it is older than 90 days: D < (now - 90 days).date(). Each run
copies every due day that has no ``DAY`` marker yet, oldest first, from the START day on:
the day's active accounts (its rollups in the by_request_and_day index), each account's
records of that day as gzip'ed JSON lines in ``staging/``, then the day's marker. Usage TTL
is request time + 90 days + 14 days, so a missed run is caught up by the next ones for about
two weeks.

A month is complete once its last day is due and every one of its days (from START on) has
its marker. Then each account's daily copies are joined into the month's batch and manifest
under ``archives/``, the batch is indexed for ``/v1/archives``, the month's marker is written,
the daily copies are deleted and the marker says so.

Every step is safe to repeat: objects are deterministic (sorted records, gzip without a
timestamp), an account whose batch is indexed already is not rebuilt, and markers are only
written once the work they vouch for is stored. A crash anywhere is finished by the next
run; a run with nothing due writes nothing. A run stops taking new work when its time runs
low and leaves the rest to the next one.
"""

from __future__ import annotations

import gzip
import hashlib
import io
import json
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from itertools import groupby
from typing import Any

from tollgate import clock
from tollgate.money import format_usd
from tollgate.observability import logger, metrics
from tollgate.settings import Settings
from tollgate.store import archives as store
from tollgate.store.layout import USAGE_RETENTION, USAGE_TTL_GRACE
from tollgate.store.models import ArchiveBatch, ArchiveProgress, UsageRecord

SCHEMA_VERSION = 3  # 2: lines carry requested_model; 3: and video_seconds, last
BATCH_LIFETIME = timedelta(days=730)  # the bucket's expiry of archives/
RESERVE_SECONDS = 120.0  # kept back from the invocation's time for the work in progress
GZIP = "application/gzip"

SecondsLeft = Callable[[], float]


# ------------------------------------------------------------------------------ the clock


def cutoff_day(now: datetime) -> date:
    """The first day not due yet: every day before it is entirely older than 90 days."""
    return (now - USAGE_RETENTION).astimezone(UTC).date()


def default_start(now: datetime) -> date:
    """Where a first run starts: nothing older can still be in the table (TTL)."""
    return (now - USAGE_RETENTION - USAGE_TTL_GRACE).astimezone(UTC).date()


def start_from(day: date, now: datetime | None = None) -> date:
    """Make ``day`` the first day the job owes, unless a first day is recorded already (a
    fresh deployment's job owes nothing older). Returns the day in force."""
    return store.set_start_day(day, now or clock.utcnow())


def days_due(start: date, cutoff: date, archived: set[date]) -> list[date]:
    """The days from ``start`` up to (not including) ``cutoff`` not archived yet, oldest first."""
    return [day for day in days_between(start, cutoff - timedelta(days=1)) if day not in archived]


def complete_months(start: date, cutoff: date, archived: set[date]) -> list[str]:
    """The months (``YYYY-MM``) whose days, from ``start`` on, are all due and archived."""
    found = []
    month = start.replace(day=1)
    while _last_day(month) < cutoff:
        days = days_between(max(month, start), _last_day(month))
        if all(day in archived for day in days):
            found.append(month.strftime("%Y-%m"))
        month = _last_day(month) + timedelta(days=1)
    return found


def days_between(first: date, last: date) -> list[date]:
    """Every day from ``first`` to ``last``, both included."""
    return [first + timedelta(days=n) for n in range((last - first).days + 1)]


def _last_day(month: date) -> date:
    following = (month.replace(day=28) + timedelta(days=4)).replace(day=1)
    return following - timedelta(days=1)


# ------------------------------------------------------------------------------ the format


def record_line(record: UsageRecord) -> dict[str, Any]:
    """One usage record as one JSON object of the archive (schema version 3): metadata only,
    the same fields in the same order every time (a field added later goes last)."""
    return {
        "request_id": record.request_id,
        "created_at": record.created_at.astimezone(UTC).isoformat(timespec="microseconds"),
        "account_id": record.account_id,
        "key_id": record.key_id,
        "model": record.model,
        "requested_model": record.requested_model or record.model,
        "provider": record.provider,
        "upstream_model": record.upstream_model,
        "route": int(record.route),
        "endpoint": record.endpoint,
        "stream": bool(record.stream),
        "status": record.status,
        "status_code": int(record.status_code),
        "error_type": record.error_type,
        "input_tokens": int(record.input_tokens),
        "output_tokens": int(record.output_tokens),
        "cached_tokens": int(record.cached_tokens),
        "cache_write_tokens": int(record.cache_write_tokens),
        "reasoning_tokens": int(record.reasoning_tokens),
        "latency_ms": int(record.latency_ms),
        "upstream_latency_ms": int(record.upstream_latency_ms),
        "overhead_ms": int(record.overhead_ms),
        "hold_nanos": int(record.hold),
        "hold_usd": format_usd(int(record.hold)),
        "charge_nanos": int(record.charge),
        "charge_usd": format_usd(int(record.charge)),
        "usage_estimated": bool(record.usage_estimated),
        "video_seconds": int(record.video_seconds) if record.video_seconds is not None else None,
    }


def jsonl(records: Iterable[UsageRecord]) -> bytes:
    return b"".join(
        json.dumps(record_line(r), separators=(",", ":")).encode() + b"\n" for r in records
    )


def gzipped(data: bytes) -> bytes:
    """gzip without a timestamp, so the same lines always make the same bytes."""
    return gzip.compress(data, mtime=0)


# ------------------------------------------------------------------------------ the run


@dataclass
class Summary:
    now: datetime
    cutoff_day: date
    start_day: date
    days_archived: list[date] = field(default_factory=list)
    records_archived: int = 0
    months_batched: list[str] = field(default_factory=list)
    batches_written: int = 0
    days_pending: int = 0
    months_pending: int = 0

    def view(self) -> dict[str, Any]:
        return {
            "now": self.now.isoformat(),
            "cutoff_day": self.cutoff_day.isoformat(),
            "start_day": self.start_day.isoformat(),
            "days_archived": [day.isoformat() for day in self.days_archived],
            "records_archived": self.records_archived,
            "months_batched": self.months_batched,
            "batches_written": self.batches_written,
            "days_pending": self.days_pending,
            "months_pending": self.months_pending,
            "complete": not (self.days_pending or self.months_pending),
        }


def run(
    now: datetime, settings: Settings, *, seconds_left: SecondsLeft | None = None
) -> dict[str, Any]:
    """Archive every due day, then batch every complete month, as time allows."""
    has_time = _budget(seconds_left)
    objects = store.archive_objects(settings)
    start = store.start_day() or store.set_start_day(default_start(now), now)
    summary = Summary(now, cutoff_day(now), start)
    last_due = summary.cutoff_day - timedelta(days=1)
    archived = store.archived_days(start, last_due) if start <= last_due else set()

    due = days_due(start, summary.cutoff_day, archived)
    for day in due:
        if not has_time():
            break
        summary.records_archived += archive_day(day, objects, now)
        summary.days_archived.append(day)
        archived.add(day)
    summary.days_pending = len(due) - len(summary.days_archived)

    markers = store.month_markers()
    months = [
        month
        for month in complete_months(start, summary.cutoff_day, archived)
        if not (month in markers and markers[month].staging_cleared)
    ]
    for month in months:
        if not has_time():
            break
        summary.batches_written += batch_month(month, markers.get(month), objects, now)
        summary.months_batched.append(month)
    summary.months_pending = len(months) - len(summary.months_batched)

    _report(summary)
    return summary.view()


def _budget(seconds_left: SecondsLeft | None) -> Callable[[], bool]:
    if seconds_left is None:
        return lambda: True
    reserve = min(RESERVE_SECONDS, seconds_left() / 2)
    return lambda: seconds_left() > reserve


def archive_day(day: date, objects: store.ArchiveObjects, now: datetime) -> int:
    """Copy one day's usage of every active account to staging, then mark the day; the
    number of records copied."""
    accounts = records = 0
    for account_id in store.active_accounts(day):
        usage = store.usage_of_day(account_id, day)
        if not usage:  # TTL got there first (a run missed for more than two weeks)
            continue
        objects.put(store.staging_key(account_id, day), gzipped(jsonl(usage)), GZIP)
        accounts += 1
        records += len(usage)
    store.mark_day(day, accounts=accounts, records=records, now=now)
    counts = {"day": day.isoformat(), "accounts": accounts, "records": records}
    logger.info("usage day archived", extra=counts)
    return records


def batch_month(
    month: str, marker: ArchiveProgress | None, objects: store.ArchiveObjects, now: datetime
) -> int:
    """Turn a complete month's daily copies into one batch per account, mark the month, delete
    the daily copies and mark that too; the number of batches written."""
    staged = objects.keys(store.staging_prefix(month))
    written = 0
    if marker is None:
        accounts = records = 0
        for account_id, keys in groupby(staged, key=store.staged_account):
            batch = store.get_batch(account_id, month)
            if batch is None:
                batch = write_batch(account_id, month, list(keys), objects, now)
                written += 1
            accounts += 1
            records += int(batch.record_count)
        store.mark_month(month, accounts=accounts, records=records, staging_cleared=False, now=now)
    else:  # batched by an earlier run that stopped before its daily copies were deleted
        accounts, records = int(marker.accounts), int(marker.records)
    objects.delete(staged)
    store.mark_month(month, accounts=accounts, records=records, staging_cleared=True, now=now)
    logger.info(
        "usage month batched",
        extra={"month": month, "accounts": accounts, "batches_written": written},
    )
    return written


def write_batch(
    account_id: str, month: str, staged: list[str], objects: store.ArchiveObjects, now: datetime
) -> ArchiveBatch:
    """Join an account's daily copies, in day order, into its month's batch and manifest,
    then index the batch."""
    buffer = io.BytesIO()
    count = 0
    with gzip.GzipFile(fileobj=buffer, mode="wb", mtime=0) as packed:
        for key in staged:
            lines = gzip.decompress(objects.get(key))
            count += lines.count(b"\n")
            packed.write(lines)
    body = buffer.getvalue()
    object_key = store.batch_key(account_id, month)
    manifest: dict[str, Any] = {
        "schema_version": SCHEMA_VERSION,
        "account_id": account_id,
        "month": month,
        "record_count": count,
        "sha256": hashlib.sha256(body).hexdigest(),
        "size_bytes": len(body),
        "object_key": object_key,
        "created_at": now.astimezone(UTC).isoformat(),
    }
    objects.put(object_key, body, GZIP)
    manifest_key = store.manifest_key(account_id, month)
    objects.put(manifest_key, json.dumps(manifest, indent=2).encode(), "application/json")
    return store.save_batch(
        account_id,
        month,
        object_key=object_key,
        manifest_key=manifest_key,
        size_bytes=len(body),
        record_count=count,
        sha256=manifest["sha256"],
        schema_version=SCHEMA_VERSION,
        created_at=now,
        expires_at=now + BATCH_LIFETIME,
    )


def _report(summary: Summary) -> None:
    view = summary.view()
    logger.info("archive run", extra={k: v for k, v in view.items() if k != "days_archived"})
    metrics.add_metric(name="ArchivedDays", unit="Count", value=len(summary.days_archived))
    metrics.add_metric(name="ArchivedRecords", unit="Count", value=summary.records_archived)
    metrics.add_metric(name="ArchiveBatches", unit="Count", value=summary.batches_written)
    metrics.add_metric(name="ArchiveDaysPending", unit="Count", value=summary.days_pending)
