"""Opening, reading, answering, closing and reopening an account's tickets.

The customer's side and support's share ``post``: a message and the ticket's new status are
one transaction (``store.tickets.add_message``), retried when another writer moved the
thread on meanwhile.
"""

from __future__ import annotations

import secrets
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from tollgate import clock, permissions
from tollgate.auth import Principal
from tollgate.errors import BadRequest, Conflict, Forbidden, NotFound
from tollgate.settings import Settings, get_settings
from tollgate.store import layout
from tollgate.store import tickets as store
from tollgate.store.models import Ticket, TicketAttachment, TicketMessage
from tollgate.store.pagination import page_size
from tollgate.tickets import (
    CATEGORIES,
    CLOSED,
    CUSTOMER,
    MAX_BODY_CHARS,
    MAX_ID_CHARS,
    MAX_MESSAGES,
    MAX_PAYMENT_IDS,
    MAX_REQUEST_IDS,
    MAX_SUBJECT_CHARS,
    OPEN,
    STATUSES,
    SUPPORT,
    WAITING_ON_SUPPORT,
    attachments,
    context,
)
from tollgate.validation import reject_unknown_fields, text_field

REOPEN_WINDOW = timedelta(days=30)
WRITE_ATTEMPTS = 3


@dataclass(frozen=True, slots=True)
class NewTicket:
    subject: str
    category: str
    body: str
    request_ids: list[str] = field(default_factory=list)
    payment_ids: list[str] = field(default_factory=list)


def new_ticket_id(now: datetime) -> str:
    """``tkt_`` + the opening time in milliseconds (hex, so ids sort by it) + randomness."""
    return f"tkt_{int(now.timestamp() * 1000):012x}{secrets.token_hex(8)}"


def parse_new_ticket(body: Mapping[str, Any]) -> NewTicket:
    allowed = ("subject", "category", "body", "request_ids", "payment_ids")
    reject_unknown_fields(body, allowed)
    subject = text_field(body, "subject", required=True, max_length=MAX_SUBJECT_CHARS)
    category = body.get("category")
    if category not in CATEGORIES:
        raise BadRequest(f"'category' must be one of: {', '.join(CATEGORIES)}.", param="category")
    return NewTicket(
        subject=subject,
        category=category,
        body=message_text(body),
        request_ids=_ids(body, "request_ids", MAX_REQUEST_IDS),
        payment_ids=_ids(body, "payment_ids", MAX_PAYMENT_IDS),
    )


def message_text(body: Mapping[str, Any]) -> str:
    text = text_field(body, "body", required=True, max_length=MAX_BODY_CHARS)
    if "\x00" in text:
        raise BadRequest("'body' must not contain NUL characters.", param="body")
    return text


def parse_reply(
    body: Mapping[str, Any], caller: Principal, *, settings: Settings
) -> tuple[str, Callable[[Ticket], list[TicketAttachment]] | None]:
    """A reply's text, and what picks its files from the ticket's uploads (None: no files)."""
    reject_unknown_fields(body, ("body", "attachment_ids"))
    text = message_text(body)
    ids = attachments.parse_attachment_ids(body)
    return text, attachments.picker(ids, author=CUSTOMER, settings=settings) if ids else None


def _ids(body: Mapping[str, Any], name: str, most: int) -> list[str]:
    value = body.get(name)
    if value is None:
        return []
    if not isinstance(value, list) or not all(isinstance(item, str) for item in value):
        raise BadRequest(f"'{name}' must be a list of strings.", param=name)
    unique = list(dict.fromkeys(item.strip() for item in value))
    if len(unique) > most:
        raise BadRequest(f"'{name}' may name at most {most} ids.", param=name)
    if any(not item or len(item) > MAX_ID_CHARS for item in unique):
        raise BadRequest(f"Each of '{name}' must be 1 to {MAX_ID_CHARS} characters.", param=name)
    return unique


def parse_list_filters(query: Callable[[str], str | None]) -> tuple[str | None, str | None]:
    status, category = query("status"), query("category")
    if status is not None and status not in STATUSES:
        raise BadRequest(f"'status' must be one of: {', '.join(STATUSES)}.", param="status")
    if category is not None and category not in CATEGORIES:
        raise BadRequest(f"'category' must be one of: {', '.join(CATEGORIES)}.", param="category")
    return status, category


# ------------------------------------------------------------------------------ customer


def open_ticket(
    caller: Principal, new: NewTicket, *, settings: Settings, now: datetime | None = None
) -> tuple[Ticket, TicketMessage]:
    now = now or clock.utcnow()
    if new.payment_ids and not permissions.role_may(caller.role, permissions.WALLET_READ):
        raise Forbidden(
            "Only members who may read the account's payments can point a ticket at one.",
            code="permission_denied",
        )
    snapshot = context.snapshot(caller.account_id, new.request_ids, new.payment_ids, now=now)
    ticket_id = new_ticket_id(now)
    ticket = Ticket(
        layout.account_pk(caller.account_id),
        layout.ticket_sk(ticket_id),
        ticket_id=ticket_id,
        account_id=caller.account_id,
        subject=new.subject,
        category=new.category,
        status=OPEN,
        opened_by=caller.actor,
        context=snapshot,
        messages=1,
        created_at=now,
        updated_at=now,
        last_customer_at=now,
        gsi1pk=layout.tickets_queue_pk(closed=False),
        gsi1sk=f"{layout.timestamp(now)}#{ticket_id}",
    )
    message = new_message(ticket, 0, author=CUSTOMER, actor=caller.actor, body=new.body, now=now)
    hour = now.replace(minute=0, second=0, microsecond=0)
    store.open_ticket(store.Opening(ticket, message, hour, settings.tickets_per_hour))
    return ticket, message


def list_tickets(
    account_id: str,
    *,
    status: str | None,
    category: str | None,
    limit: int | None,
    cursor: str | None,
    now: datetime | None = None,
) -> tuple[list[Ticket], str | None]:
    query = store.TicketQuery(account_id, status=status, category=category)
    return store.tickets(query, now=now or clock.utcnow(), limit=page_size(limit), cursor=cursor)


def read_ticket(account_id: str, ticket_id: str, *, now: datetime | None = None) -> Ticket:
    """One of the account's tickets; another account's is not found either."""
    ticket = store.get_ticket(account_id, ticket_id, now=now or clock.utcnow())
    if ticket is None:
        raise NotFound(f"No ticket '{ticket_id}' in this account.", code="ticket_not_found")
    return ticket


def customer_reply(
    caller: Principal,
    ticket_id: str,
    body: str,
    *,
    attachments: Callable[[Ticket], list[TicketAttachment]] | None = None,
    now: datetime | None = None,
) -> tuple[Ticket, TicketMessage]:
    """The customer adds to the thread: support's turn next. A closed ticket takes no reply
    (reopen it, within 30 days of closing)."""

    def status_after(ticket: Ticket) -> str:
        if ticket.status == CLOSED:
            raise Conflict(
                "The ticket is closed; reopen it to reply (within 30 days of closing).",
                code="ticket_closed",
            )
        return OPEN if ticket.status == OPEN else WAITING_ON_SUPPORT

    draft = Draft(author=CUSTOMER, actor=caller.actor, body=body, status_after=status_after)
    return post(caller.account_id, ticket_id, draft, attachments=attachments, now=now)


def close(caller: Principal, ticket_id: str, *, now: datetime | None = None) -> Ticket:
    now = now or clock.utcnow()
    ticket = read_ticket(caller.account_id, ticket_id, now=now)
    return close_ticket(ticket, caller.actor, now=now)


def close_ticket(
    ticket: Ticket, actor: str, *, now: datetime, settings: Settings | None = None
) -> Ticket:
    """Close it; the ticket, its thread and its files then expire two years on. The thread
    and the files are marked first and the ticket last, so a close that fails half-way leaves
    the ticket open and closing it again finishes the job; one that loses a race with a new
    message (or another close) takes the marks back unless the ticket is closed."""
    if ticket.status == CLOSED:
        raise Conflict("The ticket is closed already.", code="ticket_closed")
    settings = settings or get_settings()
    expires = now + layout.TICKET_RETENTION
    store.set_retention(ticket, expires)
    attachments.on_close(ticket, settings)
    try:
        store.update_ticket(
            ticket,
            [
                Ticket.status.set(CLOSED),
                Ticket.closed_at.set(now),
                Ticket.closed_by.set(actor),
                Ticket.updated_at.set(now),
                Ticket.gsi1pk.set(layout.tickets_queue_pk(closed=True)),
                Ticket.ttl.set(expires),
            ],
            expected_status=ticket.status,
            expected_messages=int(ticket.messages),
        )
    except Conflict:
        now_there = store.get_ticket(ticket.account_id, ticket.ticket_id, now=now)
        if now_there is not None and now_there.status != CLOSED:
            store.set_retention(now_there, None)
            attachments.on_reopen(now_there, settings)
        raise
    return ticket


def reopen(caller: Principal, ticket_id: str, *, now: datetime | None = None) -> Ticket:
    now = now or clock.utcnow()
    ticket = read_ticket(caller.account_id, ticket_id, now=now)
    if ticket.status != CLOSED:
        raise Conflict("The ticket is not closed.", code="ticket_not_closed")
    if ticket.closed_at is None or now - ticket.closed_at > REOPEN_WINDOW:
        raise Conflict(
            "A ticket can be reopened within 30 days of closing; open a new one instead.",
            code="reopen_window_passed",
        )
    return reopen_ticket(ticket, WAITING_ON_SUPPORT, now=now)


def reopen_ticket(
    ticket: Ticket, status: str, *, now: datetime, settings: Settings | None = None
) -> Ticket:
    store.update_ticket(
        ticket,
        [
            Ticket.status.set(status),
            Ticket.closed_at.remove(),
            Ticket.closed_by.remove(),
            Ticket.updated_at.set(now),
            Ticket.gsi1pk.set(layout.tickets_queue_pk(closed=False)),
            Ticket.ttl.remove(),
        ],
        expected_status=CLOSED,
    )
    store.set_retention(ticket, None)
    attachments.on_reopen(ticket, settings or get_settings())
    return ticket


def reopenable_until(ticket: Ticket) -> datetime | None:
    return ticket.closed_at + REOPEN_WINDOW if ticket.closed_at else None


# ------------------------------------------------------------------------------ the thread


@dataclass(frozen=True, slots=True)
class Draft:
    """A message to post: who writes it, and the ticket's status after it (which may refuse
    the message by raising)."""

    author: str  # customer or support
    actor: str
    body: str
    status_after: Callable[[Ticket], str]
    internal: bool = False
    author_name: str | None = None


def post(
    account_id: str,
    ticket_id: str,
    draft: Draft,
    *,
    attachments: Callable[[Ticket], list[TicketAttachment]] | None = None,
    now: datetime | None = None,
) -> tuple[Ticket, TicketMessage]:
    """Append ``draft`` to the ticket's thread, with the files ``attachments`` picks for it
    (checked against the ticket as read), and move its status on."""
    now = now or clock.utcnow()
    for attempt in range(WRITE_ATTEMPTS):
        ticket = read_ticket(account_id, ticket_id, now=now)
        if int(ticket.messages) >= MAX_MESSAGES:
            raise Conflict(
                f"A ticket holds at most {MAX_MESSAGES} messages; open a new one.",
                code="ticket_full",
            )
        status = draft.status_after(ticket)
        files = attachments(ticket) if attachments else []
        message = new_message(
            ticket,
            int(ticket.messages),
            author=draft.author,
            actor=draft.actor,
            body=draft.body,
            now=now,
            internal=draft.internal,
            author_name=draft.author_name,
            attachment_ids=[file.attachment_id for file in files],
        )
        stamp = Ticket.last_customer_at if draft.author == CUSTOMER else Ticket.last_support_at
        changes = [] if draft.internal else [stamp.set(now)]
        try:
            store.add_message(ticket, message, status=status, changes=changes, attachments=files)
        except Conflict:
            if attempt == WRITE_ATTEMPTS - 1:
                raise
            continue
        ticket.status = status
        ticket.messages = int(ticket.messages) + 1
        ticket.updated_at = now
        return ticket, message
    raise AssertionError("unreachable")


def new_message(
    ticket: Ticket,
    sequence: int,
    *,
    author: str,
    actor: str,
    body: str,
    now: datetime,
    internal: bool = False,
    author_name: str | None = None,
    attachment_ids: list[str] | None = None,
) -> TicketMessage:
    if author not in (CUSTOMER, SUPPORT):
        raise ValueError(f"unknown author {author!r}")
    return TicketMessage(
        ticket.pk,
        layout.ticket_message_sk(ticket.ticket_id, sequence),
        ticket_id=ticket.ticket_id,
        account_id=ticket.account_id,
        message_id="msg_" + secrets.token_hex(12),
        sequence=sequence,
        author=author,
        actor=actor,
        author_name=author_name,
        body=body,
        internal=internal,
        attachment_ids=attachment_ids or [],
        created_at=now,
        ttl=ticket.ttl,  # a note on a closed ticket expires with it
    )


def attachments_of(ticket: Ticket, *, now: datetime | None = None) -> list[TicketAttachment]:
    return store.attachments_of(ticket, now=now or clock.utcnow())


def thread(ticket: Ticket, *, internal: bool, now: datetime | None = None) -> list[TicketMessage]:
    """The thread, oldest first; support's internal notes only when ``internal``."""
    messages = store.thread(ticket, now=now or clock.utcnow())
    return [message for message in messages if internal or not message.internal]
