"""Exports as the account's people see them: starting one (``POST /v1/account/exports``) and
its status with, once ready, a short-lived download link (``GET /v1/account/exports/{id}``).

Only the owning account reaches an export: it is looked up in the caller's own partition, so
another account's id is simply not found (404, never 403, which would confirm it exists).
One export runs at a time per account: a second request while one is under way is a 409.
"""

from __future__ import annotations

import re
import secrets
from collections.abc import Mapping
from datetime import datetime, timedelta
from typing import Any

from tollgate import clock
from tollgate.errors import BadRequest, Conflict, InternalError, NotFound
from tollgate.exports import queue
from tollgate.settings import Settings
from tollgate.store import exports as store
from tollgate.store.layout import account_pk
from tollgate.store.models import AccountExport

# The ZIP's life in the bucket (its lifecycle rule), and so the record's.
RETENTION = timedelta(days=7)
DOWNLOAD_LINK_SECONDS = 300
# A worker that died (Lambda's timeout, three deliveries) never marks its export: past this,
# an unfinished export is shown failed and no longer blocks a new one.
STALE_AFTER = timedelta(hours=6)
_EXPORT_ID = re.compile(r"exp_[0-9a-f]{24}")
FAILURES = {
    "export_failed": "The export could not be completed. Start a new one; if it fails again, "
    "contact support.",
    "export_not_queued": "The export could not be started. Start a new one.",
    "export_timed_out": "The export did not finish in time. Start a new one.",
}


def parse_new_export(body: Mapping[str, Any]) -> None:
    """An export takes no options: it holds everything."""
    if body:
        name = sorted(body)[0]
        raise BadRequest("An export takes no fields: it holds everything.", param=name)


def start_export(
    account_id: str, actor: str, settings: Settings, *, now: datetime | None = None
) -> AccountExport:
    """Record a pending export and queue it for ExportFunction."""
    now = now or clock.utcnow()
    if any(shown_status(e, now) in store.UNFINISHED for e in store.of_account(account_id)):
        raise Conflict(
            "An export of this account is already under way; wait until it is ready.",
            code="export_in_progress",
        )
    export_id = "exp_" + secrets.token_hex(12)
    export = AccountExport(
        account_pk(account_id),
        store.export_sk(export_id),
        export_id=export_id,
        account_id=account_id,
        status="pending",
        requested_by=actor,
        created_at=now,
        updated_at=now,
        ttl=now + RETENTION,
    )
    store.create(export)
    try:
        queue.enqueue(settings, account_id, export_id)
    except InternalError:
        store.finish_failed(export, "export_not_queued", now)
        raise
    return export


def get_export(account_id: str, export_id: str, *, now: datetime | None = None) -> AccountExport:
    now = now or clock.utcnow()
    found = store.get(account_id, export_id) if _EXPORT_ID.fullmatch(export_id) else None
    if found is None or found.ttl <= now:
        raise NotFound(f"No export with id '{export_id}'.", code="export_not_found")
    return found


def shown_status(export: AccountExport, now: datetime) -> str:
    if export.status in store.UNFINISHED and export.created_at <= now - STALE_AFTER:
        return "failed"
    return export.status


def export_view(
    export: AccountExport, settings: Settings, *, now: datetime | None = None
) -> dict[str, Any]:
    """The export; when ready, with a presigned GET of its ZIP valid five minutes."""
    now = now or clock.utcnow()
    status = shown_status(export, now)
    view: dict[str, Any] = {
        "object": "account_export",
        "id": export.export_id,
        "status": status,
        "created_at": _unix(export.created_at),
        "completed_at": _unix(export.completed_at),
        "expires_at": _unix(export.ttl),
        "size_bytes": None,
        "record_counts": None,
        "download_url": None,
        "download_expires_at": None,
        "failure": None,
    }
    if status == "ready" and export.object_key:
        view["size_bytes"] = int(export.size_bytes or 0)
        view["record_counts"] = export.record_counts
        view["download_url"] = store.export_objects(settings).presigned_get(
            export.object_key,
            filename=f"tollgate-export-{export.created_at:%Y-%m-%d}-{export.export_id}.zip",
            expires_seconds=DOWNLOAD_LINK_SECONDS,
        )
        view["download_expires_at"] = _unix(now + timedelta(seconds=DOWNLOAD_LINK_SECONDS))
    elif status == "failed":
        code = export.failure_code or "export_timed_out"
        view["failure"] = {"code": code, "message": FAILURES.get(code, FAILURES["export_failed"])}
    return view


def _unix(moment: datetime | None) -> int | None:
    return int(moment.timestamp()) if moment else None
