"""KeysFunction: an account admin creates, lists, reads, changes, rotates and revokes keys."""

from datetime import timedelta

from tollgate import api, audit, keys, notifications
from tollgate.auth import Principal
from tollgate.instrumentation import instrumented
from tollgate.observability import metrics
from tollgate.permissions import KEYS_MANAGE
from tollgate.settings import get_settings

settings = get_settings()
app = api.management_app()


def record(admin: Principal, action: str, key_id: str, changes=None) -> None:
    audit.record(
        admin.account_id,
        actor=admin.actor,
        action=action,
        target=f"key:{key_id}",
        request_id=api.request_id(app),
        source_ip=api.source_ip(app),
        changes=changes,
    )


def only_own(caller: Principal) -> str | None:
    """Whose keys the caller may change: anyone's (None) or only their own."""
    return None if caller.may(KEYS_MANAGE) else caller.person_id


def notify(admin: Principal, kind: str, key, **extra) -> None:
    """Mail the account's owners about a key: its id, name and who acted, never its secret."""
    context = {"key_id": key.key_id, "key_name": key.name, "actor": admin.actor}
    notifications.send(kind, admin.account_id, context={**context, **extra})


def grace_end(key, body) -> str | None:
    """When the rotated-out secret stops working, for the mail (None: at once)."""
    seconds = body.get("grace_seconds", 0)
    if not seconds or key.rotated_at is None:
        return None
    return f"{key.rotated_at + timedelta(seconds=seconds):%Y-%m-%d %H:%M} UTC"


@app.post("/v1/keys")
def create_key():
    admin = api.caller(app, settings)
    new = keys.parse_new_key(api.json_body(app))
    if admin.person_id:
        new = keys.for_member(new, admin.person_id, any_role=admin.may(KEYS_MANAGE))
    created = keys.create_key(admin.account_id, new)
    view = keys.key_view(created.key, secret=created.secret)
    changes = keys.audited_changes(api.created_fields(view))
    record(admin, "key.created", created.key.key_id, changes)
    notify(admin, "key_created", created.key, role=created.key.role)
    metrics.add_metric(name="KeysCreated", unit="Count", value=1)
    return api.json_response(app, 201, view)


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
    admin = api.caller(app, settings)
    key, changes = keys.update_key(
        admin.account_id, key_id, api.json_body(app), created_by=only_own(admin)
    )
    if changes:
        record(admin, "key.updated", key_id, keys.audited_changes(changes))
    (view,) = keys.key_views([key])
    return api.json_response(app, 200, view)


@app.post("/v1/keys/<key_id>/rotate")
def rotate_key(key_id: str):
    admin = api.caller(app, settings)
    body = api.json_body(app)
    rotated = keys.rotate_key(admin.account_id, key_id, body, created_by=only_own(admin))
    grace = {"grace_seconds": (None, body.get("grace_seconds", 0))}
    record(admin, "key.rotated", key_id, grace)
    notify(admin, "key_rotated", rotated.key, grace_until=grace_end(rotated.key, body))
    return api.json_response(app, 200, keys.key_view(rotated.key, secret=rotated.secret))


@app.delete("/v1/keys/<key_id>")
def revoke_key(key_id: str):
    admin = api.caller(app, settings)
    revoked = keys.revoke_key(admin.account_id, key_id, created_by=only_own(admin))
    record(admin, "key.revoked", key_id, {"status": ("active", "revoked")})
    notify(admin, "key_revoked", revoked)
    metrics.add_metric(name="KeysRevoked", unit="Count", value=1)
    return api.json_response(app, 200, keys.key_view(revoked))


lambda_handler = instrumented(app.resolve)
