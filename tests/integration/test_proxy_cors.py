"""Browsers on the inference API: a key's allowed_origins, the preflight that carries no key,
and the origin index the keys service keeps for it (moto, the proxy's app in-process, the
mock upstreams; every AWS call checked against the function's IAM)."""

from __future__ import annotations

import asyncio
from typing import Any

from tests.integration.conftest import as_person, event
from tests.support.proxy_asgi import Exchange, call
from tollgate import keys
from tollgate.proxy.app import ProxyApp
from tollgate.store.layout import origin_pk
from tollgate.store.models import KeyOrigin

APP = "https://app.example.com"
OTHER = "https://evil.example.net"
CHAT = "/v1/chat/completions"
MODEL = "openai/gpt-4.1"
SDK_HEADERS = "authorization, content-type, x-stainless-os, x-stainless-retry-count"


def chat(app: ProxyApp, key: str, origin: str, *, stream: bool = False) -> Exchange:
    body = {"model": MODEL, "messages": [{"role": "user", "content": "Hi"}], "stream": stream}
    return asyncio.run(call(app, CHAT, body, key=key, headers={"Origin": origin}))


def preflight(app: ProxyApp, origin: str, path: str = CHAT, **asked: str) -> Exchange:
    headers = {
        "Origin": origin,
        "Access-Control-Request-Method": asked.get("method", "POST"),
        "Access-Control-Request-Headers": asked.get("headers", SDK_HEADERS),
    }
    return asyncio.run(call(app, path, None, key="", method="OPTIONS", headers=headers))


def has_no_cors(answer: Exchange) -> bool:
    return not any(name.startswith("access-control-") for name in answer.headers)


def test_a_browser_on_an_allowed_origin_reads_the_answer_and_the_stream(app, customer):
    key = customer(allowed_origins=[APP]).api_key

    for stream in (False, True):
        answer = chat(app, key, APP, stream=stream)

        assert answer.status == 200, answer.body
        assert answer.headers["access-control-allow-origin"] == APP
        assert answer.headers["vary"] == "Origin"
        exposed = answer.headers["access-control-expose-headers"]
        assert {"x-request-id", "x-tollgate-cost", "retry-after"} <= set(exposed.split(", "))
        assert "access-control-allow-credentials" not in answer.headers


def test_another_origin_is_refused_in_the_clients_format_without_cors_headers(app, customer):
    key = customer(allowed_origins=[APP]).api_key
    no_browser_key = customer().api_key

    refused = chat(app, key, OTHER)
    unlisted = chat(app, no_browser_key, APP)
    body = {"model": MODEL, "max_tokens": 10, "messages": [{"role": "user", "content": "Hi"}]}
    anthropic = asyncio.run(call(app, "/v1/messages", body, key=key, headers={"Origin": OTHER}))

    for answer in (refused, unlisted):
        assert answer.status == 403
        assert answer.json()["error"]["code"] == "origin_not_allowed"
        assert has_no_cors(answer)
    assert anthropic.status == 403 and has_no_cors(anthropic)
    assert anthropic.json()["error"]["type"] == "permission_error"
    assert anthropic.json()["type"] == "error"


def test_an_origin_taken_off_a_cached_key_is_refused_at_once(app, customer):
    key = customer(allowed_origins=[APP, OTHER])
    assert chat(app, key.api_key, APP).status == 200  # the proxy now holds the key in its cache

    keys.update_key(key.account_id, key.key_id, {"allowed_origins": [OTHER]})
    answer = chat(app, key.api_key, APP)

    assert answer.status == 403 and has_no_cors(answer)
    assert answer.json()["error"]["code"] == "origin_not_allowed"


def test_a_preflight_passes_for_an_origin_some_key_allows_and_fails_for_another(app, customer):
    customer(allowed_origins=[APP])

    allowed = preflight(app, APP)
    other = preflight(app, OTHER)
    odd_header = preflight(app, APP, headers="authorization, x-forwarded-for")
    wrong_method = preflight(app, APP, method="DELETE")

    assert allowed.status == 204
    assert allowed.headers["access-control-allow-origin"] == APP
    assert allowed.headers["access-control-allow-methods"] == "POST"
    assert allowed.headers["access-control-allow-headers"] == SDK_HEADERS
    assert allowed.headers["access-control-max-age"] == "600"
    assert allowed.headers["vary"] == "Origin"
    for refused in (other, odd_header, wrong_method):
        assert refused.status == 403 and has_no_cors(refused)


def test_a_revoked_keys_origin_no_longer_passes_a_preflight_unless_another_key_allows_it(
    app, customer
):
    mine, theirs = customer(allowed_origins=[APP]), customer(allowed_origins=[APP])

    keys.revoke_key(mine.account_id, mine.key_id)
    still = preflight(app, APP)
    keys.revoke_key(theirs.account_id, theirs.key_id)
    gone = preflight(app, APP)

    assert still.status == 204
    assert gone.status == 403 and has_no_cors(gone)


def test_a_removed_members_key_and_a_deleted_account_close_their_origins_to_preflights(
    app, invoke, new_account, signed_in_member
):
    account = new_account()
    leaving = signed_in_member(account.account_id, "developer")
    body = {"name": "web", "role": "inference", "allowed_origins": [APP]}
    made = as_person(event("keys_create", key=None, body=body), leaving, account.account_id)
    assert invoke("KeysFunction", made).status == 201
    owner = signed_in_member(account.account_id, "owner")
    assert (
        invoke("KeysFunction", event("keys_create", key=account.admin_key, body=body)).status == 201
    )

    path = {"person_id": leaving.person_id}
    removed = event("members_remove", key=account.admin_key, path_parameters=path)
    assert invoke("MembersFunction", removed).status == 200
    after_removal = origin_index(APP)
    deleted = event("account_delete", key=None, body={"confirm": "Customer"})
    assert invoke("AccountSelfFunction", as_person(deleted, owner, account.account_id)).status < 300
    after_deletion = preflight(app, APP)

    assert len(after_removal) == 1  # the admin key's own still allows it
    assert after_deletion.status == 403 and has_no_cors(after_deletion)


def origin_index(origin: str) -> list[str]:
    return [item.key_id for item in KeyOrigin.query(origin_pk(origin))]


def test_the_origin_index_follows_a_key_created_changed_and_revoked(invoke, new_account):
    account = new_account()

    def keys_call(name: str, body: Any = None, key_id: str | None = None) -> Any:
        path = {"key_id": key_id} if key_id else None
        answer = invoke(
            "KeysFunction", event(name, key=account.admin_key, body=body, path_parameters=path)
        )
        assert answer.status in (200, 201), answer.body
        return answer.body

    key_id = keys_call("keys_create", {"name": "web", "allowed_origins": [APP]})["id"]
    created = origin_index(APP)
    keys_call("keys_update", {"allowed_origins": [OTHER]}, key_id)
    moved = (origin_index(APP), origin_index(OTHER))
    keys_call("keys_revoke", None, key_id)
    revoked = (origin_index(APP), origin_index(OTHER))

    assert created == [key_id]
    assert moved == ([], [key_id])
    assert revoked == ([], [])
