"""An account's monthly usage archives, as its admin sees them: the list of batches and a
short-lived download link to one. The archive job that writes them is ``tollgate.archiving``.

Only the owning account reaches a batch: it is looked up in the caller's own partition, so
another account's month is simply not found (404, never 403, which would confirm it exists).
"""

from __future__ import annotations

import re
from typing import Any

from tollgate import clock
from tollgate.errors import BadRequest, NotFound
from tollgate.settings import Settings
from tollgate.store import archives as store
from tollgate.store.models import ArchiveBatch

# S3 accepts up to 7 days; a download starts at once, so a leaked link is useless soon.
DOWNLOAD_LINK_SECONDS = 300
_MONTH = re.compile(r"[0-9]{4}-(0[1-9]|1[0-2])")


def list_batches(account_id: str) -> list[ArchiveBatch]:
    """The account's batches, newest month first; an expired one (its object is gone) is not
    listed even before TTL deletes its index item."""
    now = clock.utcnow()
    return [batch for batch in store.list_batches(account_id) if batch.ttl > now]


def batch_view(batch: ArchiveBatch) -> dict[str, Any]:
    return {
        "object": "archive",
        "month": batch.month,
        "record_count": int(batch.record_count),
        "size_bytes": int(batch.size_bytes),
        "sha256": batch.sha256,
        "schema_version": int(batch.schema_version),
        "created_at": int(batch.created_at.timestamp()),
    }


def download_url(account_id: str, month: str, settings: Settings) -> str:
    """A presigned GET of the account's batch of ``month`` (YYYY-MM), valid five minutes."""
    if not _MONTH.fullmatch(month):
        raise BadRequest("'month' must be a month as YYYY-MM, e.g. 2026-08.", param="month")
    batch = store.get_batch(account_id, month)
    if batch is None or batch.ttl <= clock.utcnow():
        raise NotFound(f"No archive for {month}.", code="archive_not_found")
    return store.archive_objects(settings).presigned_get(
        batch.object_key,
        filename=f"tollgate-usage-{month}.jsonl.gz",
        expires_seconds=DOWNLOAD_LINK_SECONDS,
    )
