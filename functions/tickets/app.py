"""TicketsFunction: an account's support tickets, and the operator's queue of them."""

from tollgate import api, permissions
from tollgate.instrumentation import instrumented
from tollgate.settings import get_settings
from tollgate.tickets import service, views

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


lambda_handler = instrumented(app.resolve)
