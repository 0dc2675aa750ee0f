"""TicketsFunction: an account's support tickets, and the operator's queue of them."""

from tollgate import api, auth, clock
from tollgate.auth import Principal
from tollgate.errors import NotFound
from tollgate.instrumentation import instrumented
from tollgate.settings import get_settings
from tollgate.store import tickets as ticket_store
from tollgate.store.models import Ticket
from tollgate.tickets import (
    CUSTOMER,
    SUPPORT,
    attachments,
    customer,
    operator,
    service,
    views,
)

settings = get_settings()
app = api.management_app()


def _target(ticket_id: str) -> str:
    return customer.target(ticket_id)


def _recorder(caller: Principal) -> customer.Recorder:
    """Audit events of this request's caller."""

    def record(account_id: str, action: str, target: str, changes: dict) -> None:
        api.record_audit(app, caller, account_id, action, target, changes)

    return record


@app.post("/v1/tickets")
def open_ticket():
    caller = api.caller(app, settings)
    body = api.json_body(app)
    ticket, message = customer.open_ticket(
        caller, body, record=_recorder(caller), settings=settings
    )
    view = views.ticket_view(ticket, [message], [], show_payments=customer.shows_payments(caller))
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
    return api.json_response(app, 200, customer.read(caller, ticket_id))


@app.post("/v1/tickets/<ticket_id>/messages")
def reply(ticket_id: str):
    caller = api.caller(app, settings)
    body = api.json_body(app)
    _, message, files = customer.reply(
        caller, ticket_id, body, record=_recorder(caller), settings=settings
    )
    view = views.message_view(message, {file.attachment_id: file for file in files})
    return api.json_response(app, 201, view)


@app.post("/v1/tickets/<ticket_id>/close")
def close(ticket_id: str):
    caller = api.caller(app, settings)
    ticket = customer.close(caller, ticket_id, record=_recorder(caller))
    return api.json_response(app, 200, views.ticket_summary(ticket))


@app.post("/v1/tickets/<ticket_id>/reopen")
def reopen(ticket_id: str):
    caller = api.caller(app, settings)
    ticket = customer.reopen(caller, ticket_id, record=_recorder(caller))
    return api.json_response(app, 200, views.ticket_summary(ticket))


# ------------------------------------------------------------------------------ files


def _upload(caller: Principal, account_id: str, ticket_id: str, author: str):
    view = customer.request_upload(
        caller,
        account_id,
        ticket_id,
        api.json_body(app),
        author=author,
        record=_recorder(caller),
        settings=settings,
    )
    return api.json_response(app, 201, view)


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
    return api.redirect(app, customer.download_url(caller, ticket_id, attachment_id, settings))


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
