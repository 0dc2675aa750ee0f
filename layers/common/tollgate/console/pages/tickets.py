"""Support tickets, the customer's side: the account's tickets (filters, pages), opening one
(pre-filled from a usage row's request or a payment), the thread with its context, replies
with files (uploaded by the browser straight to S3), closing and reopening.

Every action is ``tollgate.tickets.customer``'s, as the API's handlers call it."""

from __future__ import annotations

import functools
import json
import re
from typing import Any
from urllib.parse import urlencode

from aws_lambda_powertools.event_handler import Response

from tollgate import clock
from tollgate.auth import Principal
from tollgate.console import render, session, web
from tollgate.console.routes import page
from tollgate.errors import TollgateError
from tollgate.settings import Settings
from tollgate.tickets import CATEGORIES, STATUSES, attachments, customer, service, views

TICKETS = "/v1/tickets"
TICKET = "/v1/tickets/{ticket_id}"
STATUS_NAMES = {
    "open": "Open",
    "waiting_on_customer": "Waiting on you",
    "waiting_on_support": "Waiting on support",
    "closed": "Closed",
}
_ID_SEPARATORS = re.compile(r"[\s,]+")


def recorder(request: web.ConsoleRequest, caller: Principal) -> customer.Recorder:
    """Audit events of the console's request, as the API records its own."""
    return functools.partial(request.origin.record, caller)


def _page(request: web.ConsoleRequest, settings: Settings, template: str, **context: Any) -> str:
    return render.render(request, settings, template, status_names=STATUS_NAMES, **context)


# ------------------------------------------------------------------------------ the list


@page("/console/tickets")
def ticket_list(request: web.ConsoleRequest, settings: Settings) -> Response:
    caller = session.member(request, "GET", TICKETS, settings)
    status, category = service.parse_list_filters(request.query.get)
    found, cursor = service.list_tickets(
        caller.account_id,
        status=status,
        category=category,
        limit=None,
        cursor=request.query.get("cursor") or None,
    )
    filters = {name: value for name, value in (("status", status), ("category", category)) if value}
    following = f"?{urlencode({**filters, 'cursor': cursor})}" if cursor else None
    body = _page(
        request,
        settings,
        "tickets.html",
        tickets=[views.ticket_summary(ticket) for ticket in found],
        filters=filters,
        statuses=STATUSES,
        categories=CATEGORIES,
        next_page=following,
        paged=bool(request.query.get("cursor")),
    )
    return web.html(request, body)


# ------------------------------------------------------------------------------ opening


@page("/console/tickets/new")
def new_ticket(request: web.ConsoleRequest, settings: Settings) -> Response:
    caller = session.member(request, "POST", TICKETS, settings)
    values = {
        "subject": "",
        "category": "technical" if request.query.get("request_id") else "",
        "body": "",
        "request_ids": request.query.get("request_id", ""),
        "payment_ids": request.query.get("payment_id", ""),
    }
    if values["payment_ids"]:
        values["category"] = "billing"
    return _new_form(request, settings, caller, values)


@page("/console/tickets/new", method="POST")
def open_ticket(request: web.ConsoleRequest, settings: Settings) -> Response:
    caller = session.member(request, "POST", TICKETS, settings)
    values = {
        name: request.field(name)
        for name in ("subject", "category", "body", "request_ids", "payment_ids")
    }
    body: dict[str, Any] = {name: values[name] for name in ("subject", "category", "body")}
    for name in ("request_ids", "payment_ids"):
        ids = [item for item in _ID_SEPARATORS.split(values[name]) if item]
        if ids:
            body[name] = ids
    try:
        ticket, _ = customer.open_ticket(
            caller, body, record=recorder(request, caller), settings=settings
        )
    except TollgateError as refused:
        return _new_form(request, settings, caller, values, refused)
    return web.redirect(request, f"/console/tickets/{ticket.ticket_id}")


def _new_form(
    request: web.ConsoleRequest,
    settings: Settings,
    caller: Principal,
    values: dict[str, str],
    refused: TollgateError | None = None,
) -> Response:
    body = _page(
        request,
        settings,
        "tickets_new.html",
        values=values,
        categories=CATEGORIES,
        payments=customer.shows_payments(caller),
        error=refused.message if refused else None,
        error_param=refused.param if refused else None,
    )
    return web.html(request, body, status=refused.status if refused else 200)


# ------------------------------------------------------------------------------ the thread


@page("/console/tickets/<ticket_id>")
def ticket_thread(request: web.ConsoleRequest, settings: Settings, ticket_id: str) -> Response:
    caller = session.member(request, "GET", TICKET, settings)
    return _thread(request, settings, caller, ticket_id)


def _thread(
    request: web.ConsoleRequest,
    settings: Settings,
    caller: Principal,
    ticket_id: str,
    *,
    draft: str = "",
    uploaded: list[str] | None = None,
    refused: TollgateError | None = None,
) -> Response:
    ticket = customer.read(caller, ticket_id)
    body = _page(
        request,
        settings,
        "tickets_thread.html",
        ticket=ticket,
        draft=draft,
        uploaded=uploaded or [],  # files of a refused reply, sent again with the next try
        now=int(clock.utcnow().timestamp()),
        error=refused.message if refused else None,
        file_types=attachments.TYPES,
        most_files=attachments.MAX_PER_MESSAGE,
    )
    status = refused.status if refused else 200
    return web.html(request, body, status=status, **_upload_policy(settings))


def _upload_policy(settings: Settings) -> dict[str, str]:
    """The thread's CSP also lets the page's script post files to the attachments bucket."""
    if not settings.ticket_attachments_bucket:
        return {}  # no files here: uploads are refused with the API's message
    origin = attachments.upload_origin(settings)
    policy = web.CONTENT_SECURITY_POLICY.replace(
        "connect-src 'self'", f"connect-src 'self' {origin}"
    )
    return {"content-security-policy": policy}


@page("/console/tickets/<ticket_id>/messages", method="POST")
def reply(request: web.ConsoleRequest, settings: Settings, ticket_id: str) -> Response:
    caller = session.member(request, "POST", f"{TICKET}/messages", settings)
    body: dict[str, Any] = {"body": request.field("body")}
    if request.fields("attachment_ids"):
        body["attachment_ids"] = request.fields("attachment_ids")
    try:
        customer.reply(caller, ticket_id, body, record=recorder(request, caller), settings=settings)
    except TollgateError as refused:
        if refused.code == "ticket_not_found":
            raise
        return _thread(
            request,
            settings,
            caller,
            ticket_id,
            draft=body["body"],
            uploaded=body.get("attachment_ids"),
            refused=refused,
        )
    return web.redirect(request, f"/console/tickets/{ticket_id}#latest")


@page("/console/tickets/<ticket_id>/close", method="POST")
def close(request: web.ConsoleRequest, settings: Settings, ticket_id: str) -> Response:
    caller = session.member(request, "POST", f"{TICKET}/close", settings)
    customer.close(caller, ticket_id, record=recorder(request, caller))
    return web.redirect(request, f"/console/tickets/{ticket_id}")


@page("/console/tickets/<ticket_id>/reopen", method="POST")
def reopen(request: web.ConsoleRequest, settings: Settings, ticket_id: str) -> Response:
    caller = session.member(request, "POST", f"{TICKET}/reopen", settings)
    customer.reopen(caller, ticket_id, record=recorder(request, caller))
    return web.redirect(request, f"/console/tickets/{ticket_id}")


# ------------------------------------------------------------------------------ files


@page("/console/tickets/<ticket_id>/attachments", method="POST")
def upload(request: web.ConsoleRequest, settings: Settings, ticket_id: str) -> Response:
    """The presigned POST for one file (asked by console.js): JSON, as the API answers."""
    caller = session.member(request, "POST", f"{TICKET}/attachments", settings)
    declared: dict[str, Any] = {
        "filename": request.field("filename"),
        "content_type": request.field("content_type"),
        "size_bytes": _whole_number(request.field("size_bytes")),
    }
    view = customer.request_upload(
        caller,
        caller.account_id,
        ticket_id,
        declared,
        record=recorder(request, caller),
        settings=settings,
    )
    return web.respond(request, 201, json.dumps(view), "application/json", {})


def _whole_number(text: str) -> int | str:
    """A form's number as the API's JSON would carry it (text stays text: refused there)."""
    return int(text) if text.isascii() and text.isdigit() and len(text) < 12 else text


@page("/console/tickets/<ticket_id>/attachments/<attachment_id>")
def download(
    request: web.ConsoleRequest, settings: Settings, ticket_id: str, attachment_id: str
) -> Response:
    caller = session.member(request, "GET", f"{TICKET}/attachments/{{attachment_id}}", settings)
    return web.elsewhere(request, customer.download_url(caller, ticket_id, attachment_id, settings))
