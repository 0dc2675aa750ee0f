"""KeysFunction: an account admin creates, lists and revokes the account's API keys."""

from tollgate import api, keys
from tollgate.auth import ADMIN
from tollgate.instrumentation import instrumented
from tollgate.observability import metrics
from tollgate.settings import get_settings

settings = get_settings()
app = api.management_app()


@app.post("/v1/keys")
def create_key():
    admin = api.principal(app, ADMIN, settings)
    created = keys.create_key(admin.account_id, keys.parse_new_key(api.json_body(app)))
    metrics.add_metric(name="KeysCreated", unit="Count", value=1)
    return api.json_response(app, 201, keys.key_view(created.key, secret=created.secret))


@app.get("/v1/keys")
def list_keys():
    admin = api.principal(app, ADMIN, settings)
    found, cursor = keys.list_keys(
        admin.account_id,
        limit=api.int_query(app, "limit"),
        cursor=app.current_event.get_query_string_value("cursor"),
    )
    body = {
        "object": "list",
        "data": [keys.key_view(key) for key in found],
        "has_more": cursor is not None,
        "next_cursor": cursor,
    }
    return api.json_response(app, 200, body)


@app.delete("/v1/keys/<key_id>")
def revoke_key(key_id: str):
    admin = api.principal(app, ADMIN, settings)
    revoked = keys.revoke_key(admin.account_id, key_id)
    metrics.add_metric(name="KeysRevoked", unit="Count", value=1)
    return api.json_response(app, 200, keys.key_view(revoked))


lambda_handler = instrumented(app.resolve)
