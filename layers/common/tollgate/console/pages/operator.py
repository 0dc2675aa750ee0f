"""The operator area under /console/operator/: sign-in with the operator key, accounts
(search, status, flag, balance; suspend, reinstate, adjust) and the support queue (a ticket
with its context; replies, internal notes, status and assignment). Every page but sign-in
needs the operator's session (``operator_session``); a member's session is not one. Each
action calls the layer function the ``/operator/...`` API route calls."""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any

from aws_lambda_powertools.event_handler import Response

from tollgate import accounts, billing, clock, permissions, tickets
from tollgate.auth import Principal
from tollgate.console import operator_session, render, web
from tollgate.console.routes import Handler, page
from tollgate.errors import Forbidden, Unauthenticated
from tollgate.operator_controls import account_list, adjustments, suspension
from tollgate.settings import Settings
from tollgate.tickets import attachments
from tollgate.tickets import operator as queue

HOME = "/console/operator/accounts"
SIGN_IN = "/console/operator/sign-in"
NOTICES = {  # what the page says after an action (never text from the query itself)
    "adjusted": "The adjustment was made.",
    "suspended": "The account is suspended; its owners were told why.",
    "reinstated": "The account is reinstated; its owners were told.",
    "replied": "Your reply was sent to the customer.",
    "noted": "The internal note was added.",
    "updated": "The ticket was updated.",
}


def operator_page(rule: str, *, method: str = "GET") -> Callable[[Handler], Handler]:
    """A page for the operator only: anyone else is sent to the operator's sign-in."""

    def register(handler: Handler) -> Handler:
        @functools.wraps(handler)
        def guarded(request: web.ConsoleRequest, settings: Settings, **params: str) -> Response:
            if not operator_session.is_operator(request, settings):
                return web.redirect(request, SIGN_IN)
            return handler(request, settings, **params)

        # public to the member session's check: this one is the operator's own
        page(rule, method=method, public=True)(guarded)
        return handler

    return register


def _page(request: web.ConsoleRequest, settings: Settings, template: str, **context: Any) -> str:
    notice = NOTICES.get(request.query.get("done", ""))
    return render.render(request, settings, template, notice=notice, **context)


def _query(request: web.ConsoleRequest) -> Callable[[str], str | None]:
    """The query as the API's parsers read it: an empty form field is no filter."""
    return lambda name: request.query.get(name, "").strip() or None


OPERATOR = Principal(role=permissions.OPERATOR)  # as the API names the operator in the trail


def _audit(request: web.ConsoleRequest, account_id: str, target: str) -> queue.Audit:
    return lambda action, changes: request.origin.record(
        OPERATOR, account_id, action, target, changes
    )


# ------------------------------------------------------------------------------ sign-in


@page("/console/operator", public=True)
def operator_home(request: web.ConsoleRequest, settings: Settings) -> Response:
    signed_in = operator_session.is_operator(request, settings)
    return web.redirect(request, HOME if signed_in else SIGN_IN)


@page(SIGN_IN, public=True)
def sign_in_page(request: web.ConsoleRequest, settings: Settings) -> Response:
    return web.html(request, _page(request, settings, "operator_sign_in.html", error=None))


@page(SIGN_IN, method="POST", public=True)
def sign_in(request: web.ConsoleRequest, settings: Settings) -> Response:
    try:
        operator_session.sign_in(request, settings, request.field("operator_key"))
    except (Unauthenticated, Forbidden) as refused:
        # answered here: the console's own 401 handling is the member's sign-in
        body = _page(request, settings, "operator_sign_in.html", error=refused.message)
        return web.html(request, body, status=refused.status)
    return web.redirect(request, HOME)


@page("/console/operator/sign-out", method="POST", public=True)
def sign_out(request: web.ConsoleRequest, settings: Settings) -> Response:
    operator_session.sign_out(request)
    return web.redirect(request, SIGN_IN)


# ------------------------------------------------------------------------------ accounts


@operator_page(HOME)
def account_search(request: web.ConsoleRequest, settings: Settings) -> Response:
    query = _query(request)
    found, cursor = account_list.list_accounts(
        account_list.parse_filter(query), limit=None, cursor=query("cursor")
    )
    filters = {name: request.query.get(name, "") for name in ("q", "status", "flagged")}
    next_query = {**{k: v for k, v in filters.items() if v}, "cursor": cursor} if cursor else None
    body = _page(
        request,
        settings,
        "operator_accounts.html",
        accounts=found,
        filters=filters,
        statuses=account_list.STATUSES,
        next_query=next_query,
    )
    return web.html(request, body)


@operator_page("/console/operator/accounts/<account_id>")
def account_page(request: web.ConsoleRequest, settings: Settings, account_id: str) -> Response:
    account = accounts.get_account(account_id)
    view = accounts.operator_account_view(account, billing.get_wallet(account_id))
    body = _page(request, settings, "operator_account.html", account=view)
    return web.html(request, body)


@operator_page("/console/operator/accounts/<account_id>/status", method="POST")
def account_status(request: web.ConsoleRequest, settings: Settings, account_id: str) -> Response:
    suspend_it = request.field("change") == "suspend"
    suspension.change_status(
        account_id,
        suspend_it=suspend_it,
        reason=suspension.parse_reason({"reason": request.field("reason")}),
        request_id=request.request_id,
        source_ip=request.source_ip,
    )
    done = "suspended" if suspend_it else "reinstated"
    return web.redirect(request, f"/console/operator/accounts/{account_id}?done={done}")


@operator_page("/console/operator/accounts/<account_id>/adjustments", method="POST")
def adjust(request: web.ConsoleRequest, settings: Settings, account_id: str) -> Response:
    form = {name: request.field(name) for name in ("amount_usd", "direction", "reason")}
    adjustment = billing.parse_adjustment(form, settings)
    adjustments.adjust(
        account_id, adjustment, request_id=request.request_id, source_ip=request.source_ip
    )
    return web.redirect(request, f"/console/operator/accounts/{account_id}?done=adjusted")


# ------------------------------------------------------------------------------ tickets

QUEUE_FILTERS = (
    "status",
    "category",
    "waiting_on",
    "assignee",
    "account_id",
    "older_than_hours",
    "order",
)


@operator_page("/console/operator/tickets")
def ticket_queue(request: web.ConsoleRequest, settings: Settings) -> Response:
    query = _query(request)
    wanted, where = queue.parse_queue(query, now=clock.utcnow())
    found, cursor = queue.list_queue(wanted, where, limit=None, cursor=query("cursor"))
    filters = {name: request.query.get(name, "") for name in QUEUE_FILTERS}
    next_query = {**{k: v for k, v in filters.items() if v}, "cursor": cursor} if cursor else None
    body = _page(
        request,
        settings,
        "operator_tickets.html",
        tickets=[queue.queue_item(ticket) for ticket in found],
        filters=filters,
        statuses=tickets.STATUSES,
        categories=tickets.CATEGORIES,
        next_query=next_query,
    )
    return web.html(request, body)


@operator_page("/console/operator/tickets/<ticket_id>")
def ticket_page(request: web.ConsoleRequest, settings: Settings, ticket_id: str) -> Response:
    ticket = queue.ticket_view(queue.find_ticket(ticket_id), settings)
    body = _page(
        request, settings, "operator_ticket.html", ticket=ticket, statuses=tickets.STATUSES
    )
    return web.html(request, body)


@operator_page("/console/operator/tickets/<ticket_id>/attachments/<attachment_id>")
def download(
    request: web.ConsoleRequest, settings: Settings, ticket_id: str, attachment_id: str
) -> Response:
    """A file of the thread (internal notes' too), as GET /operator/tickets/…/attachments/…
    gives it: a five-minute presigned GET."""
    ticket = queue.find_ticket(ticket_id)
    url = attachments.download_url(ticket, attachment_id, internal=True, settings=settings)
    return web.elsewhere(request, url)


@operator_page("/console/operator/tickets/<ticket_id>/messages", method="POST")
def post_message(request: web.ConsoleRequest, settings: Settings, ticket_id: str) -> Response:
    internal = request.field("kind") == "note"
    fields: dict[str, Any] = {"body": request.field("body"), "internal": internal}
    if not internal and request.field("status"):
        fields["status"] = request.field("status")
    message = queue.parse_support_message(fields)
    found = queue.find_ticket(ticket_id)
    record = _audit(request, found.account_id, f"ticket:{ticket_id}")
    queue.answer(found, message, audit=record, settings=settings)
    done = "noted" if internal else "replied"
    return web.redirect(request, f"/console/operator/tickets/{ticket_id}?done={done}")


@operator_page("/console/operator/tickets/<ticket_id>/changes", method="POST")
def change_ticket(request: web.ConsoleRequest, settings: Settings, ticket_id: str) -> Response:
    changes = queue.parse_changes(
        {"status": request.field("status"), "assignee": request.field("assignee")}
    )
    ticket = queue.find_ticket(ticket_id)
    record = _audit(request, ticket.account_id, f"ticket:{ticket_id}")
    queue.update_ticket(ticket, changes, audit=record)
    return web.redirect(request, f"/console/operator/tickets/{ticket_id}?done=updated")
