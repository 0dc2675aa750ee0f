"""What clients call besides inference: a model looked up by its id (slash and all) or an
alias, a model called by its alias, Anthropic's free token count, and the legacy completions
route that no model serves. Through the proxy's ASGI app, against moto and the mock upstreams."""

from __future__ import annotations

import asyncio
from dataclasses import replace
from typing import Any

import pytest

from tests.integration.conftest import usage_of
from tests.support.openapi import validate_openai
from tests.support.proxy_asgi import Exchange, call
from tests.support.proxy_world import usage_records, wallet
from tollgate import clock, keys
from tollgate.proxy.app import ProxyApp

COUNT = "/v1/messages/count_tokens"


def run(app: ProxyApp, path: str, key: str, body: Any = None, method: str = "POST") -> Exchange:
    return asyncio.run(call(app, path, body, key=key, method=method))


def to_count(model: str, text: str, **extra: Any) -> dict[str, Any]:
    return {"model": model, "messages": [{"role": "user", "content": text}], **extra}


# ------------------------------------------------------------------------------ models retrieve


@pytest.mark.parametrize(
    "path",
    [
        "/v1/models/openai/gpt-4o-mini",  # the id's slash as sent by curl
        "/v1/models/openai%2Fgpt-4o-mini",  # as the OpenAI SDK encodes it
        "/v1/models/gpt-4o-mini",  # an alias
        "/v1/models/gpt-4o-mini-2024-07-18",  # the dated snapshot it is served by
    ],
)
def test_a_model_is_retrieved_by_its_id_or_alias_and_named_by_its_public_id(app, customer, path):
    buyer = customer()

    answer = run(app, path, buyer.api_key, method="GET")

    assert answer.status == 200, answer.body
    model = answer.json()
    validate_openai("Model", model)
    assert model["id"] == "openai/gpt-4o-mini"
    assert model["aliases"] == ["gpt-4o-mini", "gpt-4o-mini-2024-07-18"]
    assert answer.headers["x-tollgate-cost"] == "0.00"


def test_an_unknown_model_is_404_model_not_found_in_openais_shape(app, customer):
    buyer = customer()

    answer = run(app, "/v1/models/openai/gpt-9", buyer.api_key, method="GET")

    assert answer.status == 404
    error = answer.json()["error"]
    assert (error["code"], error["param"]) == ("model_not_found", "model")
    assert "openai/gpt-9" in error["message"]


def test_the_model_list_names_each_models_aliases(app, customer):
    answer = run(app, "/v1/models", customer().api_key, method="GET")

    models = {model["id"]: model for model in answer.json()["data"]}
    assert models["anthropic/claude-haiku-4-5"]["aliases"][0] == "claude-haiku-4-5"


# ------------------------------------------------------------------------------ called by alias


def test_a_chat_by_alias_is_answered_and_recorded_under_the_public_id(app, customer):
    # given a key allowed the public id only
    buyer = customer(allowed_models=["openai/gpt-4o-mini"])
    body = {"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "Hi"}]}

    # when it calls the model by its bare name
    answer = run(app, "/v1/chat/completions", buyer.api_key, body)

    # then the answer and the usage record name the public id
    assert answer.status == 200, answer.body
    assert answer.json()["model"] == "openai/gpt-4o-mini"
    record = usage_of(buyer, answer.headers["x-request-id"])
    assert record["model"] == "openai/gpt-4o-mini"


def test_an_alias_does_not_pass_a_key_that_excludes_its_model(app, customer):
    buyer = customer(allowed_models=["openai/gpt-4.1"])
    body = {"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "Hi"}]}

    answer = run(app, "/v1/chat/completions", buyer.api_key, body)

    assert answer.status == 403 and answer.json()["error"]["code"] == "model_not_allowed"


def test_a_policy_naming_an_alias_does_not_allow_its_model(app, customer):
    # given a key whose allowed_models names a model's alias, not its public id
    buyer = customer(allowed_models=["gpt-4o-*"])
    body = {"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "Hi"}]}

    # when it calls the model by that alias
    answer = run(app, "/v1/chat/completions", buyer.api_key, body)

    # then the policy judged the public id, which it does not name
    assert answer.status == 403 and answer.json()["error"]["code"] == "model_not_allowed"
    assert "openai/gpt-4o-mini" in answer.json()["error"]["message"]


def test_a_policy_naming_an_exact_alias_keeps_the_public_id_it_names(app, customer):
    # given a key created with an alias in its allowed_models
    buyer = customer(allowed_models=["gpt-4o-mini"])
    body = {"messages": [{"role": "user", "content": "Hi"}]}

    # when it calls the model by that alias and by its public id
    answers = [
        run(app, "/v1/chat/completions", buyer.api_key, body | {"model": model})
        for model in ("gpt-4o-mini", "openai/gpt-4o-mini")
    ]

    # then both pass: the key allows the public id the alias named when it was made
    assert [answer.status for answer in answers] == [200, 200]
    stored = keys.policy_of(keys.get_key(buyer.account_id, buyer.key_id))
    assert stored.allowed_models == ("openai/gpt-4o-mini",)


# ------------------------------------------------------------------------------ count_tokens


def test_anthropic_counts_an_anthropic_models_tokens_for_free(app, customer):
    # given a customer with credit
    buyer = customer()
    before = wallet(buyer.account_id)
    body = to_count("claude-haiku-4-5", "one two three four five", system="Be brief.")

    # when it counts a prompt's tokens
    answer = run(app, COUNT, buyer.api_key, body)

    # then Anthropic (the mock: a token a word or mark) counted them, and nothing was billed
    assert answer.status == 200, answer.body
    assert answer.json() == {"input_tokens": 8}
    assert answer.headers["x-tollgate-cost"] == "0.00"
    assert wallet(buyer.account_id) == before
    assert usage_records(buyer.account_id) == []


def test_a_gemini_models_tokens_are_our_estimate(app, customer):
    buyer = customer()
    text = "word " * 400  # 2000 bytes of text: about 500 tokens

    answer = run(app, COUNT, buyer.api_key, to_count("gemini/gemini-2.5-flash", text))

    assert answer.status == 200, answer.body
    assert 500 <= answer.json()["input_tokens"] <= 530
    assert usage_records(buyer.account_id) == []


def test_counting_takes_a_request_of_the_keys_rate_limit(app, customer, monkeypatch):
    # given a key allowed one request a minute, within one minute
    buyer = customer(rate_limit={"rpm": 1})
    now = clock.utcnow()
    monkeypatch.setattr(clock, "utcnow", lambda: now)
    body = to_count("gemini/gemini-2.5-flash", "Hello")

    # when it counts twice
    first = run(app, COUNT, buyer.api_key, body)
    second = run(app, COUNT, buyer.api_key, body)

    # then the second is refused in Anthropic's shape, and so is a chat that minute
    assert first.status == 200
    assert second.status == 429
    assert second.json()["type"] == "error"
    assert second.json()["error"]["type"] == "rate_limit_error"
    chat = {"model": "openai/gpt-4o-mini", "messages": [{"role": "user", "content": "Hi"}]}
    assert run(app, "/v1/chat/completions", buyer.api_key, chat).status == 429


def test_a_key_without_the_messages_endpoint_may_not_count(app, customer):
    buyer = customer(allowed_endpoints=["chat.completions"])

    answer = run(app, COUNT, buyer.api_key, to_count("openai/gpt-4o-mini", "Hello"))

    assert answer.status == 403
    assert answer.json()["error"]["type"] == "permission_error"


def test_a_key_requiring_no_training_counts_only_where_it_may_call(app, customer, upstreams):
    # given an operator whose catalog does not mark Anthropic no_training, and a key requiring it
    anthropic = app.runtime.catalog.providers["anthropic"]
    app.runtime.catalog.providers["anthropic"] = replace(anthropic, no_training=False)
    buyer = customer(require_no_training=True)
    body = to_count("anthropic/claude-haiku-4-5", "Hello")
    counted_upstream = upstreams.app.count("anthropic", "/anthropic" + COUNT)

    # when it counts a prompt for an Anthropic model, and then calls that model
    counted = run(app, COUNT, buyer.api_key, body)
    called = run(app, "/v1/messages", buyer.api_key, {**body, "max_tokens": 10})

    # then both are refused alike, in Anthropic's shape, and Anthropic was not asked to count
    assert counted.status == called.status == 403
    assert counted.json() == called.json()
    assert counted.json()["error"]["type"] == "permission_error"
    assert upstreams.app.count("anthropic", "/anthropic" + COUNT) == counted_upstream


def test_an_unknown_model_cannot_be_counted(app, customer):
    answer = run(app, COUNT, customer().api_key, to_count("claude-9", "Hello"))

    assert answer.status == 404
    assert answer.json()["type"] == "error"  # Anthropic's shape
    assert "claude-9" in answer.json()["error"]["message"]


# ------------------------------------------------------------------------------ legacy completions


def test_legacy_completions_point_to_chat_completions(app, customer):
    body = {"model": "gpt-4o-mini", "prompt": "Say hi"}

    answer = run(app, "/v1/completions", customer().api_key, body)

    assert answer.status == 404
    error = answer.json()["error"]
    assert error["code"] == "unsupported_endpoint"
    assert "/v1/chat/completions" in error["message"]
