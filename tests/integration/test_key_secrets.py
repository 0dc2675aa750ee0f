"""Every secret of a key, however many rotations old, means the key's one current record:
revocation, a policy change, rotation without grace and expiry act on all of them at once,
on the very next request, on management routes and on every proxy route (issue 10, items 1
and 3). The proxy runs in-process (its ASGI app over the moto-backed hot path, the mock
upstreams behind it) with its key cache warm, as it is on a busy container."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import boto3
import pytest

from devstack.upstreams import RunningUpstreams, start_upstreams
from tests.integration.conftest import RECORDER, event
from tests.support.environment import NAMES, TEMPLATE
from tests.support.iam import denied
from tests.support.proxy_asgi import proxy_app
from tollgate import clock, keys, ledger
from tollgate.errors import Conflict
from tollgate.proxy.app import ProxyApp
from tollgate.secret_keys import digest
from tollgate.store import keys as key_store
from tollgate.store import layout
from tollgate.store.hotpath import Hold, KeyChanged
from tollgate.store.models import Wallet

UPSTREAM_KEYS = {"openai": "sk-mock-openai", "anthropic": "sk-ant-mock", "gemini": "AIza-mock"}
CHEAP = "openai/gpt-4o-mini"
OTHER = "openai/gpt-4o"


@pytest.fixture(scope="module")
def upstreams() -> Iterator[RunningUpstreams]:
    running = start_upstreams(UPSTREAM_KEYS, port=0)
    yield running
    running.stop()


@dataclass
class Reply:
    status: int
    body: Any

    @property
    def code(self) -> str | None:
        return (self.body.get("error") or {}).get("code") if isinstance(self.body, dict) else None


class Proxy:
    """The proxy's ASGI app called the way the Web Adapter calls it, one request at a time."""

    def __init__(self, app: ProxyApp) -> None:
        self.app = app
        self.counter = 0

    def models(self, key: str) -> Reply:
        return self.request("GET", "/v1/models", key)

    def chat(self, key: str, model: str = CHEAP) -> Reply:
        body = {"model": model, "messages": [{"role": "user", "content": "hi"}], "max_tokens": 8}
        return self.request("POST", "/v1/chat/completions", key, body)

    def request(self, method: str, path: str, key: str, body: Any = None) -> Reply:
        self.counter += 1
        return asyncio.run(self._call(method, path, key, body, f"req-{self.counter}"))

    async def _call(self, method: str, path: str, key: str, body: Any, request_id: str) -> Reply:
        raw = json.dumps(body).encode() if body is not None else b""
        context = json.dumps({"requestId": request_id, "identity": {"sourceIp": "203.0.113.9"}})
        scope = {
            "type": "http",
            "method": method,
            "path": path,
            "headers": [
                (b"authorization", f"Bearer {key}".encode()),
                (b"content-type", b"application/json"),
                (b"x-amzn-request-context", context.encode()),
            ],
            "client": ("127.0.0.1", 1),
        }
        sent: list[dict[str, Any]] = []

        async def receive() -> dict[str, Any]:
            return {"type": "http.request", "body": raw, "more_body": False}

        async def send(message: dict[str, Any]) -> None:
            sent.append(message)

        await self.app(scope, receive, send)
        status = next(m["status"] for m in sent if m["type"] == "http.response.start")
        payload = b"".join(m.get("body", b"") for m in sent if m["type"] == "http.response.body")
        return Reply(status, json.loads(payload) if payload else None)


@pytest.fixture
def proxy(hotpath, upstreams, tmp_path) -> Proxy:
    return Proxy(proxy_app(upstreams, UPSTREAM_KEYS, tmp_path, hotpath=hotpath))


def manage(invoke, name: str, admin_key: str, key_id: str, body: Any = None):
    return invoke(
        "KeysFunction", event(name, key=admin_key, body=body, path_parameters={"key_id": key_id})
    )


def rotate(invoke, admin_key: str, key_id: str, grace_seconds: int = 0) -> str:
    body = {"grace_seconds": grace_seconds} if grace_seconds else {}
    answer = manage(invoke, "keys_rotate", admin_key, key_id, body)
    assert answer.status == 200, answer.body
    return answer.body["secret"]


@pytest.fixture
def inference(invoke, new_account):
    """(admin secret, key id, inference secret) of a funded account's inference key."""
    account = new_account()
    ledger.credit(account.account_id, 10_000_000_000, kind="adjustment", reason="test credit")
    created = invoke(
        "KeysFunction",
        event("keys_create", key=account.admin_key, body={"name": "app", "role": "inference"}),
    )
    assert created.status == 201, created.body
    return account.admin_key, created.body["id"], created.body["secret"]


# ------------------------------------------------------------------ management routes


def test_revoking_a_twice_rotated_admin_key_stops_every_secret_it_ever_had(invoke, new_account):
    account = new_account()
    admin2 = invoke(
        "KeysFunction",
        event("keys_create", key=account.admin_key, body={"name": "ops", "role": "admin"}),
    ).body
    second = rotate(invoke, account.admin_key, admin2["id"], grace_seconds=3600)
    third = rotate(invoke, account.admin_key, admin2["id"], grace_seconds=3600)

    assert manage(invoke, "keys_revoke", account.admin_key, admin2["id"]).status == 200

    for secret in (admin2["secret"], second, third):
        listed = invoke("KeysFunction", event("keys_list", key=secret, query={}))
        created = invoke(
            "KeysFunction",
            event("keys_create", key=secret, body={"name": "sneaky", "role": "admin"}),
        )
        assert listed.status == 401, listed.body
        assert listed.body["error"]["code"] == "key_revoked"
        assert created.status == 401


def test_an_old_admin_secret_in_grace_still_works_until_the_key_is_revoked(invoke, new_account):
    account = new_account()
    admin2 = invoke(
        "KeysFunction",
        event("keys_create", key=account.admin_key, body={"name": "ops", "role": "admin"}),
    ).body
    rotate(invoke, account.admin_key, admin2["id"], grace_seconds=3600)
    rotate(invoke, account.admin_key, admin2["id"], grace_seconds=3600)

    listed = invoke("KeysFunction", event("keys_list", key=admin2["secret"], query={}))

    assert listed.status == 200


def test_an_expiry_reaches_every_secret_of_a_twice_rotated_admin_key(
    invoke, new_account, monkeypatch
):
    account = new_account()
    ops = invoke(
        "KeysFunction",
        event("keys_create", key=account.admin_key, body={"name": "ops", "role": "admin"}),
    ).body
    second = rotate(invoke, account.admin_key, ops["id"], grace_seconds=3600)
    third = rotate(invoke, account.admin_key, ops["id"], grace_seconds=3600)
    soon = clock.utcnow() + timedelta(minutes=10)
    manage(
        invoke, "keys_update", account.admin_key, ops["id"], {"expires_at": int(soon.timestamp())}
    )

    later = soon + timedelta(minutes=1)
    monkeypatch.setattr(clock, "utcnow", lambda: later)

    for secret in (ops["secret"], second, third):
        listed = invoke("KeysFunction", event("keys_list", key=secret, query={}))
        assert listed.status == 401, listed.body
        assert listed.body["error"]["code"] == "key_expired"


# ------------------------------------------------------------------ proxy routes


def test_rotation_without_grace_refuses_the_old_secret_on_the_next_proxy_request(
    invoke, proxy, inference
):
    admin_key, key_id, secret = inference
    assert proxy.chat(secret).status == 200  # the key cache now holds the old secret
    assert proxy.models(secret).status == 200

    new_secret = rotate(invoke, admin_key, key_id)

    chat, models = proxy.chat(secret), proxy.models(secret)
    assert (chat.status, chat.code) == (401, "key_rotated")
    assert (models.status, models.code) == (401, "key_rotated")
    assert proxy.chat(new_secret).status == 200


def test_revocation_refuses_every_proxy_route_at_once(invoke, proxy, inference):
    admin_key, key_id, secret = inference
    assert proxy.models(secret).status == 200
    assert proxy.chat(secret).status == 200

    manage(invoke, "keys_revoke", admin_key, key_id)

    models, chat = proxy.models(secret), proxy.chat(secret)
    assert (models.status, models.code) == (401, "key_revoked")
    assert (chat.status, chat.code) == (401, "key_revoked")


def test_an_older_secret_in_grace_obeys_a_new_allowed_models_list(invoke, proxy, inference):
    admin_key, key_id, first = inference
    second = rotate(invoke, admin_key, key_id, grace_seconds=3600)
    rotate(invoke, admin_key, key_id, grace_seconds=3600)
    assert proxy.chat(first, OTHER).status == 200  # cached with the old, open policy

    changed = manage(invoke, "keys_update", admin_key, key_id, {"allowed_models": [CHEAP]})
    assert changed.status == 200, changed.body

    for secret in (first, second):
        refused = proxy.chat(secret, OTHER)
        assert (refused.status, refused.code) == (403, "model_not_allowed"), refused.body
        assert proxy.chat(secret, CHEAP).status == 200


def test_an_expiry_brought_forward_refuses_every_route_once_it_passes(
    invoke, proxy, inference, monkeypatch
):
    admin_key, key_id, secret = inference
    assert proxy.models(secret).status == 200
    assert proxy.chat(secret).status == 200
    soon = clock.utcnow() + timedelta(minutes=10)
    manage(invoke, "keys_update", admin_key, key_id, {"expires_at": int(soon.timestamp())})

    later = soon + timedelta(minutes=1)
    monkeypatch.setattr(clock, "utcnow", lambda: later)

    models, chat = proxy.models(secret), proxy.chat(secret)
    assert (models.status, models.code) == (401, "key_expired")
    assert (chat.status, chat.code) == (401, "key_expired")


def test_a_warm_request_stays_at_two_dynamodb_round_trips(proxy, inference, monkeypatch):
    _, _, secret = inference
    assert proxy.chat(secret).status == 200
    calls: list[str] = []
    client = proxy.app.runtime.hotpath.dynamodb
    original = client.call

    def counted(operation: str, payload: dict) -> dict:
        calls.append(operation)
        return original(operation, payload)

    monkeypatch.setattr(client, "call", counted)

    assert proxy.chat(secret).status == 200

    assert calls == ["TransactWriteItems", "TransactWriteItems"]


# ------------------------------------------------------------------ items of the previous release


def as_previous_release_wrote_it(key_id: str, secret: str) -> None:
    """The key record without a revision, its secret item with the copy of status, role and
    policy the previous release kept there (an open policy, the key active)."""
    table = boto3.resource("dynamodb", region_name=NAMES.region).Table(NAMES.ref("KeysTable"))
    table.update_item(
        Key={"pk": layout.key_pk(key_id), "sk": layout.KEY_SK}, UpdateExpression="REMOVE revision"
    )
    table.update_item(
        Key={"pk": layout.secret_pk(digest(secret)), "sk": layout.SECRET_SK},
        UpdateExpression="SET #status = :active, #role = :role, environment = :empty",
        ExpressionAttributeNames={"#status": "status", "#role": "role"},
        ExpressionAttributeValues={":active": "active", ":role": "inference", ":empty": ""},
    )


def test_a_key_stored_by_the_previous_release_obeys_its_record_not_the_old_copy(
    invoke, proxy, inference
):
    admin_key, key_id, secret = inference
    as_previous_release_wrote_it(key_id, secret)
    assert proxy.chat(secret, OTHER).status == 200

    manage(invoke, "keys_update", admin_key, key_id, {"allowed_models": [CHEAP]})

    refused = proxy.chat(secret, OTHER)
    assert (refused.status, refused.code) == (403, "model_not_allowed")
    assert proxy.chat(secret, CHEAP).status == 200


def test_a_hold_on_a_stale_record_is_refused_and_one_on_a_fresh_record_holds_once(
    hotpath, inference
):
    _, key_id, secret = inference
    record = hotpath.find_key(digest(secret))
    keys.update_key(record.account_id, key_id, {"name": "renamed"})
    now = clock.utcnow()
    hold = Hold(
        "req-stale", record.account_id, key_id, CHEAP, 1_000, now, now + timedelta(minutes=6)
    )

    with pytest.raises(KeyChanged):
        hotpath.hold(hold, record.policy, record)
    hotpath.hold(hold, record.policy, hotpath.find_key(digest(secret)))

    wallet = Wallet.get(layout.account_pk(record.account_id), layout.WALLET_SK)
    assert wallet.held == 1_000


def test_reading_and_proving_a_key_stays_inside_the_proxys_iam_policy(hotpath, inference):
    _, key_id, secret = inference
    proxy_function = TEMPLATE.functions()["ProxyFunction"]

    with RECORDER.recording() as calls:
        record = hotpath.find_key(digest(secret))
        now = clock.utcnow()
        hotpath.hold(
            Hold("req-iam", record.account_id, key_id, CHEAP, 1, now, now + timedelta(minutes=6)),
            record.policy,
            record,
        )

    assert calls
    assert not denied(calls, proxy_function.policies, NAMES)


def test_a_rotation_racing_a_change_is_a_conflict_and_writes_nothing(invoke, inference):
    admin_key, key_id, secret = inference
    stale = key_store.get_key(key_id)
    manage(invoke, "keys_update", admin_key, key_id, {"name": "renamed"})

    with pytest.raises(Conflict) as refused:
        key_store.rotate_key(
            stale,
            digest=digest("tg-new"),
            prefix="tg-new",
            last_four="-new",
            grace_until=None,
            now=clock.utcnow(),
        )

    assert refused.value.code == "key_changed"
    assert key_store.find_secret(digest("tg-new")) is None
    assert key_store.find_secret(digest(secret)).grace_until is None
