"""Tickets as the API shows them to the account's members: no internal note, payments only to
those who may read them (the operator's views are in ``tickets.operator``)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from tollgate.store.models import Ticket, TicketAttachment, TicketMessage
from tollgate.tickets.service import reopenable_until


def _unix(at: datetime | None) -> int | None:
    return int(at.timestamp()) if at else None


def ticket_summary(ticket: Ticket) -> dict[str, Any]:
    """A ticket in a list: no thread, no context."""
    return {
        "object": "ticket",
        "id": ticket.ticket_id,
        "subject": ticket.subject,
        "category": ticket.category,
        "status": ticket.status,
        "assignee": ticket.assignee,
        "messages": int(ticket.messages),
        "created_at": _unix(ticket.created_at),
        "updated_at": _unix(ticket.updated_at),
        "closed_at": _unix(ticket.closed_at),
        "reopenable_until": _unix(reopenable_until(ticket)),
    }


def attachment_view(attachment: TicketAttachment) -> dict[str, Any]:
    return {
        "object": "ticket.attachment",
        "id": attachment.attachment_id,
        "filename": attachment.filename,
        "content_type": attachment.content_type,
        "size_bytes": int(attachment.size_bytes) if attachment.size_bytes is not None else None,
        "status": attachment.status,
        "created_at": _unix(attachment.created_at),
    }


def message_view(
    message: TicketMessage, files: dict[str, TicketAttachment], *, internal: bool = False
) -> dict[str, Any]:
    view = {
        "object": "ticket.message",
        "id": message.message_id,
        "author": message.author,
        "author_name": message.author_name,
        "body": message.body,
        "attachments": [
            attachment_view(files[str(attachment_id)])
            for attachment_id in message.attachment_ids
            if str(attachment_id) in files
        ],
        "created_at": _unix(message.created_at),
    }
    if internal:
        view["internal"] = bool(message.internal)
        view["actor"] = message.actor
    return view


def ticket_view(
    ticket: Ticket,
    messages: list[TicketMessage],
    files: list[TicketAttachment],
    *,
    show_payments: bool,
) -> dict[str, Any]:
    """A ticket with its thread and context, as the account's members see it."""
    by_id = {file.attachment_id: file for file in files}
    context = ticket.context or {}
    return {
        **ticket_summary(ticket),
        "context": {
            "requests": context.get("requests", []),
            "payments": context.get("payments", []) if show_payments else [],
        },
        "thread": [message_view(message, by_id) for message in messages if not message.internal],
    }
