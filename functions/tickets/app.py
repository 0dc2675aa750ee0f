"""TicketsFunction: an account's support tickets, and the operator's queue of them."""

from tollgate import api, permissions
from tollgate.auth import Principal
from tollgate.errors import NotFound
from tollgate.instrumentation import instrumented
from tollgate.settings import get_settings
from tollgate.store import tickets as ticket_store
from tollgate.tickets import CUSTOMER, SUPPORT, attachments, service, views

settings = get_settings()
app = api.management_app()


def _target(ticket_id: str) -> str:
    return f"ticket:{ticket_id}"


@app.post("/v1/tickets")
def open_ticket():
    caller = api.caller(app, settings)
    new = service.parse_new_ticket(api.json_body(app))
    ticket, message = service.open_ticket(caller, new, settings=settings)
    changes = {
        "category": (None, ticket.category),
        "request_ids": (None, new.request_ids or None),
        "payment_ids": (None, new.payment_ids or None),
    }
    api.record_audit(
        app, caller, caller.account_id, "ticket.opened", _target(ticket.ticket_id), changes
    )
    show_payments = permissions.role_may(caller.role, permissions.WALLET_READ)
    view = views.ticket_view(ticket, [message], [], show_payments=show_payments)
    return api.json_response(app, 201, view)


@app.get("/v1/tickets")
def list_tickets():
    caller = api.caller(app, settings)
    status, category = service.parse_list_filters(app.current_event.get_query_string_value)
    found, cursor = service.list_tickets(
        caller.account_id,
        status=status,
        category=category,
        limit=api.int_query(app, "limit"),
        cursor=app.current_event.get_query_string_value("cursor"),
    )
    return api.json_response(app, 200, api.page([views.ticket_summary(t) for t in found], cursor))


@app.get("/v1/tickets/<ticket_id>")
def get_ticket(ticket_id: str):
    caller = api.caller(app, settings)
    ticket = service.read_ticket(caller.account_id, ticket_id)
    messages = service.thread(ticket, internal=False)
    files = service.attachments_of(ticket)
    show_payments = permissions.role_may(caller.role, permissions.WALLET_READ)
    return api.json_response(
        app, 200, views.ticket_view(ticket, messages, files, show_payments=show_payments)
    )


@app.post("/v1/tickets/<ticket_id>/messages")
def reply(ticket_id: str):
    caller = api.caller(app, settings)
    body = api.json_body(app)
    text, pick = service.parse_reply(body, caller, settings=settings)
    ticket, message = service.customer_reply(caller, ticket_id, text, attachments=pick)
    changes: dict[str, tuple[None, object]] = {
        "message_id": (None, message.message_id),
        "status": (None, ticket.status),
    }
    if message.attachment_ids:
        changes["attachment_ids"] = (None, [str(i) for i in message.attachment_ids])
    api.record_audit(app, caller, caller.account_id, "ticket.replied", _target(ticket_id), changes)
    files = service.attachments_of(ticket)
    view = views.message_view(message, {file.attachment_id: file for file in files})
    return api.json_response(app, 201, view)


@app.post("/v1/tickets/<ticket_id>/close")
def close(ticket_id: str):
    caller = api.caller(app, settings)
    ticket = service.close(caller, ticket_id)
    changes = {"status": (None, ticket.status)}
    api.record_audit(app, caller, caller.account_id, "ticket.closed", _target(ticket_id), changes)
    return api.json_response(app, 200, views.ticket_summary(ticket))


@app.post("/v1/tickets/<ticket_id>/reopen")
def reopen(ticket_id: str):
    caller = api.caller(app, settings)
    ticket = service.reopen(caller, ticket_id)
    changes = {"status": ("closed", ticket.status)}
    api.record_audit(app, caller, caller.account_id, "ticket.reopened", _target(ticket_id), changes)
    return api.json_response(app, 200, views.ticket_summary(ticket))


# ------------------------------------------------------------------------------ files


def _upload(caller: Principal, account_id: str, ticket_id: str, author: str):
    declared = attachments.parse_upload(api.json_body(app))
    ticket = service.read_ticket(account_id, ticket_id)
    file, upload = attachments.request_upload(
        ticket, declared, author=author, actor=caller.actor, settings=settings
    )
    changes = {"attachment_id": (None, file.attachment_id)}
    api.record_audit(
        app, caller, ticket.account_id, "ticket.upload_requested", _target(ticket_id), changes
    )
    return api.json_response(app, 201, {**views.attachment_view(file), "upload": upload})


def _operators_ticket_account(ticket_id: str) -> str:
    account_id = ticket_store.account_of_ticket(ticket_id)
    if account_id is None:
        raise NotFound(f"No ticket '{ticket_id}'.", code="ticket_not_found")
    return account_id


@app.post("/v1/tickets/<ticket_id>/attachments")
def upload(ticket_id: str):
    caller = api.caller(app, settings)
    return _upload(caller, caller.account_id, ticket_id, CUSTOMER)


@app.get("/v1/tickets/<ticket_id>/attachments/<attachment_id>")
def download(ticket_id: str, attachment_id: str):
    caller = api.caller(app, settings)
    ticket = service.read_ticket(caller.account_id, ticket_id)
    url = attachments.download_url(ticket, attachment_id, internal=False, settings=settings)
    return api.redirect(app, url)


@app.post("/operator/tickets/<ticket_id>/attachments")
def operator_upload(ticket_id: str):
    caller = api.caller(app, settings)  # the operator, before anything is looked up
    return _upload(caller, _operators_ticket_account(ticket_id), ticket_id, SUPPORT)


@app.get("/operator/tickets/<ticket_id>/attachments/<attachment_id>")
def operator_download(ticket_id: str, attachment_id: str):
    api.caller(app, settings)
    ticket = service.read_ticket(_operators_ticket_account(ticket_id), ticket_id)
    url = attachments.download_url(ticket, attachment_id, internal=True, settings=settings)
    return api.redirect(app, url)


lambda_handler = instrumented(app.resolve)
