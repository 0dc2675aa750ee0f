"""What an account's member does to its tickets, with the audit record and mail each action
brings: the API's handlers and the console's pages both call these (one implementation).

``Recorder`` writes an audit event of the caller's request (account, action, target,
changes); each caller binds it to its own request's id and source address.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from tollgate import permissions
from tollgate.auth import Principal
from tollgate.settings import Settings
from tollgate.store.models import Ticket, TicketAttachment, TicketMessage
from tollgate.tickets import CUSTOMER, attachments, notify, service, views

Recorder = Callable[[str, str, str, dict[str, tuple[Any, Any]]], None]


def target(ticket_id: str) -> str:
    return f"ticket:{ticket_id}"


def shows_payments(caller: Principal) -> bool:
    return permissions.role_may(caller.role, permissions.WALLET_READ)


def open_ticket(
    caller: Principal, body: Mapping[str, Any], *, record: Recorder, settings: Settings
) -> tuple[Ticket, TicketMessage]:
    """Open a ticket from the API's body (validated by ``service.parse_new_ticket``)."""
    new = service.parse_new_ticket(body)
    ticket, message = service.open_ticket(caller, new, settings=settings)
    changes = {
        "category": (None, ticket.category),
        "request_ids": (None, new.request_ids or None),
        "payment_ids": (None, new.payment_ids or None),
    }
    record(caller.account_id, "ticket.opened", target(ticket.ticket_id), changes)
    notify.ticket_opened(ticket, settings)
    return ticket, message


def read(caller: Principal, ticket_id: str) -> dict[str, Any]:
    """The ticket as its members see it: thread without internal notes, context."""
    ticket = service.read_ticket(caller.account_id, ticket_id)
    messages = service.thread(ticket, internal=False)
    files = service.attachments_of(ticket)
    return views.ticket_view(ticket, messages, files, show_payments=shows_payments(caller))


def reply(
    caller: Principal,
    ticket_id: str,
    body: Mapping[str, Any],
    *,
    record: Recorder,
    settings: Settings,
) -> tuple[Ticket, TicketMessage, list[TicketAttachment]]:
    """Add the caller's message (and the uploads it claims) to the thread."""
    text, pick = service.parse_reply(body, caller, settings=settings)
    ticket, message = service.customer_reply(caller, ticket_id, text, attachments=pick)
    changes: dict[str, tuple[Any, Any]] = {
        "message_id": (None, message.message_id),
        "status": (None, ticket.status),
    }
    if message.attachment_ids:
        changes["attachment_ids"] = (None, [str(i) for i in message.attachment_ids])
    record(caller.account_id, "ticket.replied", target(ticket_id), changes)
    notify.customer_replied(ticket, settings)
    return ticket, message, service.attachments_of(ticket)


def close(caller: Principal, ticket_id: str, *, record: Recorder) -> Ticket:
    ticket = service.close(caller, ticket_id)
    record(caller.account_id, "ticket.closed", target(ticket_id), {"status": (None, ticket.status)})
    return ticket


def reopen(caller: Principal, ticket_id: str, *, record: Recorder) -> Ticket:
    ticket = service.reopen(caller, ticket_id)
    changes = {"status": ("closed", ticket.status)}
    record(caller.account_id, "ticket.reopened", target(ticket_id), changes)
    return ticket


def request_upload(
    caller: Principal,
    account_id: str,
    ticket_id: str,
    body: Mapping[str, Any],
    *,
    author: str = CUSTOMER,
    record: Recorder,
    settings: Settings,
) -> dict[str, Any]:
    """A pending file of the ticket and the presigned POST the browser uploads it with."""
    declared = attachments.parse_upload(body)
    ticket = service.read_ticket(account_id, ticket_id)
    file, upload = attachments.request_upload(
        ticket, declared, author=author, actor=caller.actor, settings=settings
    )
    changes = {"attachment_id": (None, file.attachment_id)}
    record(ticket.account_id, "ticket.upload_requested", target(ticket_id), changes)
    return {**views.attachment_view(file), "upload": upload}


def download_url(caller: Principal, ticket_id: str, attachment_id: str, settings: Settings) -> str:
    ticket = service.read_ticket(caller.account_id, ticket_id)
    return attachments.download_url(ticket, attachment_id, internal=False, settings=settings)
