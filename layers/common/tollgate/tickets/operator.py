"""The operator's side of support: the queue of every account's tickets, one ticket with its
context expanded to what the referenced requests and payments are now, status changes,
assignment, and support's replies and internal notes.

The queue is read oldest first by default: the ticket waiting longest is the one to answer
next (``order=newest`` turns it round).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import stripe

from tollgate import clock
from tollgate.errors import BadRequest, Conflict, NotFound
from tollgate.observability import logger
from tollgate.secrets import stripe_api_key
from tollgate.settings import Settings
from tollgate.store import payments as payment_store
from tollgate.store import tickets as store
from tollgate.store import usage as usage_store
from tollgate.store.models import Ticket, TicketAttachment, TicketMessage
from tollgate.store.pagination import page_size
from tollgate.stripe_clients import stripe_client
from tollgate.tickets import (
    CATEGORIES,
    CLOSED,
    OPEN,
    STATUSES,
    SUPPORT,
    WAITING_ON_CUSTOMER,
    WAITING_ON_SUPPORT,
    attachments,
    context,
    notify,
    service,
    views,
)
from tollgate.validation import reject_unknown_fields, text_field

ACTOR = "operator"
MAX_ASSIGNEE_CHARS = 100
MAX_AUTHOR_NAME_CHARS = 100
WAITING_ON = {"customer": (WAITING_ON_CUSTOMER,), "support": (OPEN, WAITING_ON_SUPPORT)}
# One Stripe lookup per payment on the page (at most 5): short, and never retried, so a
# Stripe that hangs cannot take the page past API Gateway's 29 s.
STRIPE_TIMEOUT_SECONDS = 4
STRIPE_UNAVAILABLE = {"error": "unavailable"}


# ------------------------------------------------------------------------------ the queue


@dataclass(frozen=True, slots=True)
class QueueFilter:
    status: str | None = None  # None: every status but closed
    category: str | None = None
    account_id: str | None = None
    waiting_on: str | None = None  # customer, support
    assignee: str | None = None

    def matches(self, ticket: Ticket) -> bool:
        if self.status is None and ticket.status == CLOSED:
            return False  # closed since the index entry was read
        return (
            (self.status is None or ticket.status == self.status)
            and (self.category is None or ticket.category == self.category)
            and (self.account_id is None or ticket.account_id == self.account_id)
            and (self.waiting_on is None or ticket.status in WAITING_ON[self.waiting_on])
            and (self.assignee is None or ticket.assignee == self.assignee)
        )


def parse_queue(
    query: Callable[[str], str | None], *, now: datetime
) -> tuple[QueueFilter, store.QueueQuery]:
    wanted = QueueFilter(
        status=_choice(query, "status", STATUSES),
        category=_choice(query, "category", CATEGORIES),
        account_id=_short(query, "account_id"),
        waiting_on=_choice(query, "waiting_on", tuple(WAITING_ON)),
        assignee=_short(query, "assignee"),
    )
    before = _moment(query, "opened_before")
    hours = query("older_than_hours")
    if hours is not None:
        if before is not None:
            raise BadRequest(
                "Give 'opened_before' or 'older_than_hours', not both.", param="older_than_hours"
            )
        if not re.fullmatch(r"[0-9]{1,6}", hours):
            raise BadRequest("'older_than_hours' must be a whole number.", param="older_than_hours")
        before = now - timedelta(hours=int(hours))
    after = _moment(query, "opened_after")
    if after is not None and before is not None and after > before:
        raise BadRequest(
            "'opened_after' must not be after the end of the range.", param="opened_after"
        )
    order = _choice(query, "order", ("oldest", "newest")) or "oldest"
    where = store.QueueQuery(
        closed=wanted.status == CLOSED,
        opened_after=after,
        opened_before=before,
        newest_first=order == "newest",
    )
    return wanted, where


def _choice(query: Callable[[str], str | None], name: str, allowed: tuple[str, ...]) -> str | None:
    value = query(name)
    if value is not None and value not in allowed:
        raise BadRequest(f"'{name}' must be one of: {', '.join(allowed)}.", param=name)
    return value


def _short(query: Callable[[str], str | None], name: str) -> str | None:
    value = query(name)
    if value is not None and not 0 < len(value) <= MAX_ASSIGNEE_CHARS:
        raise BadRequest(f"'{name}' must be 1 to {MAX_ASSIGNEE_CHARS} characters.", param=name)
    return value


def _moment(query: Callable[[str], str | None], name: str) -> datetime | None:
    value = query(name)
    if value is None:
        return None
    if not re.fullmatch(r"[0-9]{1,11}", value):
        raise BadRequest(f"'{name}' must be a time in unix seconds.", param=name)
    return datetime.fromtimestamp(int(value), tz=UTC)


def list_queue(
    wanted: QueueFilter,
    where: store.QueueQuery,
    *,
    limit: int | None,
    cursor: str | None,
    now: datetime | None = None,
) -> tuple[list[Ticket], str | None]:
    return store.queue(
        where,
        wanted=wanted.matches,
        now=now or clock.utcnow(),
        limit=page_size(limit),
        cursor=cursor,
    )


def waiting_on(ticket: Ticket) -> str | None:
    for side, statuses in WAITING_ON.items():
        if ticket.status in statuses:
            return side
    return None


def queue_item(ticket: Ticket) -> dict[str, Any]:
    """A ticket in the operator's queue: whose it is, who opened it, whose turn it is."""
    return {
        **views.ticket_summary(ticket),
        "account_id": ticket.account_id,
        "opened_by": ticket.opened_by,
        "last_customer_at": _unix(ticket.last_customer_at),
        "last_support_at": _unix(ticket.last_support_at),
        "waiting_on": waiting_on(ticket),
    }


def _unix(at: datetime | None) -> int | None:
    return int(at.timestamp()) if at else None


# ------------------------------------------------------------------------------ one ticket


def find_ticket(ticket_id: str, *, now: datetime | None = None) -> Ticket:
    """Any account's ticket by its id (the pointer names the account)."""
    account_id = store.account_of_ticket(ticket_id)
    if account_id is None:
        raise NotFound(f"No ticket '{ticket_id}'.", code="ticket_not_found")
    return service.read_ticket(account_id, ticket_id, now=now)


def ticket_view(ticket: Ticket, settings: Settings, *, now: datetime | None = None) -> dict:
    """The ticket as support sees it: the whole thread, internal notes included, and each
    referenced request and payment as it was when the ticket was opened and as it is now."""
    now = now or clock.utcnow()
    messages = service.thread(ticket, internal=True, now=now)
    files = {f.attachment_id: f for f in service.attachments_of(ticket, now=now)}
    snapshot = ticket.context or {}
    return {
        **queue_item(ticket),
        "context": {
            "requests": [
                request_now(ticket.account_id, entry, now) for entry in snapshot.get("requests", [])
            ],
            "payments": [
                payment_now(ticket.account_id, entry, settings)
                for entry in snapshot.get("payments", [])
            ],
        },
        "thread": [views.message_view(m, files, internal=True) for m in messages],
    }


def request_now(account_id: str, snapshot: Mapping[str, Any], now: datetime) -> dict[str, Any]:
    """A referenced request: its snapshot and its usage record now (None once expired)."""
    request_id = str(snapshot["request_id"])
    record = usage_store.record_by_request(account_id, request_id, now=now)
    current = context.request_snapshot(record) if record is not None else None
    return {
        "request_id": request_id,
        "snapshot": dict(snapshot),
        "current": current,
        "expired": current is None,
    }


def payment_now(account_id: str, snapshot: Mapping[str, Any], settings: Settings) -> dict[str, Any]:
    """A referenced payment: its snapshot, its record now and its Checkout Session at
    Stripe (``{"error": "unavailable"}`` when Stripe does not answer: the page still does)."""
    payment_id = str(snapshot["payment_id"])
    payment = payment_store.get_payment(account_id, payment_id)
    return {
        "payment_id": payment_id,
        "snapshot": dict(snapshot),
        "current": context.payment_snapshot(payment) if payment is not None else None,
        "stripe": stripe_state(payment_id, settings),
    }


def stripe_state(session_id: str, settings: Settings) -> dict[str, Any]:
    try:
        api_key = stripe_api_key(settings)
        if api_key is None:
            raise LookupError("no Stripe API key")
        session = _stripe(api_key, settings.stripe_api_base).v1.checkout.sessions.retrieve(
            session_id
        )
    except Exception as error:  # whatever Stripe does, support still sees the ticket
        logger.warning("stripe state unavailable", extra={"error": type(error).__name__})
        return dict(STRIPE_UNAVAILABLE)
    return {
        "status": getattr(session, "status", None),
        "payment_status": getattr(session, "payment_status", None),
        "amount_total": getattr(session, "amount_total", None),
        "currency": getattr(session, "currency", None),
        "payment_intent": _id_of(getattr(session, "payment_intent", None)),
    }


def _id_of(value: Any) -> str | None:
    return value if isinstance(value, str) or value is None else getattr(value, "id", None)


def _stripe(api_key: str, api_base: str | None) -> stripe.StripeClient:
    """No retry: five payments must not keep the page past API Gateway's 29 seconds."""
    return stripe_client(api_key, api_base, timeout_seconds=STRIPE_TIMEOUT_SECONDS, retries=0)


# ------------------------------------------------------------------------------ changes


@dataclass(frozen=True, slots=True)
class TicketChanges:
    status: str | None = None
    assignee: str | None = None
    assigns: bool = False  # whether the body named an assignee (null: unassign)


def parse_changes(body: Mapping[str, Any]) -> TicketChanges:
    reject_unknown_fields(body, ("status", "assignee"))
    if not body:
        raise BadRequest("Give 'status', 'assignee' or both.", param="status")
    status = body.get("status")
    if "status" in body and status not in STATUSES:
        raise BadRequest(f"'status' must be one of: {', '.join(STATUSES)}.", param="status")
    assignee = text_field(body, "assignee", max_length=MAX_ASSIGNEE_CHARS) or None
    return TicketChanges(status=status, assignee=assignee, assigns="assignee" in body)


Audit = Callable[[str, dict[str, tuple[Any, Any]]], None]  # records (action, changes)


def update_ticket(
    ticket: Ticket, changes: TicketChanges, *, audit: Audit, now: datetime | None = None
) -> Ticket:
    """Apply a PATCH and ``audit`` each change as soon as it is written (a status changed
    stays audited if the assignment after it fails)."""
    now = now or clock.utcnow()
    if changes.status is not None and changes.status != ticket.status:
        before = change_status(ticket, changes.status, now=now)
        audit("ticket.status_changed", {"status": (before, ticket.status)})
    if changes.assigns and changes.assignee != ticket.assignee:
        assigned_before = ticket.assignee
        assign(ticket, changes.assignee, now=now)
        audit("ticket.assigned", {"assignee": (assigned_before, ticket.assignee)})
    return ticket


def change_status(ticket: Ticket, status: str, *, now: datetime) -> str:
    """Set the ticket's status; the status it had. Closing and reopening go through the
    service, which keeps the retention right."""
    before = str(ticket.status)
    if status == CLOSED:
        service.close_ticket(ticket, ACTOR, now=now)
    elif before == CLOSED:
        service.reopen_ticket(ticket, status, now=now)
    else:
        store.update_ticket(
            ticket,
            [Ticket.status.set(status), Ticket.updated_at.set(now)],
            expected_status=before,
        )
    ticket.status = status
    return before


def assign(ticket: Ticket, assignee: str | None, *, now: datetime) -> None:
    """Assign the ticket to a named support person (None: nobody)."""
    action = Ticket.assignee.set(assignee) if assignee else Ticket.assignee.remove()
    store.update_ticket(ticket, [action, Ticket.updated_at.set(now)], expected_status=ticket.status)
    ticket.assignee = assignee


# ------------------------------------------------------------------------------ replies


@dataclass(frozen=True, slots=True)
class SupportMessage:
    body: str
    internal: bool
    author_name: str | None
    status: str  # after a reply; an internal note leaves the status as it is
    attachment_ids: list[str] = field(default_factory=list)  # support's own uploads


def parse_support_message(body: Mapping[str, Any]) -> SupportMessage:
    reject_unknown_fields(body, ("body", "internal", "author_name", "status", "attachment_ids"))
    internal = body.get("internal", False)
    if not isinstance(internal, bool):
        raise BadRequest("'internal' must be true or false.", param="internal")
    status = body.get("status")
    if internal and status is not None:
        raise BadRequest("An internal note leaves the status alone.", param="status")
    if status is not None and status not in STATUSES:
        raise BadRequest(f"'status' must be one of: {', '.join(STATUSES)}.", param="status")
    name = text_field(body, "author_name", max_length=MAX_AUTHOR_NAME_CHARS) or None
    return SupportMessage(
        body=service.message_text(body),
        internal=internal,
        author_name=name,
        status=status or WAITING_ON_CUSTOMER,
        attachment_ids=attachments.parse_attachment_ids(body),
    )


def post_support_message(
    found: Ticket,
    message: SupportMessage,
    *,
    audit: Audit,
    settings: Settings,
    now: datetime | None = None,
) -> tuple[Ticket, TicketMessage]:
    """Support's reply (the customer's turn next, unless ``status`` says otherwise; ``closed``
    closes the ticket after it) or internal note. A closed ticket takes neither: reopen it
    first (PATCH its status), so that nothing is added to a thread already set to expire."""
    now = now or clock.utcnow()
    before: list[str] = []  # the status the posted message found

    def status_after(ticket: Ticket) -> str:
        before[:] = [str(ticket.status)]
        if ticket.status == CLOSED:
            raise Conflict(
                "The ticket is closed; reopen it (PATCH its status) to add to it.",
                code="ticket_closed",
            )
        if message.internal or message.status == CLOSED:
            return str(ticket.status)
        return message.status

    draft = service.Draft(
        author=SUPPORT,
        actor=ACTOR,
        body=message.body,
        status_after=status_after,
        internal=message.internal,
        author_name=message.author_name,
    )
    files = message.attachment_ids
    pick = attachments.picker(files, author=SUPPORT, settings=settings) if files else None
    ticket, posted = service.post(
        found.account_id, found.ticket_id, draft, attachments=pick, now=now
    )
    action = "ticket.note_added" if message.internal else "ticket.replied"
    audit(action, {"message_id": (None, posted.message_id), "status": (before[0], ticket.status)})
    if not message.internal and message.status == CLOSED:
        was = str(ticket.status)
        service.close_ticket(ticket, ACTOR, now=now)
        ticket.status = CLOSED
        audit("ticket.status_changed", {"status": (was, CLOSED)})
    return ticket, posted


def answer(
    found: Ticket, message: SupportMessage, *, audit: Audit, settings: Settings
) -> tuple[Ticket, TicketMessage]:
    """Post support's reply or note (``post_support_message``); a reply is mailed to the
    customer. The API's route and the console's form both come here."""
    ticket, posted = post_support_message(found, message, audit=audit, settings=settings)
    if not message.internal:
        notify.support_replied(ticket, settings)
    return ticket, posted


def files_of(ticket: Ticket) -> dict[str, TicketAttachment]:
    return {f.attachment_id: f for f in service.attachments_of(ticket)}
