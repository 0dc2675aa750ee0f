"""The usage archive: its progress and index in MetadataTable, its objects in ArchiveBucket.

Items (MetadataTable):
- progress ``ARCHIVE · START`` (``ArchiveProgress.day``): the first day the archive job owes,
  set once; ``ARCHIVE · DAY#<date>``: that day's usage is in staging for every account;
  ``ARCHIVE · MONTH#<YYYY-MM>``: the month's batches exist (``staging_cleared``: and its daily
  copies are gone);
- batch ``ACCOUNT#<id> · ARCHIVE#<YYYY-MM>`` (``ArchiveBatch``): an account's month in S3, what
  ``/v1/archives`` lists; its TTL is the object's expiry in the bucket's lifecycle.

Objects (ArchiveBucket), usage metadata only, gzip'ed JSON lines:
- ``staging/<YYYY-MM>/<account id>/<YYYY-MM-DD>.jsonl.gz``: one account's day, kept until its
  month is batched (the bucket's lifecycle deletes what a failure leaves behind);
- ``archives/<account id>/<YYYY-MM>/usage-<YYYY-MM>.jsonl.gz`` and ``.../manifest.json``: the
  account's month and its manifest (kept two years, Glacier Instant Retrieval after 30 days).
"""

from __future__ import annotations

import functools
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import date, datetime
from typing import IO, Any

import boto3
from botocore.config import Config
from botocore.exceptions import BotoCoreError, ClientError
from pynamodb.exceptions import PutError

from tollgate.errors import InternalError
from tollgate.observability import logger
from tollgate.settings import Settings
from tollgate.store.errors import get_item, storage_errors
from tollgate.store.layout import account_pk, usage_day_pk
from tollgate.store.models import ArchiveBatch, ArchiveProgress, UsageRecord, UsageRollup

PROGRESS_PK = "ARCHIVE"
START_SK = "START"
DAY_PREFIX = "DAY#"
MONTH_PREFIX = "MONTH#"
BATCH_PREFIX = "ARCHIVE#"
STAGING = "staging/"
ARCHIVES = "archives/"
DELETE_CHUNK = 1000  # DeleteObjects' limit


# ------------------------------------------------------------------------------ progress


def day_sk(day: date) -> str:
    return f"{DAY_PREFIX}{day.isoformat()}"


def month_sk(month: str) -> str:
    return f"{MONTH_PREFIX}{month}"


def start_day() -> date | None:
    item = get_item(ArchiveProgress, PROGRESS_PK, START_SK)
    return date.fromisoformat(item.day) if item is not None else None


def set_start_day(day: date, now: datetime) -> date:
    """Record the first day the archive job owes, unless one is recorded already; the day in
    force either way."""
    item = ArchiveProgress(PROGRESS_PK, START_SK, day=day.isoformat(), done_at=now)
    with storage_errors("set_archive_start_day"):
        try:
            item.save(condition=ArchiveProgress.pk.does_not_exist())
        except PutError as error:
            if error.cause_response_code != "ConditionalCheckFailedException":
                raise
            return start_day() or day
    return day


def archived_days(first: date, last: date) -> set[date]:
    """The days from ``first`` to ``last`` (both included) already copied to staging."""
    with storage_errors("archived_days"):
        return {
            date.fromisoformat(item.sk.removeprefix(DAY_PREFIX))
            for item in ArchiveProgress.query(
                PROGRESS_PK,
                ArchiveProgress.sk.between(day_sk(first), day_sk(last)),
                attributes_to_get=["pk", "sk"],
                consistent_read=True,
            )
        }


def mark_day(day: date, *, accounts: int, records: int, now: datetime) -> None:
    marker = ArchiveProgress(
        PROGRESS_PK, day_sk(day), accounts=accounts, records=records, done_at=now
    )
    with storage_errors("mark_archived_day"):
        marker.save()


def month_markers() -> dict[str, ArchiveProgress]:
    """Every month batched so far (or being cleared), by ``YYYY-MM``."""
    with storage_errors("month_markers"):
        return {
            item.sk.removeprefix(MONTH_PREFIX): item
            for item in ArchiveProgress.query(
                PROGRESS_PK, ArchiveProgress.sk.startswith(MONTH_PREFIX), consistent_read=True
            )
        }


def mark_month(
    month: str, *, accounts: int, records: int, staging_cleared: bool, now: datetime
) -> None:
    marker = ArchiveProgress(
        PROGRESS_PK,
        month_sk(month),
        accounts=accounts,
        records=records,
        staging_cleared=staging_cleared,
        done_at=now,
    )
    with storage_errors("mark_archived_month"):
        marker.save()


# ------------------------------------------------------------------------------ usage


def active_accounts(day: date) -> list[str]:
    """The accounts with usage on ``day``: one rollup per key and model in the day's partition
    of the by_request_and_day index (eventually consistent: the day is long past)."""
    prefix = account_pk("")
    with storage_errors("active_accounts"):
        found = {
            rollup.pk.removeprefix(prefix)
            for rollup in UsageRollup.by_request_and_day.query(usage_day_pk(day))
        }
    return sorted(found)


def usage_of_day(account_id: str, day: date) -> list[UsageRecord]:
    """The account's usage records of one UTC day, oldest first (expired ones included: the
    archive keeps whatever TTL has not deleted yet)."""
    with storage_errors("usage_of_day"):
        return list(
            UsageRecord.query(
                account_pk(account_id),
                UsageRecord.sk.startswith(f"USAGE#{day.isoformat()}T"),
                consistent_read=True,
            )
        )


# ------------------------------------------------------------------------------ batches


def batch_sk(month: str) -> str:
    return f"{BATCH_PREFIX}{month}"


def get_batch(account_id: str, month: str) -> ArchiveBatch | None:
    return get_item(ArchiveBatch, account_pk(account_id), batch_sk(month))


def list_batches(account_id: str) -> list[ArchiveBatch]:
    """The account's batches, newest month first (two years of months at most)."""
    with storage_errors("list_archive_batches"):
        return list(
            ArchiveBatch.query(
                account_pk(account_id),
                ArchiveBatch.sk.startswith(BATCH_PREFIX),
                scan_index_forward=False,
                consistent_read=True,
            )
        )


def delete_batches(account_id: str) -> None:
    """The account's archive index (the objects themselves: ArchiveObjects)."""
    with storage_errors("delete_archive_batches"):
        for batch in list_batches(account_id):
            batch.delete()


def account_archive_prefix(account_id: str) -> str:
    return f"{ARCHIVES}{account_id}/"


def save_batch(
    account_id: str,
    month: str,
    *,
    object_key: str,
    manifest_key: str,
    size_bytes: int,
    record_count: int,
    sha256: str,
    schema_version: int,
    created_at: datetime,
    expires_at: datetime,
) -> ArchiveBatch:
    """Index an account's month, once its objects are stored (a rewrite replaces it)."""
    batch = ArchiveBatch(
        account_pk(account_id),
        batch_sk(month),
        account_id=account_id,
        month=month,
        object_key=object_key,
        manifest_key=manifest_key,
        size_bytes=size_bytes,
        record_count=record_count,
        sha256=sha256,
        schema_version=schema_version,
        created_at=created_at,
        ttl=expires_at,
    )
    with storage_errors("save_archive_batch"):
        batch.save()
    return batch


# ------------------------------------------------------------------------------ objects


def staging_prefix(month: str) -> str:
    return f"{STAGING}{month}/"


def staging_key(account_id: str, day: date) -> str:
    return f"{staging_prefix(day.strftime('%Y-%m'))}{account_id}/{day.isoformat()}.jsonl.gz"


def staged_account(key: str) -> str:
    """The account of a staging object's key."""
    return key.split("/")[2]


def batch_key(account_id: str, month: str) -> str:
    return f"{ARCHIVES}{account_id}/{month}/usage-{month}.jsonl.gz"


def manifest_key(account_id: str, month: str) -> str:
    return f"{ARCHIVES}{account_id}/{month}/manifest.json"


@dataclass(frozen=True)
class ArchiveObjects:
    """The archive bucket through one S3 client; failures become InternalError."""

    client: Any
    bucket: str

    def put(self, key: str, body: bytes | IO[bytes], content_type: str) -> None:
        with _s3_errors("put_object"):
            self.client.put_object(Bucket=self.bucket, Key=key, Body=body, ContentType=content_type)

    def get(self, key: str) -> bytes:
        with _s3_errors("get_object"):
            return self.client.get_object(Bucket=self.bucket, Key=key)["Body"].read()

    def keys(self, prefix: str) -> list[str]:
        """Every key under ``prefix``, in key order."""
        found: list[str] = []
        with _s3_errors("list_objects"):
            pages = self.client.get_paginator("list_objects_v2").paginate(
                Bucket=self.bucket, Prefix=prefix
            )
            for page in pages:
                found.extend(item["Key"] for item in page.get("Contents", []))
        return sorted(found)

    def delete(self, keys: Iterable[str]) -> None:
        pending = list(keys)
        with _s3_errors("delete_objects"):
            for start in range(0, len(pending), DELETE_CHUNK):
                chunk = pending[start : start + DELETE_CHUNK]
                answer = self.client.delete_objects(
                    Bucket=self.bucket,
                    Delete={"Objects": [{"Key": key} for key in chunk], "Quiet": True},
                )
                if answer.get("Errors"):
                    codes = sorted({error.get("Code", "") for error in answer["Errors"]})
                    logger.error("archive objects not deleted", extra={"codes": codes})
                    raise InternalError("Archive objects could not be deleted.")

    def delete_every_version(self, prefix: str) -> int:
        """Every version and delete marker under ``prefix`` (the bucket is versioned: a plain
        delete would only hide the objects). Returns how many were deleted."""
        versions: list[dict[str, str]] = []
        with _s3_errors("list_object_versions"):
            pages = self.client.get_paginator("list_object_versions").paginate(
                Bucket=self.bucket, Prefix=prefix
            )
            for page in pages:
                for item in [*page.get("Versions", []), *page.get("DeleteMarkers", [])]:
                    versions.append({"Key": item["Key"], "VersionId": item["VersionId"]})
        with _s3_errors("delete_objects"):
            for start in range(0, len(versions), DELETE_CHUNK):
                answer = self.client.delete_objects(
                    Bucket=self.bucket,
                    Delete={"Objects": versions[start : start + DELETE_CHUNK], "Quiet": True},
                )
                if answer.get("Errors"):
                    logger.error(
                        "archive versions not deleted", extra={"count": len(answer["Errors"])}
                    )
                    raise InternalError("Archive objects could not be deleted.")
        return len(versions)

    def presigned_get(self, key: str, *, filename: str, expires_seconds: int) -> str:
        params = {
            "Bucket": self.bucket,
            "Key": key,
            "ResponseContentDisposition": f'attachment; filename="{filename}"',
        }
        with _s3_errors("presign_get_object"):
            return self.client.generate_presigned_url(
                "get_object", Params=params, ExpiresIn=expires_seconds
            )


@functools.cache
def archive_objects(settings: Settings) -> ArchiveObjects:
    """One client per container; ``aws_endpoint_url`` points it at a local stand-in."""
    client = boto3.client(
        "s3",
        region_name=settings.region,
        endpoint_url=settings.aws_endpoint_url,
        config=Config(signature_version="s3v4", retries={"mode": "standard"}),
    )
    return ArchiveObjects(client, settings.archive_bucket)


@contextmanager
def _s3_errors(operation: str) -> Iterator[None]:
    try:
        yield
    except (ClientError, BotoCoreError) as error:
        code = error.response["Error"].get("Code") if isinstance(error, ClientError) else None
        logger.exception("archive bucket failure", extra={"operation": operation, "code": code})
        raise InternalError("The archive could not be read or written; try again.") from error
