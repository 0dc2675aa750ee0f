"""The hold bounds every input a request is billed for: tools, system prompts, images,
documents, not only the messages' text; so the charge, capped at the hold, is never cut."""

from __future__ import annotations

import json
from collections.abc import Iterator

import pytest

from devstack.upstreams import RunningUpstreams, start_upstreams
from tests.support.proxy import UPSTREAM_KEYS, local_catalog, post, proxy_app
from tollgate import keys, ledger, pricing
from tollgate.key_policy import KeyPolicy
from tollgate.money import charge_nanos
from tollgate.providers.base import Usage
from tollgate.store import layout
from tollgate.store.models import UsageRecord

GPT41 = "openai/gpt-4.1"  # a context of a million tokens: 212 KB fit
HAIKU = "anthropic/claude-haiku-4-5"
TOOLS_BYTES = 212 * 1024


@pytest.fixture(scope="module")
def upstreams() -> Iterator[RunningUpstreams]:
    running = start_upstreams(UPSTREAM_KEYS, port=0)
    yield running
    running.stop()


@pytest.fixture
def customer(new_account) -> tuple[str, str]:
    """(account id, inference key secret) with 10 USD."""
    account = new_account()
    ledger.credit(account.account_id, 10 * 10**9, kind="adjustment", reason="test credit")
    created = keys.create_key(account.account_id, keys.NewKey(name="ci", role="inference"))
    return account.account_id, created.secret


def only_record(account_id: str) -> UsageRecord:
    (record,) = UsageRecord.query(
        layout.account_pk(account_id), UsageRecord.sk.startswith("USAGE#"), consistent_read=True
    )
    return record


def many_tools(total_bytes: int) -> list[dict]:
    """Function tools whose definitions add up to at least ``total_bytes`` of JSON."""
    description = "Looks a thing up, given its name and the unit wanted. " * 20
    tools: list[dict] = []
    while len(json.dumps(tools, separators=(",", ":"))) < total_bytes:
        tools.append(
            {
                "type": "function",
                "function": {
                    "name": f"lookup_{len(tools)}",
                    "description": description,
                    "parameters": {
                        "type": "object",
                        "properties": {"name": {"type": "string"}, "unit": {"type": "string"}},
                    },
                },
            }
        )
    return tools


def input_cost(model, tokens: int) -> int:
    return charge_nanos(per_million=[(tokens, model.pricing.input)])


def test_212_kb_of_tools_are_held_and_charged_in_full(hotpath, upstreams, customer):
    account_id, secret = customer
    catalog = local_catalog(upstreams)
    gpt41 = catalog.model(GPT41)
    messages = [{"role": "user", "content": "Hello"}]
    body = {
        "model": GPT41,
        "messages": messages,
        "tools": many_tools(TOOLS_BYTES),
        "tool_choice": "none",
        "max_tokens": 20,
    }

    answer = post(proxy_app(hotpath, catalog), "/v1/chat/completions", secret, body)

    assert answer.status_code == 200, answer.text
    record = only_record(account_id)
    assert record.hold >= input_cost(gpt41, TOOLS_BYTES)
    billed = Usage(input_tokens=record.input_tokens, output_tokens=record.output_tokens)
    assert record.charge == pricing.chat_charge(gpt41, billed)
    messages_only_hold = charge_nanos(
        per_million=[(len(json.dumps(messages)), gpt41.pricing.input), (20, gpt41.pricing.output)]
    )
    assert record.charge > messages_only_hold  # what the hold used to be: the charge was cut


def test_an_anthropic_system_prompt_and_tools_are_held(hotpath, upstreams, customer):
    account_id, secret = customer
    catalog = local_catalog(upstreams)
    system = "You answer briefly. " * 2_500  # 50 KB
    tools = [
        {"name": f"lookup_{i}", "description": "x" * 1_000, "input_schema": {"type": "object"}}
        for i in range(50)
    ]
    body = {
        "model": HAIKU,
        "max_tokens": 20,
        "system": system,
        "tools": tools,
        "messages": [{"role": "user", "content": "Hello"}],
    }

    answer = post(proxy_app(hotpath, catalog), "/v1/messages", secret, body)

    assert answer.status_code == 200, answer.text
    held_input = len(system) + 50 * 1_000
    assert only_record(account_id).hold >= input_cost(catalog.model(HAIKU), held_input)


def test_a_request_that_could_bill_more_than_its_keys_tpm_gets_400(hotpath, upstreams, new_account):
    account = new_account()
    ledger.credit(account.account_id, 10**9, kind="adjustment", reason="test credit")
    limited = keys.NewKey(name="ci", role="inference", policy=KeyPolicy(tpm=60))
    secret = keys.create_key(account.account_id, limited).secret
    app = proxy_app(hotpath, local_catalog(upstreams))
    hello = [{"role": "user", "content": "Hi"}]

    unbounded = post(app, "/v1/chat/completions", secret, {"model": GPT41, "messages": hello})
    bounded = post(
        app, "/v1/chat/completions", secret, {"model": GPT41, "messages": hello, "max_tokens": 5}
    )

    assert unbounded.status_code == 400
    assert unbounded.json()["error"]["code"] == "request_above_tpm"
    assert bounded.status_code == 200, bounded.text
