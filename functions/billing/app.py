"""BillingFunction: an account admin reads the wallet and its ledger (JSON or CSV), starts a
Stripe Checkout top-up and reads the account's payments."""

from tollgate import api, billing
from tollgate.instrumentation import instrumented
from tollgate.settings import get_settings

settings = get_settings()
app = api.management_app()


@app.get("/v1/wallet")
def get_wallet():
    admin = api.caller(app, settings)
    return api.json_response(app, 200, billing.wallet_view(billing.get_wallet(admin.account_id)))


@app.get("/v1/wallet/ledger")
def list_ledger():
    admin = api.caller(app, settings)
    query = app.current_event.get_query_string_value
    if billing.ledger_format(query("format")) == "csv":
        rows, cursor = billing.ledger_export(admin.account_id, cursor=query("cursor"))
        return api.csv_response(app, "tollgate-ledger.csv", billing.ledger_csv(rows), cursor)
    rows, cursor = billing.ledger_page(
        admin.account_id, limit=api.int_query(app, "limit"), cursor=query("cursor")
    )
    return api.json_response(
        app, 200, api.page([billing.ledger_entry_view(row) for row in rows], cursor)
    )


@app.post("/v1/wallet/checkout")
def create_checkout():
    admin = api.caller(app, settings)
    amount = billing.parse_checkout_amount(api.json_body(app), settings)
    session = billing.create_checkout(admin.account_id, amount, settings)
    return api.json_response(app, 201, session)


@app.get("/v1/payments")
def list_payments():
    admin = api.caller(app, settings)
    found, cursor = billing.list_payments(
        admin.account_id,
        limit=api.int_query(app, "limit"),
        cursor=app.current_event.get_query_string_value("cursor"),
    )
    return api.json_response(app, 200, api.page([billing.payment_view(p) for p in found], cursor))


@app.get("/v1/payments/<payment_id>")
def get_payment(payment_id: str):
    admin = api.caller(app, settings)
    return api.json_response(
        app, 200, billing.payment_view(billing.get_payment(admin.account_id, payment_id))
    )


lambda_handler = instrumented(app.resolve)
