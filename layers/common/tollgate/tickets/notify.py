"""The mails a ticket sends: to the operator's support address when a customer opens one or
adds to it, to the account's people when support answers.

A mail names the ticket (id, category, status) and links to it; it never quotes what anyone
typed, not even the subject. Like every notification it never fails the action that caused
it: a recipient that cannot be found is logged (by ticket id) and counted, nothing more.
"""

from __future__ import annotations

from typing import Any

from tollgate import notifications
from tollgate.notifications.recipients import owner_emails
from tollgate.observability import logger, metrics
from tollgate.settings import Settings
from tollgate.store import keys as key_store
from tollgate.store.members import get_member
from tollgate.store.models import Ticket

PERSON = "person:"


def ticket_opened(ticket: Ticket, settings: Settings) -> None:
    _to_support("ticket_opened", ticket, settings)


def customer_replied(ticket: Ticket, settings: Settings) -> None:
    _to_support("ticket_customer_replied", ticket, settings)


def support_replied(ticket: Ticket, settings: Settings) -> None:
    """Support answered: the member who opened the ticket (if a person did, and is still a
    member) and the account's owners are told (an essential mail: it is the answer to
    their question)."""
    try:
        to = members_to_tell(ticket)
    except Exception as error:  # the reply is posted; the mail is a consequence
        logger.warning(
            "ticket notification not queued",
            extra={"ticket_id": ticket.ticket_id, "error": type(error).__name__},
        )
        metrics.add_metric(name="NotificationsNotQueued", unit="Count", value=1)
        return
    link = f"{settings.console_url}/tickets/{ticket.ticket_id}"
    notifications.send("ticket_replied", ticket.account_id, to=to, context=_context(ticket, link))


def members_to_tell(ticket: Ticket) -> list[str] | None:
    """The opener's email, if a person opened it, and the owners' (None: the account is gone
    and the mailer drops it)."""
    account = key_store.get_account(ticket.account_id)
    if account is None:
        return None
    found = set(owner_emails(account))
    if ticket.opened_by.startswith(PERSON):
        opener = get_member(ticket.account_id, ticket.opened_by.removeprefix(PERSON))
        if opener is not None:
            found.add(opener.email)
    return sorted(found)


def _to_support(kind: str, ticket: Ticket, settings: Settings) -> None:
    if not settings.support_email:
        return  # no support inbox configured: the queue is where support looks
    link = f"{settings.console_url}/operator/tickets/{ticket.ticket_id}"
    notifications.send(
        kind, ticket.account_id, to=[settings.support_email], context=_context(ticket, link)
    )


def _context(ticket: Ticket, link: str) -> dict[str, Any]:
    return {
        "ticket_id": ticket.ticket_id,
        "category": ticket.category,
        "status": ticket.status,
        "ticket_url": link,
    }
