"""Tickets' files: their items in MetadataTable, their objects in TicketAttachmentsBucket.

Items (MetadataTable, in the account's partition beside the ticket): ``TicketAttachment``,
sk ``TICKETFILE#<ticket id>#<attachment id>``; the ticket's ``uploads`` counts every upload
ever asked for, so that no burst of requests can pass the ticket's limit.

Objects: ``tickets/<account id>/<ticket id>/<attachment id>``, uploaded tagged
``upload=pending`` (the policy demands it; a lifecycle rule expires an upload no message
claimed in two days), tagged ``ticket=open`` when a message claims them, ``ticket=closed``
while their ticket is closed (the bucket's lifecycle rule expires them two years after the
copy that tagged them) and ``ticket=open`` again on reopening.
"""

from __future__ import annotations

import functools
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from urllib.parse import quote

from botocore.exceptions import BotoCoreError, ClientError
from pynamodb.transactions import TransactWrite

from tollgate.errors import Conflict, InternalError
from tollgate.observability import logger
from tollgate.settings import Settings
from tollgate.store import layout
from tollgate.store.archives import ArchiveObjects, archive_objects
from tollgate.store.connection import connection
from tollgate.store.errors import get_item, storage_errors
from tollgate.store.models import Ticket, TicketAttachment

TICKETS = "tickets/"
PENDING_TAGGING = (
    "<Tagging><TagSet><Tag><Key>upload</Key><Value>pending</Value></Tag></TagSet></Tagging>"
)


def account_prefix(account_id: str) -> str:
    return f"{TICKETS}{account_id}/"


def object_key(attachment: TicketAttachment) -> str:
    return (
        f"{account_prefix(attachment.account_id)}{attachment.ticket_id}/{attachment.attachment_id}"
    )


# ------------------------------------------------------------------------------ items


def add_pending(ticket: Ticket, attachment: TicketAttachment, *, most_uploads: int) -> None:
    """Write a pending file and count it against the ticket's uploads, while the ticket is
    still open and under ``most_uploads`` (a 409 otherwise, and nothing written)."""
    refused = Conflict(
        "The ticket was closed or reached its upload limit meanwhile.", code="ticket_changed"
    )
    with (
        storage_errors("add_ticket_upload", conditions={0: refused, 1: refused}),
        TransactWrite(connection=connection()) as transaction,
    ):
        transaction.save(attachment, condition=TicketAttachment.sk.does_not_exist())
        transaction.update(
            ticket,
            actions=[Ticket.uploads.add(1)],
            condition=Ticket.sk.exists()
            & (Ticket.status != "closed")
            & (Ticket.uploads.does_not_exist() | (Ticket.uploads < most_uploads)),
        )


def get(ticket: Ticket, attachment_id: str, *, now: datetime) -> TicketAttachment | None:
    """The ticket's file (another ticket's or account's is not found), unless expired."""
    found = get_item(
        TicketAttachment, ticket.pk, layout.ticket_attachment_sk(ticket.ticket_id, attachment_id)
    )
    if found is None or (found.ttl is not None and found.ttl <= now):
        return None
    return found


# ------------------------------------------------------------------------------ objects


@dataclass(frozen=True)
class Head:
    size_bytes: int
    content_type: str


@dataclass(frozen=True)
class TicketFiles(ArchiveObjects):
    """The attachments bucket through the archive bucket's S3 client (``delete_every_version``
    and the rest come from ArchiveObjects)."""

    def presigned_post(
        self, key: str, *, content_type: str, most_bytes: int, expires_seconds: int
    ) -> dict[str, Any]:
        """A browser upload of exactly ``key``, of ``content_type``, 1 to ``most_bytes``."""
        conditions: list[Any] = [
            {"Content-Type": content_type},
            {"tagging": PENDING_TAGGING},
            ["content-length-range", 1, most_bytes],
        ]
        with _s3_errors("presign_post_object"):
            return self.client.generate_presigned_post(
                Bucket=self.bucket,
                Key=key,
                Fields={"Content-Type": content_type, "tagging": PENDING_TAGGING},
                Conditions=conditions,
                ExpiresIn=expires_seconds,
            )

    def head(self, key: str) -> Head | None:
        """The object's size and stored type; None when nothing was uploaded there."""
        try:
            found = self.client.head_object(Bucket=self.bucket, Key=key)
        except ClientError as error:
            if error.response["Error"].get("Code") in ("404", "NoSuchKey", "NotFound"):
                return None
            raise _failure("head_object", error) from error
        except BotoCoreError as error:
            raise _failure("head_object", error) from error
        return Head(int(found["ContentLength"]), found.get("ContentType", ""))

    def first_bytes(self, key: str, count: int) -> bytes:
        with _s3_errors("get_object_range"):
            answer = self.client.get_object(
                Bucket=self.bucket, Key=key, Range=f"bytes=0-{count - 1}"
            )
            return answer["Body"].read()

    def retag(self, key: str, *, content_type: str, tag: str) -> None:
        """Copy the object onto itself with ``tag`` as its only tag: the copy is a new object
        to the lifecycle rule, whose two years start again."""
        with _s3_errors("copy_object"):
            self.client.copy_object(
                Bucket=self.bucket,
                Key=key,
                CopySource={"Bucket": self.bucket, "Key": key},
                ContentType=content_type,
                MetadataDirective="REPLACE",
                TaggingDirective="REPLACE",
                Tagging=tag,
            )

    def delete_one(self, key: str) -> None:
        with _s3_errors("delete_object"):
            self.client.delete_object(Bucket=self.bucket, Key=key)

    def download_url(
        self, key: str, *, filename: str, content_type: str, expires_seconds: int
    ) -> str:
        """A presigned GET that the browser saves as ``filename`` (RFC 6266: an ASCII
        fallback, and the UTF-8 name)."""
        fallback = filename.encode("ascii", "replace").decode().replace("?", "_")
        disposition = f"attachment; filename=\"{fallback}\"; filename*=UTF-8''{quote(filename)}"
        params = {
            "Bucket": self.bucket,
            "Key": key,
            "ResponseContentDisposition": disposition,
            "ResponseContentType": content_type,
        }
        with _s3_errors("presign_get_object"):
            return self.client.generate_presigned_url(
                "get_object", Params=params, ExpiresIn=expires_seconds
            )


@functools.cache
def ticket_files(settings: Settings) -> TicketFiles:
    """The attachments bucket (one S3 client per container, ``aws_endpoint_url`` honoured)."""
    if not settings.ticket_attachments_bucket:
        raise InternalError("Ticket attachments are not configured (TICKET_ATTACHMENTS_BUCKET).")
    return TicketFiles(archive_objects(settings).client, settings.ticket_attachments_bucket)


def _failure(operation: str, error: Exception) -> InternalError:
    code = error.response["Error"].get("Code") if isinstance(error, ClientError) else None
    logger.error("ticket files failure", extra={"operation": operation, "code": code})
    return InternalError("The ticket's files could not be read or written; try again.")


@contextmanager
def _s3_errors(operation: str) -> Iterator[None]:
    try:
        yield
    except (ClientError, BotoCoreError) as error:
        raise _failure(operation, error) from error
