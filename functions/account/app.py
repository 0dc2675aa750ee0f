"""AccountFunction: the platform operator creates customer accounts, lists and searches
them, reads one with its flag and wallet, suspends and reinstates them, and adjusts their
wallets (operator routes only; the audit trail is AuditFunction's)."""

from tollgate import accounts, api, audit, billing, keys
from tollgate.instrumentation import instrumented
from tollgate.observability import metrics
from tollgate.operator_controls import account_list, suspension
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
    api.caller(app, settings)
    change = suspension.suspend(account_id, suspension.parse_reason(api.json_body(app)))
    record_status_change(change, "account.suspended")
    suspension.notify_owners(change)
    metrics.add_metric(name="AccountsSuspended", unit="Count", value=1)
    return status_changed(change)


@app.post("/operator/accounts/<account_id>/reinstate")
def reinstate_account(account_id: str):
    api.caller(app, settings)
    change = suspension.reinstate(account_id, suspension.parse_reason(api.json_body(app)))
    record_status_change(change, "account.reinstated")
    suspension.notify_owners(change)
    metrics.add_metric(name="AccountsReinstated", unit="Count", value=1)
    return status_changed(change)


def record_status_change(change: suspension.StatusChange, action: str) -> None:
    account_id = change.account.account_id
    audit.record(
        account_id,
        actor=audit.OPERATOR_ACTOR,
        action=action,
        target=f"account:{account_id}",
        request_id=api.request_id(app),
        source_ip=api.source_ip(app),
        changes=suspension.audit_changes(change),
    )


def status_changed(change: suspension.StatusChange):
    wallet = billing.get_wallet(change.account.account_id)
    return api.json_response(app, 200, accounts.operator_account_view(change.account, wallet))


@app.post("/operator/accounts/<account_id>/adjustments")
def adjust_wallet(account_id: str):
    api.caller(app, settings)
    adjustment = billing.parse_adjustment(api.json_body(app), settings)
    entry, wallet = billing.adjust_wallet(account_id, adjustment)
    view = billing.adjustment_view(
        entry,
        wallet,
        adjustment.direction,
        account_flagged=billing.account_flag(account_id),
    )
    audit.record(
        account_id,
        actor=audit.OPERATOR_ACTOR,
        action="wallet.adjusted",
        target=f"account:{account_id}",
        request_id=api.request_id(app),
        source_ip=api.source_ip(app),
        changes=billing.adjustment_changes(entry, wallet),
    )
    metrics.add_metric(name="WalletAdjustments", unit="Count", value=1)
    return api.json_response(app, 201, view)


lambda_handler = instrumented(app.resolve)
