"""A ticket's files: uploaded by the browser straight to S3 through a presigned POST whose
policy fixes the key, the type and the size; claimed by a reply (``picker``), which checks
what really arrived; downloaded through a short-lived presigned GET.

A file is ``pending`` (a day) until a message of its ticket carries it. Only the author kind
that asked for the upload may attach it: a customer never attaches support's file, nor one
of another ticket or account (those are not found in the ticket's items at all).
"""

from __future__ import annotations

import codecs
import re
import secrets
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any
from urllib.parse import urlsplit

from tollgate import clock
from tollgate.errors import BadRequest, Conflict, NotFound
from tollgate.settings import Settings
from tollgate.store import layout
from tollgate.store import ticket_files as store
from tollgate.store import tickets as ticket_store
from tollgate.store.models import Ticket, TicketAttachment
from tollgate.store.ticket_files import TicketFiles, ticket_files
from tollgate.store.ticket_files import account_prefix as account_prefix  # for purge, export
from tollgate.tickets import CLOSED
from tollgate.validation import reject_unknown_fields, text_field

MAX_BYTES = 5 * 1024 * 1024
TYPES = ("image/png", "image/jpeg", "application/pdf", "text/plain")
MAX_PER_MESSAGE = 3
MAX_PENDING = 10  # per ticket at a time
MAX_FILES = 30  # attached, per ticket
MAX_UPLOADS = 40  # asked for, per ticket, ever: 30 files and room for abandoned uploads
MAX_FILENAME_CHARS = 200
UPLOAD_SECONDS = 600
PENDING_FOR = timedelta(days=1)
DOWNLOAD_SECONDS = 300
SNIFF_BYTES = 4096
_MAGIC = {
    "image/png": b"\x89PNG\r\n\x1a\n",
    "image/jpeg": b"\xff\xd8\xff",
    "application/pdf": b"%PDF-",
}
_ATTACHMENT_ID = re.compile(r"att_[0-9a-f]{24}")
_UNSAFE = re.compile(r"[\x00-\x1f\x7f-\x9f\"]")


@dataclass(frozen=True, slots=True)
class Declared:
    """A file as the uploader describes it (S3's policy and ``claim`` check what arrives)."""

    filename: str
    content_type: str
    size_bytes: int


def parse_upload(body: Mapping[str, Any]) -> Declared:
    reject_unknown_fields(body, ("filename", "content_type", "size_bytes"))
    filename = clean_filename(text_field(body, "filename", required=True, max_length=1000))
    content_type = body.get("content_type")
    if content_type not in TYPES:
        raise BadRequest(
            f"'content_type' must be one of: {', '.join(TYPES)}.", param="content_type"
        )
    size = body.get("size_bytes")
    if isinstance(size, bool) or not isinstance(size, int) or not 1 <= size <= MAX_BYTES:
        raise BadRequest(
            f"'size_bytes' must be a whole number of bytes from 1 to {MAX_BYTES} (5 MB).",
            param="size_bytes",
        )
    return Declared(filename, content_type, size)


def clean_filename(raw: str) -> str:
    """The name without any folder, control character or double quote."""
    name = _UNSAFE.sub("", re.split(r"[/\\]", raw)[-1]).strip().lstrip(".")
    if not name:
        raise BadRequest("'filename' must name a file.", param="filename")
    if len(name) > MAX_FILENAME_CHARS:
        raise BadRequest(
            f"'filename' must be at most {MAX_FILENAME_CHARS} characters.", param="filename"
        )
    return name


def request_upload(
    ticket: Ticket,
    declared: Declared,
    *,
    author: str,
    actor: str,
    settings: Settings,
    now: datetime | None = None,
) -> tuple[TicketAttachment, dict[str, Any]]:
    """A pending file of ``ticket`` and the presigned POST that uploads it."""
    now = now or clock.utcnow()
    room_for_an_upload(ticket, now)
    attachment_id = "att_" + secrets.token_hex(12)  # _ATTACHMENT_ID
    attachment = TicketAttachment(
        ticket.pk,
        layout.ticket_attachment_sk(ticket.ticket_id, attachment_id),
        attachment_id=attachment_id,
        ticket_id=ticket.ticket_id,
        account_id=ticket.account_id,
        filename=declared.filename,
        content_type=declared.content_type,
        author=author,
        uploaded_by=actor,
        status="pending",
        created_at=now,
        ttl=now + PENDING_FOR,
    )
    store.add_pending(ticket, attachment, most_uploads=MAX_UPLOADS)
    post = ticket_files(settings).presigned_post(
        store.object_key(attachment),
        content_type=declared.content_type,
        most_bytes=MAX_BYTES,
        expires_seconds=UPLOAD_SECONDS,
    )
    upload = {
        "url": post["url"],
        "fields": post["fields"],
        "expires_at": int((now + timedelta(seconds=UPLOAD_SECONDS)).timestamp()),
    }
    return attachment, upload


def room_for_an_upload(ticket: Ticket, now: datetime) -> None:
    """409 unless the ticket is open, with fewer than 10 uploads waiting and 30 files; the
    count of uploads ever asked for (40 at most) is enforced as the upload is written."""
    if ticket.status == CLOSED:
        raise Conflict("The ticket is closed; reopen it to add files.", code="ticket_closed")
    statuses = [file.status for file in ticket_store.attachments_of(ticket, now=now)]
    if statuses.count("pending") >= MAX_PENDING:
        raise Conflict(
            f"This ticket has {MAX_PENDING} uploads waiting for a reply; send one first.",
            code="too_many_pending_uploads",
        )
    if statuses.count("attached") >= MAX_FILES or int(ticket.uploads or 0) >= MAX_UPLOADS:
        raise Conflict(
            f"A ticket holds at most {MAX_FILES} files; open a new one.",
            code="ticket_file_limit",
        )


def upload_origin(settings: Settings) -> str:
    """Where a browser posts the files (scheme://host[:port]), for a page's CSP: the origin of
    a presigned POST, which is signed locally (no request is made, nothing is written)."""
    post = ticket_files(settings).presigned_post(
        "tickets/origin", content_type="text/plain", most_bytes=1, expires_seconds=1
    )
    parts = urlsplit(post["url"])
    return f"{parts.scheme}://{parts.netloc}"


# ------------------------------------------------------------------------------ claiming


def parse_attachment_ids(body: Mapping[str, Any]) -> list[str]:
    """A reply's ``attachment_ids`` (none when absent)."""
    value = body.get("attachment_ids")
    if value is None:
        return []
    if not isinstance(value, list) or not all(isinstance(item, str) for item in value):
        raise BadRequest("'attachment_ids' must be a list of strings.", param="attachment_ids")
    unique = list(dict.fromkeys(value))
    if len(unique) > MAX_PER_MESSAGE:
        raise BadRequest(
            f"A message carries at most {MAX_PER_MESSAGE} files.", param="attachment_ids"
        )
    if any(not item or len(item) > 64 for item in unique):
        raise BadRequest(
            "Each of 'attachment_ids' must be 1 to 64 characters.", param="attachment_ids"
        )
    return unique


def picker(
    attachment_ids: list[str], *, author: str, settings: Settings
) -> Callable[[Ticket], list[TicketAttachment]]:
    """What claims ``attachment_ids`` for a message of ``author`` on the ticket it is given:
    each one checked (``claim``), with its real size set."""

    def pick(ticket: Ticket) -> list[TicketAttachment]:
        now = clock.utcnow()
        return [claim(ticket, i, author=author, settings=settings, now=now) for i in attachment_ids]

    return pick


def claim(
    ticket: Ticket, attachment_id: str, *, author: str, settings: Settings, now: datetime
) -> TicketAttachment:
    """The ticket's pending upload by ``author``, once what S3 holds is what was declared."""
    file = store.get(ticket, attachment_id, now=now)
    if file is None or file.author != author:
        raise NotFound(f"No upload '{attachment_id}' on this ticket.", code="attachment_not_found")
    if file.status != "pending":
        raise BadRequest(
            f"File '{attachment_id}' is attached to a message already.",
            code="attachment_already_attached",
            param="attachment_ids",
        )
    files = ticket_files(settings)
    file.size_bytes = verified_size(files, file)
    # Tagged before the message is written: if that write fails, the file stays pending on an
    # open ticket (claimable again; deleted when the ticket closes), never an attached file
    # that the pending uploads' rule would expire.
    files.retag(store.object_key(file), content_type=file.content_type, tag="ticket=open")
    return file


def verified_size(files: TicketFiles, file: TicketAttachment) -> int:
    """The uploaded object's size, once it is there, at most 5 MB, of its declared type and
    with that type's first bytes."""
    key = store.object_key(file)
    head = files.head(key)

    def refused(why: str) -> BadRequest:
        return BadRequest(
            f"File '{file.attachment_id}' {why}.", code="attachment_invalid", param="attachment_ids"
        )

    if head is None:
        raise refused("was not uploaded (or its upload is not finished)")
    if not 1 <= head.size_bytes <= MAX_BYTES:
        raise refused("is empty or larger than 5 MB")
    if head.content_type != file.content_type:
        raise refused(f"was not uploaded as {file.content_type}")
    start = files.first_bytes(key, SNIFF_BYTES)
    if not looks_like(file.content_type, start, whole=head.size_bytes <= SNIFF_BYTES):
        raise refused(f"is not a {file.content_type} file")
    return head.size_bytes


def looks_like(content_type: str, start: bytes, *, whole: bool) -> bool:
    """Whether a file's first bytes (``whole``: all of it) are those of ``content_type``."""
    if content_type == "text/plain":
        if b"\x00" in start:
            return False
        try:
            codecs.getincrementaldecoder("utf-8")().decode(start, final=whole)
        except UnicodeDecodeError:
            return False
        return True
    return start.startswith(_MAGIC[content_type])


# ------------------------------------------------------------------------------ downloads


def download_url(ticket: Ticket, attachment_id: str, *, internal: bool, settings: Settings) -> str:
    """A presigned GET (5 minutes) of a file a message of the ticket carries; the customer's
    (``internal`` False) only on messages they see."""
    now = clock.utcnow()
    missing = NotFound("No such file on this ticket.", code="attachment_not_found")
    if not _ATTACHMENT_ID.fullmatch(attachment_id):
        raise missing
    file = store.get(ticket, attachment_id, now=now)
    if file is None or file.status != "attached":
        raise missing
    if not internal:
        seen = {m.message_id for m in ticket_store.thread(ticket, now=now) if not m.internal}
        if file.message_id not in seen:
            raise missing
    return ticket_files(settings).download_url(
        store.object_key(file),
        filename=file.filename,
        content_type=file.content_type,
        expires_seconds=DOWNLOAD_SECONDS,
    )


# ------------------------------------------------------------------------------ retention


def on_close(ticket: Ticket, settings: Settings) -> None:
    """Tag the closed ticket's files for the lifecycle rule; delete whatever else was
    uploaded to it (pending or abandoned uploads, which no lifecycle rule would expire)."""
    attached = _retag(ticket, settings, tag="ticket=closed")
    files = ticket_files(settings)
    prefix = f"{account_prefix(ticket.account_id)}{ticket.ticket_id}/"
    files.delete(key for key in files.keys(prefix) if key not in attached)


def on_reopen(ticket: Ticket, settings: Settings) -> None:
    _retag(ticket, settings, tag="ticket=open")


def _retag(ticket: Ticket, settings: Settings, *, tag: str) -> set[str]:
    """Copy each attached file in place with ``tag``; their keys."""
    files = ticket_files(settings)
    keys = set()
    for file in ticket_store.attachments_of(ticket, now=clock.utcnow()):
        if file.status == "attached":
            key = store.object_key(file)
            files.retag(key, content_type=file.content_type, tag=tag)
            keys.add(key)
    return keys
