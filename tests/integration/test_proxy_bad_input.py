"""Hostile bodies on the proxy's chat routes, driven in-process through its ASGI app: each
answers 400 in the client's wire format (OpenAI or Anthropic), naming the field where there
is one, and takes no hold. Never a 500."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import pytest

from tollgate import keys, ledger
from tollgate.catalog import load_catalog
from tollgate.proxy.app import ProxyApp
from tollgate.proxy.runtime import KeyCache, Runtime
from tollgate.proxy.upstream import UpstreamClient
from tollgate.settings import get_settings
from tollgate.store import wallet as wallet_store

DEEP_ARRAY = "[" * 5000 + "]" * 5000
DEEP_OBJECT = '{"model":' * 5000 + "1" + "}" * 5000
BAD_BODIES = {
    "deep-arrays": DEEP_ARRAY.encode(),
    "deep-objects": DEEP_OBJECT.encode(),
    "900-deep": ('{"messages":' + "[" * 900 + "]" * 900 + "}").encode(),
    "nan": b'{"model": NaN}',
    "float-overflow": b'{"max_tokens": 1e400}',
    "not-utf8": b'{"model": "caf\xe9"}',
    "not-an-object": b"[1]",
    "truncated": b'{"model": "x"',
}
MODEL = "openai/gpt-4o-mini"
MESSAGES = [{"role": "user", "content": "hi"}]


class StubProviderKeys:
    def for_provider(self, provider: object) -> str:
        return "sk-never-sent"


@pytest.fixture
def proxy(hotpath, new_account):
    """The proxy app over moto with a funded inference key; upstreams are never reached."""
    settings = get_settings()
    runtime = Runtime(
        settings=settings,
        catalog=load_catalog(settings.catalog_path),
        hotpath=hotpath,
        key_cache=KeyCache(hotpath),
        provider_keys=StubProviderKeys(),  # type: ignore[arg-type]
        upstream=UpstreamClient(),
    )
    account = new_account()
    ledger.credit(account.account_id, 1_000_000_000, kind="adjustment", reason="test credit")
    secret = keys.create_key(account.account_id, keys.NewKey(name="ci", role="inference")).secret
    app = ProxyApp(runtime)

    def post(path: str, body: bytes) -> tuple[int, dict[str, Any]]:
        return asyncio.run(_call(app, path, body, secret))

    post.account_id = account.account_id  # type: ignore[attr-defined]
    return post


async def _call(app: ProxyApp, path: str, body: bytes, secret: str) -> tuple[int, Any]:
    scope = {
        "type": "http",
        "method": "POST",
        "path": path,
        "headers": [
            (b"authorization", f"Bearer {secret}".encode()),
            (b"content-type", b"application/json"),
        ],
        "client": ("203.0.113.7", 1234),
    }
    messages = [{"type": "http.request", "body": body, "more_body": False}]
    sent: list[dict[str, Any]] = []

    async def receive() -> dict[str, Any]:
        return messages.pop(0) if messages else {"type": "http.disconnect"}

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    await app(scope, receive, send)
    status = next(m["status"] for m in sent if m["type"] == "http.response.start")
    raw = b"".join(m.get("body", b"") for m in sent if m["type"] == "http.response.body")
    return status, json.loads(raw)


def held(account_id: str) -> int:
    return int(wallet_store.get_wallet(account_id).held or 0)


@pytest.mark.parametrize("body", BAD_BODIES.values(), ids=BAD_BODIES.keys())
def test_a_chat_body_that_is_not_plain_json_is_an_openai_400(proxy, body):
    status, answer = proxy("/v1/chat/completions", body)

    assert status == 400, answer
    assert answer["error"]["type"] == "invalid_request_error"
    assert held(proxy.account_id) == 0


@pytest.mark.parametrize("body", BAD_BODIES.values(), ids=BAD_BODIES.keys())
def test_a_messages_body_that_is_not_plain_json_is_an_anthropic_400(proxy, body):
    status, answer = proxy("/v1/messages", body)

    assert status == 400, answer
    assert answer["type"] == "error"
    assert answer["error"]["type"] == "invalid_request_error"


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("n", 10**30),
        ("n", 129),
        ("n", True),
        ("n", 1.5),
        ("max_tokens", 1e30),
        ("max_tokens", -1),
        ("max_tokens", "1"),
        ("max_completion_tokens", False),
    ],
)
def test_a_chat_count_out_of_range_is_an_openai_400_naming_it(proxy, field, value):
    body = {"model": MODEL, "messages": MESSAGES, field: value}

    status, answer = proxy("/v1/chat/completions", json.dumps(body).encode())

    assert status == 400, answer
    assert answer["error"]["param"] == field
    assert held(proxy.account_id) == 0


@pytest.mark.parametrize("value", [1e30, True, "1", -1])
def test_a_messages_max_tokens_out_of_range_is_an_anthropic_400(proxy, value):
    body = {"model": MODEL, "messages": MESSAGES, "max_tokens": value}

    status, answer = proxy("/v1/messages", json.dumps(body).encode())

    assert status == 400, answer
    assert answer["error"]["type"] == "invalid_request_error"
    assert "max_tokens" in answer["error"]["message"]


@pytest.mark.parametrize("model", ["anthropic/claude-haiku-4-5", "gemini/gemini-2.5-flash"])
def test_deep_tool_call_arguments_translated_for_a_provider_are_a_400(proxy, model):
    call = {
        "id": "call_1",
        "type": "function",
        "function": {"name": "lookup", "arguments": DEEP_ARRAY},
    }
    messages = [
        {"role": "user", "content": "hi"},
        {"role": "assistant", "content": None, "tool_calls": [call]},
        {"role": "tool", "tool_call_id": "call_1", "content": DEEP_OBJECT},
    ]
    body = {"model": model, "messages": messages}

    status, answer = proxy("/v1/chat/completions", json.dumps(body).encode())

    assert status == 400, answer
    assert answer["error"]["param"] == "messages[1].tool_calls[0].function.arguments"
    assert held(proxy.account_id) == 0
