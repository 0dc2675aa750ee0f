"""AccountFunction: the platform operator creates customer accounts, lists and searches
them, reads one with its flag and wallet, suspends and reinstates them, and adjusts their
wallets (operator routes only; the audit trail is AuditFunction's)."""

from tollgate import accounts, api, audit, billing, keys
from tollgate.instrumentation import instrumented
from tollgate.observability import metrics
from tollgate.operator_controls import account_list, adjustments, suspension
from tollgate.settings import get_settings

settings = get_settings()
app = api.management_app()


@app.post("/operator/accounts")
def create_account():
    api.caller(app, settings)
    created = accounts.create_account(accounts.parse_new_account(api.json_body(app)))
    account_id = created.account.account_id
    audit.record(
        account_id,
        actor=audit.OPERATOR_ACTOR,
        action="account.created",
        target=f"account:{account_id}",
        request_id=api.request_id(app),
        source_ip=app.current_event.request_context.identity.source_ip,
        changes={"status": (None, created.account.status)},
    )
    metrics.add_metric(name="AccountsCreated", unit="Count", value=1)
    body = {
        "account": accounts.account_view(created.account),
        "admin_key": keys.key_view(created.admin_key.key, secret=created.admin_key.secret),
    }
    return api.json_response(app, 201, body)


@app.get("/operator/accounts/<account_id>")
def get_account(account_id: str):
    api.caller(app, settings)
    account = accounts.get_account(account_id)
    view = accounts.operator_account_view(account, billing.get_wallet(account_id))
    return api.json_response(app, 200, view)


@app.get("/operator/accounts")
def list_accounts():
    api.caller(app, settings)
    query = app.current_event.get_query_string_value
    views, cursor = account_list.list_accounts(
        account_list.parse_filter(query), limit=api.int_query(app, "limit"), cursor=query("cursor")
    )
    return api.json_response(app, 200, api.page(views, cursor))


@app.post("/operator/accounts/<account_id>/suspend")
def suspend_account(account_id: str):
    return change_status(account_id, suspend_it=True)


@app.post("/operator/accounts/<account_id>/reinstate")
def reinstate_account(account_id: str):
    return change_status(account_id, suspend_it=False)


def change_status(account_id: str, *, suspend_it: bool):
    api.caller(app, settings)
    change = suspension.change_status(
        account_id,
        suspend_it=suspend_it,
        reason=suspension.parse_reason(api.json_body(app)),
        request_id=api.request_id(app),
        source_ip=api.source_ip(app),
    )
    wallet = billing.get_wallet(account_id)
    return api.json_response(app, 200, accounts.operator_account_view(change.account, wallet))


@app.post("/operator/accounts/<account_id>/adjustments")
def adjust_wallet(account_id: str):
    api.caller(app, settings)
    adjustment = billing.parse_adjustment(api.json_body(app), settings)
    view = adjustments.adjust(
        account_id, adjustment, request_id=api.request_id(app), source_ip=api.source_ip(app)
    )
    return api.json_response(app, 201, view)


lambda_handler = instrumented(app.resolve)
