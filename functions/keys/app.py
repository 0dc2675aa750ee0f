"""KeysFunction: an account admin creates, lists, reads, changes, rotates and revokes keys."""

from tollgate import api, key_actions, keys
from tollgate.instrumentation import instrumented
from tollgate.settings import get_settings

settings = get_settings()
app = api.management_app()


def caller() -> key_actions.Caller:
    return key_actions.Caller(api.caller(app, settings), api.request_id(app), api.source_ip(app))


@app.post("/v1/keys")
def create_key():
    return api.json_response(app, 201, key_actions.create(caller(), api.json_body(app)))


@app.get("/v1/keys")
def list_keys():
    admin = api.caller(app, settings)
    query = app.current_event.get_query_string_value
    found, cursor = keys.list_keys(
        admin.account_id,
        limit=api.int_query(app, "limit"),
        cursor=query("cursor"),
        role=query("role"),
        environment=query("environment"),
        status=query("status"),
    )
    return api.json_response(app, 200, api.page(keys.key_views(found), cursor))


@app.get("/v1/keys/<key_id>")
def get_key(key_id: str):
    admin = api.caller(app, settings)
    (view,) = keys.key_views([keys.get_key(admin.account_id, key_id)])
    return api.json_response(app, 200, view)


@app.patch("/v1/keys/<key_id>")
def update_key(key_id: str):
    return api.json_response(app, 200, key_actions.update(caller(), key_id, api.json_body(app)))


@app.post("/v1/keys/<key_id>/rotate")
def rotate_key(key_id: str):
    return api.json_response(app, 200, key_actions.rotate(caller(), key_id, api.json_body(app)))


@app.delete("/v1/keys/<key_id>")
def revoke_key(key_id: str):
    return api.json_response(app, 200, key_actions.revoke(caller(), key_id))


lambda_handler = instrumented(app.resolve)
