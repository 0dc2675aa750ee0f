"""AccountFunction: the platform operator creates customer accounts."""

from tollgate import accounts, api, keys
from tollgate.auth import OPERATOR
from tollgate.instrumentation import instrumented
from tollgate.observability import metrics
from tollgate.settings import get_settings

settings = get_settings()
app = api.management_app()


@app.post("/operator/accounts")
def create_account():
    api.principal(app, OPERATOR, settings)
    created = accounts.create_account(accounts.parse_new_account(api.json_body(app)))
    metrics.add_metric(name="AccountsCreated", unit="Count", value=1)
    body = {
        "account": accounts.account_view(created.account),
        "admin_key": keys.key_view(created.admin_key.key, secret=created.admin_key.secret),
    }
    return api.json_response(app, 201, body)


lambda_handler = instrumented(app.resolve)
