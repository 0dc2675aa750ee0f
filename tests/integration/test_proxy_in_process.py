"""The proxy's ASGI app driven in-process against devstack's mock upstreams and moto: the
same paths the e2e tier takes over HTTP, measured by the test process's coverage."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from devstack.upstreams import RunningUpstreams, start_upstreams
from tests.support.proxy_asgi import proxy_app
from tollgate import keys, ledger
from tollgate.money import format_usd
from tollgate.proxy.app import ProxyApp
from tollgate.store import wallet as wallet_store

KEYS = {"openai": "sk-mock-openai", "anthropic": "sk-ant-mock", "gemini": "AIza-mock-gemini"}
MESSAGES = [{"role": "user", "content": "Say hello."}]
CHAT = {"model": "openai/gpt-4o-mini", "messages": MESSAGES}
FUNDS = 1_000_000_000  # 1 USD in nano-USD


@pytest.fixture(scope="module")
def upstreams() -> Iterator[RunningUpstreams]:
    running = start_upstreams(KEYS, port=0)
    yield running
    running.stop()


class Answer:
    def __init__(self, status: int, headers: dict[str, str], raw: bytes) -> None:
        self.status, self.headers, self.raw = status, headers, raw

    def json(self) -> Any:
        return json.loads(self.raw)

    def events(self) -> list[str]:
        return [line[6:] for line in self.raw.decode().splitlines() if line.startswith("data: ")]


@pytest.fixture
def gateway(hotpath, new_account, upstreams, tmp_path: Path):
    """Calls the proxy with a new account's inference key; ``funds`` nano-USD in its wallet."""
    app = proxy_app(upstreams, KEYS, tmp_path, hotpath=hotpath)

    def customer(funds: int = FUNDS) -> tuple[str, Any]:
        account = new_account()
        if funds:
            ledger.credit(account.account_id, funds, kind="adjustment", reason="test credit")
        created = keys.create_key(account.account_id, keys.NewKey(name="ci", role="inference"))

        def call(method: str, path: str, body: Any = None) -> Answer:
            raw = b"" if body is None else json.dumps(body).encode()
            return asyncio.run(_call(app, method, path, raw, created.secret))

        return account.account_id, call

    return customer


async def _call(app: ProxyApp, method: str, path: str, body: bytes, secret: str) -> Answer:
    scope = {
        "type": "http",
        "method": method,
        "path": path,
        "headers": [(b"authorization", f"Bearer {secret}".encode())],
        "client": ("203.0.113.7", 1234),
    }
    pending = [{"type": "http.request", "body": body, "more_body": False}]
    sent: list[dict[str, Any]] = []

    async def receive() -> dict[str, Any]:
        if pending:
            return pending.pop(0)
        await asyncio.Event().wait()  # the client stays connected
        raise AssertionError("unreachable")

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    await app(scope, receive, send)
    start = next(m for m in sent if m["type"] == "http.response.start")
    headers = {k.decode(): v.decode() for k, v in start["headers"]}
    raw = b"".join(m.get("body", b"") for m in sent if m["type"] == "http.response.body")
    return Answer(start["status"], headers, raw)


def spent(account_id: str) -> int:
    wallet = wallet_store.get_wallet(account_id)
    assert wallet is not None
    assert int(wallet.held or 0) == 0, "every hold is settled"
    return FUNDS - int(wallet.balance)


def test_a_chat_completion_is_answered_and_charged_what_its_header_says(gateway):
    account_id, call = gateway()

    answer = call(
        "POST", "/v1/chat/completions", {"model": "openai/gpt-4o-mini", "messages": MESSAGES}
    )

    assert answer.status == 200, answer.raw
    assert answer.json()["choices"][0]["message"]["content"]
    assert spent(account_id) > 0
    assert answer.headers["x-tollgate-cost"] == format_usd(spent(account_id))


def test_a_streamed_chat_completion_ends_with_done_and_is_charged(gateway):
    account_id, call = gateway()
    body = {
        "model": "openai/gpt-4o-mini",
        "messages": MESSAGES,
        "stream": True,
        "stream_options": {"include_usage": True},
    }

    answer = call("POST", "/v1/chat/completions", body)

    assert answer.status == 200, answer.raw
    events = answer.events()
    assert events[-1] == "[DONE]"
    assert json.loads(events[-2])["usage"]["completion_tokens"] > 0
    assert spent(account_id) > 0


def test_an_anthropic_messages_request_is_answered_in_its_format(gateway):
    account_id, call = gateway()
    body = {"model": "anthropic/claude-haiku-4-5", "max_tokens": 64, "messages": MESSAGES}

    answer = call("POST", "/v1/messages", body)

    assert answer.status == 200, answer.raw
    message = answer.json()
    assert message["type"] == "message" and message["content"][0]["text"]
    assert spent(account_id) > 0


def test_a_streamed_messages_request_ends_with_message_stop(gateway):
    account_id, call = gateway()
    body = {
        "model": "gemini/gemini-2.5-flash",
        "max_tokens": 64,
        "messages": MESSAGES,
        "stream": True,
    }

    answer = call("POST", "/v1/messages", body)

    assert answer.status == 200, answer.raw
    assert json.loads(answer.events()[-1])["type"] == "message_stop"
    assert spent(account_id) > 0


def test_embeddings_are_answered_and_charged(gateway):
    account_id, call = gateway()
    body = {"model": "openai/text-embedding-3-small", "input": "hello"}

    answer = call("POST", "/v1/embeddings", body)

    assert answer.status == 200, answer.raw
    assert answer.json()["data"][0]["embedding"]
    assert spent(account_id) > 0


def test_the_model_list_names_the_catalog_and_costs_nothing(gateway):
    account_id, call = gateway()

    answer = call("GET", "/v1/models")

    assert answer.status == 200
    assert "openai/gpt-4o-mini" in {model["id"] for model in answer.json()["data"]}
    assert spent(account_id) == 0


def test_a_wallet_that_cannot_cover_the_hold_is_a_402_and_charges_nothing(gateway):
    _, call = gateway(funds=0)

    answer = call(
        "POST", "/v1/chat/completions", {"model": "openai/gpt-4o-mini", "messages": MESSAGES}
    )

    assert answer.status == 402, answer.raw
    assert answer.json()["error"]["code"] == "insufficient_balance"


def test_a_failing_route_falls_back_and_only_the_serving_route_is_charged(gateway):
    account_id, call = gateway()
    marker = "[[mock:fault=500,fault_model=gpt-4o-mini-2024-07-18]] Say hello."
    body = {"model": "openai/gpt-4o-mini", "messages": [{"role": "user", "content": marker}]}

    answer = call("POST", "/v1/chat/completions", body)

    assert answer.status == 200, answer.raw
    assert answer.headers["x-tollgate-cost"] == format_usd(spent(account_id))


def test_an_upstream_answer_that_is_not_json_is_a_502_and_charges_nothing(gateway):
    account_id, call = gateway()
    body = {
        "model": "openai/gpt-4.1",
        "messages": [{"role": "user", "content": "[[mock:fault=malformed]] hi"}],
    }

    answer = call("POST", "/v1/chat/completions", body)

    assert answer.status == 502, answer.raw
    assert spent(account_id) == 0


def test_an_image_is_generated_and_charged(gateway):
    account_id, call = gateway()
    body = {"model": "openai/gpt-image-1", "prompt": "a lighthouse", "size": "1024x1024"}

    answer = call("POST", "/v1/images/generations", body)

    assert answer.status == 200, answer.raw
    assert answer.json()["data"]
    assert spent(account_id) > 0


@pytest.mark.parametrize(
    ("method", "path", "status"),
    [("GET", "/v1/nowhere", 404), ("POST", "/v1/models", 404)],
)
def test_an_unknown_route_is_an_openai_404(gateway, method, path, status):
    _, call = gateway()

    answer = call(method, path, {})

    assert answer.status == status
    assert answer.json()["error"]["code"] == "unknown_route"
