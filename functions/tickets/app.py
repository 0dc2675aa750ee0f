"""TicketsFunction: an account's support tickets, and the operator's queue of them."""

from tollgate import api, auth, clock, permissions
from tollgate.auth import Principal
from tollgate.errors import NotFound
from tollgate.instrumentation import instrumented
from tollgate.settings import get_settings
from tollgate.store import tickets as ticket_store
from tollgate.store.models import Ticket
from tollgate.tickets import CUSTOMER, SUPPORT, attachments, notify, operator, service, views

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
    notify.ticket_opened(ticket, settings)
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
    notify.customer_replied(ticket, settings)
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


# ------------------------------------------------------------------------------ the operator


def _auditor(caller: auth.Principal, ticket: Ticket) -> operator.Audit:
    """Records each of the operator's changes on the ticket's account as it is made."""

    def audit(action: str, changes: dict) -> None:
        target = _target(ticket.ticket_id)
        api.record_audit(app, caller, ticket.account_id, action, target, changes)

    return audit


@app.get("/operator/tickets")
def operator_queue():
    api.caller(app, settings)
    query = app.current_event.get_query_string_value
    wanted, where = operator.parse_queue(query, now=clock.utcnow())
    found, cursor = operator.list_queue(
        wanted, where, limit=api.int_query(app, "limit"), cursor=query("cursor")
    )
    return api.json_response(app, 200, api.page([operator.queue_item(t) for t in found], cursor))


@app.get("/operator/tickets/<ticket_id>")
def operator_get_ticket(ticket_id: str):
    api.caller(app, settings)
    ticket = operator.find_ticket(ticket_id)
    return api.json_response(app, 200, operator.ticket_view(ticket, settings))


@app.patch("/operator/tickets/<ticket_id>")
def operator_update_ticket(ticket_id: str):
    caller = api.caller(app, settings)
    changes = operator.parse_changes(api.json_body(app))
    ticket = operator.find_ticket(ticket_id)
    operator.update_ticket(ticket, changes, audit=_auditor(caller, ticket))
    return api.json_response(app, 200, operator.queue_item(ticket))


@app.post("/operator/tickets/<ticket_id>/messages")
def operator_reply(ticket_id: str):
    caller = api.caller(app, settings)
    message = operator.parse_support_message(api.json_body(app))
    found = operator.find_ticket(ticket_id)
    ticket, posted = operator.answer(
        found, message, audit=_auditor(caller, found), settings=settings
    )
    view = views.message_view(posted, operator.files_of(ticket), internal=True)
    return api.json_response(app, 201, view)


lambda_handler = instrumented(app.resolve)
