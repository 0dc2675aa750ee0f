"""Which routes a request may take: the model asked for and its fallbacks, each one only if
the key allows it; what the usage record and the answer say about the model that served."""

from __future__ import annotations

import json
from collections.abc import Iterator

import pytest

from devstack.upstreams import RunningUpstreams, start_upstreams
from tests.support.proxy import UPSTREAM_KEYS, local_catalog, model_entry, post, proxy_app
from tollgate import keys, ledger, pricing
from tollgate.key_policy import KeyPolicy
from tollgate.store import layout
from tollgate.store.models import UsageRecord

MINI = "openai/gpt-4o-mini"
MINI_UPSTREAM = "gpt-4o-mini-2024-07-18"
MINI_FAILS = f"Hello [[mock:fault=500,fault_model={MINI_UPSTREAM}]]"
FLASH_LITE = "gemini/gemini-2.5-flash-lite"


@pytest.fixture(scope="module")
def upstreams() -> Iterator[RunningUpstreams]:
    running = start_upstreams(UPSTREAM_KEYS, port=0)
    yield running
    running.stop()


@pytest.fixture
def customer(new_account):
    """Builds (account id, inference key secret) with 1 USD and the given key policy."""

    def build(**policy) -> tuple[str, str]:
        account = new_account()
        ledger.credit(account.account_id, 10**9, kind="adjustment", reason="test credit")
        created = keys.create_key(
            account.account_id, keys.NewKey(name="ci", role="inference", policy=KeyPolicy(**policy))
        )
        return account.account_id, created.secret

    return build


def only_record(account_id: str) -> UsageRecord:
    (record,) = UsageRecord.query(
        layout.account_pk(account_id), UsageRecord.sk.startswith("USAGE#"), consistent_read=True
    )
    return record


def chat(text: str, model: str = MINI, **extra) -> dict:
    return {"model": model, "messages": [{"role": "user", "content": text}], **extra}


def test_a_key_limited_to_one_model_is_never_served_by_its_fallback(hotpath, upstreams, customer):
    account_id, secret = customer(allowed_models=(MINI,))
    app = proxy_app(hotpath, local_catalog(upstreams))
    upstreams.app.reset()

    answer = post(app, "/v1/chat/completions", secret, chat(MINI_FAILS, max_tokens=20))

    assert answer.status_code == 502
    assert upstreams.app.count("gemini") == 0
    record = only_record(account_id)
    assert (record.model, record.requested_model, record.charge) == (MINI, MINI, 0)


def test_a_fallback_the_key_allows_serves_and_the_record_names_both_models(
    hotpath, upstreams, customer
):
    account_id, secret = customer(allowed_models=(MINI, "gemini/*"))
    app = proxy_app(hotpath, local_catalog(upstreams))

    answer = post(app, "/v1/chat/completions", secret, chat(MINI_FAILS, max_tokens=20))

    assert answer.status_code == 200, answer.text
    assert answer.json()["model"] == FLASH_LITE
    record = only_record(account_id)
    assert (record.model, record.requested_model, record.route) == (FLASH_LITE, MINI, 1)
    assert record.provider == "gemini" and record.charge > 0


def test_a_messages_answer_names_the_model_that_served(hotpath, upstreams, customer):
    account_id, secret = customer()
    app = proxy_app(hotpath, local_catalog(upstreams))

    answer = post(
        app,
        "/v1/messages",
        secret,
        {"model": MINI, "max_tokens": 20, "messages": [{"role": "user", "content": MINI_FAILS}]},
    )

    assert answer.status_code == 200, answer.text
    assert answer.json()["model"] == FLASH_LITE
    assert only_record(account_id).requested_model == MINI


def test_the_hold_is_the_worst_case_of_the_routes_the_key_allows(hotpath, upstreams, customer):
    def dearer_fallback(data: dict) -> None:
        model_entry(data, MINI)["fallbacks"] = ["anthropic/claude-opus-4-5"]

    catalog = local_catalog(upstreams, dearer_fallback)
    account_id, secret = customer(allowed_models=(MINI,))
    app = proxy_app(hotpath, catalog)
    body = chat("Hello", max_tokens=20)

    answer = post(app, "/v1/chat/completions", secret, body)

    assert answer.status_code == 200, answer.text
    dearest = catalog.model("anthropic/claude-opus-4-5")
    assert only_record(account_id).hold < pricing.chat_hold(
        dearest, pricing.ChatInput(), max_output=20
    )


def test_a_messages_stream_names_the_model_that_served(hotpath, upstreams, customer):
    _, secret = customer()
    app = proxy_app(hotpath, local_catalog(upstreams))
    body = {
        "model": MINI,
        "max_tokens": 20,
        "stream": True,
        "messages": [{"role": "user", "content": MINI_FAILS}],
    }

    answer = post(app, "/v1/messages", secret, body)

    events = [
        json.loads(line.removeprefix("data: "))
        for line in answer.text.splitlines()
        if line.startswith("data: ")
    ]
    start = next(event for event in events if event["type"] == "message_start")
    assert start["message"]["model"] == FLASH_LITE
