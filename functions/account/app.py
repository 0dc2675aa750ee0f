"""AccountFunction: the platform operator creates customer accounts and adjusts their
wallets; an account admin reads the account's audit trail."""

from tollgate import accounts, api, audit, billing, keys
from tollgate.auth import ADMIN, OPERATOR
from tollgate.instrumentation import instrumented
from tollgate.observability import metrics
from tollgate.settings import get_settings

settings = get_settings()
app = api.management_app()


@app.post("/operator/accounts")
def create_account():
    api.principal(app, OPERATOR, settings)
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


@app.post("/operator/accounts/<account_id>/adjustments")
def adjust_wallet(account_id: str):
    api.principal(app, OPERATOR, settings)
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


@app.get("/v1/audit")
def list_audit_events():
    admin = api.principal(app, ADMIN, settings)
    found, cursor = audit.list_events(
        admin.account_id,
        limit=api.int_query(app, "limit"),
        cursor=app.current_event.get_query_string_value("cursor"),
        **audit.parse_filters(app.current_event.query_string_parameters),
    )
    body = {
        "object": "list",
        "data": [audit.event_view(event) for event in found],
        "has_more": cursor is not None,
        "next_cursor": cursor,
    }
    return api.json_response(app, 200, body)


lambda_handler = instrumented(app.resolve)
