"""Account exports: their records in MetadataTable, their ZIPs in ExportBucket.

Items (MetadataTable, beside the account's usage and archive batches, so that a GET by id in
the caller's own partition is one consistent read and another account's id is simply not
there): export ``ACCOUNT#<id> · EXPORT#<export id>`` (``AccountExport``). Its ``ttl`` is its
ZIP's expiry in the bucket's lifecycle (7 days), so both go together.

A record only moves forward: ``pending`` (queued) → ``running`` (a worker took it; a
redelivered message may take it again) → ``ready`` or ``failed``, both final.

Objects (ExportBucket): ``exports/<account id>/<export id>.zip``.
"""

from __future__ import annotations

import functools
from datetime import datetime
from typing import Any

from pynamodb.exceptions import UpdateError

from tollgate.errors import InternalError
from tollgate.settings import Settings
from tollgate.store.archives import ArchiveObjects, archive_objects
from tollgate.store.errors import get_item, storage_errors
from tollgate.store.layout import account_pk
from tollgate.store.models import AccountExport

EXPORT_PREFIX = "EXPORT#"
EXPORTS = "exports/"
UNFINISHED = ("pending", "running")


def export_sk(export_id: str) -> str:
    return f"{EXPORT_PREFIX}{export_id}"


def object_key(account_id: str, export_id: str) -> str:
    return f"{EXPORTS}{account_id}/{export_id}.zip"


def account_prefix(account_id: str) -> str:
    return f"{EXPORTS}{account_id}/"


def delete_records(account_id: str) -> None:
    """The account's export records (their ZIPs: ``ArchiveObjects.delete_every_version``)."""
    with storage_errors("delete_exports"):
        for export in of_account(account_id):
            export.delete()


def create(export: AccountExport) -> None:
    with storage_errors("create_export"):
        export.save(condition=AccountExport.pk.does_not_exist())


def get(account_id: str, export_id: str) -> AccountExport | None:
    return get_item(AccountExport, account_pk(account_id), export_sk(export_id))


def of_account(account_id: str) -> list[AccountExport]:
    """The account's exports still held (a week's worth at most), oldest first."""
    with storage_errors("list_exports"):
        return list(
            AccountExport.query(
                account_pk(account_id),
                AccountExport.sk.startswith(EXPORT_PREFIX),
                consistent_read=True,
            )
        )


def start(export: AccountExport, now: datetime) -> bool:
    """Mark the export ``running``; False when it is finished already (a late redelivery)."""
    return _move(
        export, [AccountExport.status.set("running")], now, AccountExport.status.is_in(*UNFINISHED)
    )


def finish_ready(
    export: AccountExport,
    *,
    key: str,
    size_bytes: int,
    record_counts: dict[str, int],
    now: datetime,
) -> bool:
    actions = [
        AccountExport.status.set("ready"),
        AccountExport.object_key.set(key),
        AccountExport.size_bytes.set(size_bytes),
        AccountExport.record_counts.set(record_counts),
        AccountExport.completed_at.set(now),
    ]
    return _move(export, actions, now, AccountExport.status == "running")


def finish_failed(export: AccountExport, code: str, now: datetime) -> bool:
    actions = [
        AccountExport.status.set("failed"),
        AccountExport.failure_code.set(code),
        AccountExport.completed_at.set(now),
    ]
    return _move(export, actions, now, AccountExport.status.is_in(*UNFINISHED))


def _move(export: AccountExport, actions: list[Any], now: datetime, condition: Any) -> bool:
    with storage_errors("update_export"):
        try:
            export.update(
                actions=[*actions, AccountExport.updated_at.set(now)],
                condition=AccountExport.pk.exists() & condition,
            )
        except UpdateError as error:
            if error.cause_response_code == "ConditionalCheckFailedException":
                return False
            raise
    return True


@functools.cache
def export_objects(settings: Settings) -> ArchiveObjects:
    """The export bucket through the archive bucket's S3 client (one per container)."""
    if not settings.export_bucket:
        raise InternalError("Exports are not configured (EXPORT_BUCKET is not set).")
    return ArchiveObjects(archive_objects(settings).client, settings.export_bucket)
