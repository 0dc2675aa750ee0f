"""OpenAI's Responses API (POST /v1/responses) through the proxy's ASGI app, against moto and
the mock upstreams: every provider's chat model answers a Response, streamed or not, charged
exactly its usage record's charge; tools go round; nothing is kept between requests."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable
from decimal import Decimal
from typing import Any

import pytest

from tests.integration.conftest import event, handle, usage_of
from tests.support.openapi import validate_openai
from tests.support.proxy_asgi import Exchange, call
from tests.support.proxy_world import Customer
from tollgate.proxy.app import ProxyApp

RESPONSES = "/v1/responses"
MODELS = ["openai/gpt-4.1-mini", "anthropic/claude-haiku-4-5", "gemini/gemini-2.5-flash"]
WEATHER_TOOL = {
    "type": "function",
    "name": "get_weather",
    "description": "The weather in a city.",
    "parameters": {
        "type": "object",
        "properties": {"city": {"type": "string"}},
        "required": ["city"],
    },
}
EVENT_SCHEMAS = {
    "response.created": "ResponseCreatedEvent",
    "response.in_progress": "ResponseInProgressEvent",
    "response.output_item.added": "ResponseOutputItemAddedEvent",
    "response.content_part.added": "ResponseContentPartAddedEvent",
    "response.output_text.delta": "ResponseTextDeltaEvent",
    "response.output_text.done": "ResponseTextDoneEvent",
    "response.content_part.done": "ResponseContentPartDoneEvent",
    "response.output_item.done": "ResponseOutputItemDoneEvent",
    "response.function_call_arguments.delta": "ResponseFunctionCallArgumentsDeltaEvent",
    "response.function_call_arguments.done": "ResponseFunctionCallArgumentsDoneEvent",
    "response.completed": "ResponseCompletedEvent",
    "response.incomplete": "ResponseIncompleteEvent",
    "response.failed": "ResponseFailedEvent",
    "error": "ResponseErrorEvent",
}


@pytest.fixture
def buyer(customer: Callable[..., Customer]) -> Customer:
    """A customer (tests/support/proxy_world.py) with 1 USD."""
    return customer(10**9)


def run(app: ProxyApp, body: Any, key: str) -> Exchange:
    return asyncio.run(call(app, RESPONSES, body, key=key))


def wallet_of(customer: Customer) -> dict[str, Any]:
    result = handle("BillingFunction", event("wallet_get", key=customer.admin_key))
    assert result["statusCode"] == 200, result["body"]
    return json.loads(result["body"])


def validated_events(answer: Exchange) -> list[dict[str, Any]]:
    """The stream's events, each checked against OpenAI's schema of its type, in sequence."""
    events = []
    for name, data in answer.events():
        assert name == data["type"]
        validate_openai(EVENT_SCHEMAS[name], data)
        events.append(data)
    assert [e["sequence_number"] for e in events] == list(range(len(events)))
    return events


@pytest.mark.parametrize("model", MODELS)
def test_each_provider_answers_a_response_charged_exactly_its_record(app, buyer, model):
    # when a customer of any provider's chat model creates a response with instructions and a
    # string input
    body = {"model": model, "instructions": "Be brief.", "input": "Hello there", "store": True}
    answer = run(app, body, buyer.api_key)

    # then it is a completed Response, with its text, stored nowhere, charged as recorded
    assert answer.status == 200, answer.body
    response = answer.json()
    validate_openai("Response", response)
    assert response["id"].startswith("resp_") and response["model"] == model
    assert response["status"] == "completed" and response["store"] is False
    (message,) = response["output"]
    assert message["type"] == "message" and message["content"][0]["text"]
    record = usage_of(buyer, answer.headers["x-request-id"])
    assert record["endpoint"] == "responses" and record["model"] == model
    assert record["output_tokens"] == response["usage"]["output_tokens"] > 0
    cost = Decimal(answer.headers["x-tollgate-cost"])
    assert cost == Decimal(str(response["usage"]["cost"])) == Decimal(record["charge_usd"]) > 0


@pytest.mark.parametrize("model", MODELS)
def test_each_provider_streams_a_response_ending_with_its_cost(app, buyer, model):
    answer = run(app, {"model": model, "input": "Tell me a story", "stream": True}, buyer.api_key)

    # then the hold is announced, the events are OpenAI's, and the cost ends the stream
    assert answer.status == 200 and "x-tollgate-hold" in answer.headers
    events = validated_events(answer)
    kinds = [e["type"] for e in events]
    assert kinds[:2] == ["response.created", "response.in_progress"]
    assert kinds[-1] == "response.completed" and "response.output_text.delta" in kinds
    text = "".join(e["delta"] for e in events if e["type"] == "response.output_text.delta")
    final = events[-1]["response"]
    assert final["output"][0]["content"][0]["text"] == text
    record = usage_of(buyer, answer.headers["x-request-id"])
    assert record["endpoint"] == "responses" and record["stream"] is True
    assert Decimal(str(final["usage"]["cost"])) == Decimal(record["charge_usd"]) > 0


@pytest.mark.parametrize("stream", [False, True])
def test_a_function_tool_goes_round_with_its_call_id(app, buyer, stream):
    # given a tool the model calls when asked about the weather
    ask = {"role": "user", "content": "What is the weather in Paris?"}
    first = {"model": MODELS[1], "input": [ask], "tools": [WEATHER_TOOL], "stream": stream}

    # when the model calls it
    answer = run(app, first, buyer.api_key)
    if stream:
        final = validated_events(answer)[-1]["response"]
    else:
        final = answer.json()
        validate_openai("Response", final)
    (call_item,) = [item for item in final["output"] if item["type"] == "function_call"]
    assert call_item["name"] == "get_weather" and json.loads(call_item["arguments"])

    # and the client sends the call and its output back, with the whole conversation
    output = {"type": "function_call_output", "call_id": call_item["call_id"], "output": "Sunny"}
    second = {**first, "input": [ask, call_item, output], "stream": False}
    answer = run(app, second, buyer.api_key)

    # then the model answers in words
    assert answer.status == 200, answer.body
    assert [item["type"] for item in answer.json()["output"]] == ["message"]


def test_a_previous_response_id_is_refused_since_nothing_is_kept(app, buyer):
    body = {"model": MODELS[0], "input": "And then?", "previous_response_id": "resp_123"}

    answer = run(app, body, buyer.api_key)

    assert answer.status == 400
    error = answer.json()["error"]
    assert error["param"] == "previous_response_id" and "no conversation state" in error["message"]


def test_store_is_false_upstream_whatever_the_client_asked(app, buyer):
    # given a client that asks OpenAI to store its response
    sent: list[dict[str, Any]] = []
    send = app.runtime.upstream.send

    async def recording(upstream_call: Any) -> Any:
        sent.append(json.loads(upstream_call.body))
        return await send(upstream_call)

    app.runtime.upstream.send = recording  # type: ignore[method-assign]

    answer = run(app, {"model": MODELS[0], "input": "Hi", "store": True}, buyer.api_key)

    # then the upstream was told not to store it, and so is the client
    assert answer.status == 200 and answer.json()["store"] is False
    assert [body["store"] for body in sent] == [False]


def test_a_stream_cut_upstream_fails_with_its_estimated_cost_then_an_error(app, buyer):
    body = {"model": MODELS[0], "input": "Tell me a story [[mock:fault=cut]]", "stream": True}

    answer = run(app, body, buyer.api_key)

    events = validated_events(answer)
    assert [e["type"] for e in events[-2:]] == ["response.failed", "error"]
    record = usage_of(buyer, answer.headers["x-request-id"])
    assert record["status"] == "cut" and record["endpoint"] == "responses"
    cost = events[-2]["response"]["usage"]["cost"]
    assert Decimal(str(cost)) == Decimal(record["charge_usd"]) > 0


# -- OpenAI's own models: the request passes through to OpenAI's /v1/responses ---------------

NATIVE = "openai/gpt-4o-mini"  # its fallback: gemini/gemini-2.5-flash-lite
NATIVE_UPSTREAM = "gpt-4o-mini-2024-07-18"
USAGE_MARKERS = "[[mock:cached_tokens=3,reasoning_tokens=7]]"


def tokens_of(usage: dict[str, Any]) -> dict[str, int]:
    return {
        "input_tokens": usage["input_tokens"],
        "output_tokens": usage["output_tokens"],
        "cached_tokens": usage["input_tokens_details"]["cached_tokens"],
        "reasoning_tokens": usage["output_tokens_details"]["reasoning_tokens"],
    }


def recorded_tokens(record: dict[str, Any]) -> dict[str, int]:
    return {name: record[name] for name in ("input_tokens", "output_tokens", "cached_tokens")} | {
        "reasoning_tokens": record["reasoning_tokens"]
    }


@pytest.mark.parametrize("stream", [False, True])
def test_an_openai_model_gets_the_request_natively_and_is_charged_its_record(
    app, buyer, upstreams, stream
):
    # given a client asking an OpenAI model to store its response, with metadata of its own
    body = {
        "model": NATIVE,
        "input": [{"role": "user", "content": f"Tell me a story {USAGE_MARKERS}"}],
        "store": True,
        "metadata": {"team": "blue"},
        "stream": stream,
    }

    # when the response is created
    answer = run(app, body, buyer.api_key)

    # then OpenAI got it on its Responses API, told not to store it, without the metadata
    assert answer.status == 200, answer.body
    assert upstreams.app.sent("openai") == [{"model": NATIVE_UPSTREAM, "store": False}]
    assert upstreams.app.count("openai", "/v1/responses") == 1
    # and the client sees our model id, its metadata, nothing stored
    if stream:
        events = validated_events(answer)
        assert {e["response"]["model"] for e in events if "response" in e} == {NATIVE}
        response = events[-1]["response"]
        assert events[-1]["type"] == "response.completed"
    else:
        response = answer.json()
        validate_openai("Response", response)
        assert Decimal(answer.headers["x-tollgate-cost"]) == Decimal(str(response["usage"]["cost"]))
    assert response["model"] == NATIVE and response["store"] is False
    assert response["metadata"] == {"team": "blue"}
    # and it is charged exactly the usage OpenAI reported, as recorded
    record = usage_of(buyer, answer.headers["x-request-id"])
    assert record["endpoint"] == "responses" and record["stream"] is stream
    assert recorded_tokens(record) == tokens_of(response["usage"])
    assert record["cached_tokens"] == 3 and record["reasoning_tokens"] == 7
    assert Decimal(str(response["usage"]["cost"])) == Decimal(record["charge_usd"]) > 0


def test_a_failing_openai_route_falls_back_to_another_provider_translated(app, buyer, upstreams):
    # given an OpenAI model whose upstream fails, and a Gemini fallback
    fault = f"[[mock:fault=500,fault_model={NATIVE_UPSTREAM}]]"
    body = {"model": NATIVE, "input": f"Hello {fault}", "store": True}

    # when a response is created
    answer = run(app, body, buyer.api_key)

    # then OpenAI was tried on its Responses API, and Gemini answered through the translation
    assert answer.status == 200, answer.body
    assert upstreams.app.count("openai", "/v1/responses") >= 1
    assert upstreams.app.count_model("gemini", "gemini-2.5-flash-lite") == 1
    response = answer.json()
    validate_openai("Response", response)
    assert response["model"] == "gemini/gemini-2.5-flash-lite" and response["store"] is False
    record = usage_of(buyer, answer.headers["x-request-id"])
    assert record["route"] == 1 and record["endpoint"] == "responses"
    assert Decimal(answer.headers["x-tollgate-cost"]) == Decimal(record["charge_usd"]) > 0


def test_a_client_leaving_an_openai_stream_pays_only_what_was_delivered(app, buyer, upstreams):
    # given a long stream from OpenAI's Responses API, paced by the upstream
    body = {"model": NATIVE, "input": "Tell me a story [[mock:chunk_delay_ms=20]]", "stream": True}

    # when the client hangs up after three chunks
    answer = asyncio.run(call(app, RESPONSES, body, key=buyer.api_key, disconnect_after_chunks=3))

    # then the proxy stops, records client_closed, charges an estimate and holds nothing more
    assert upstreams.app.count("openai", "/v1/responses") == 1
    record = usage_of(buyer, answer.headers["x-request-id"])
    assert (record["status"], record["endpoint"]) == ("client_closed", "responses")
    assert record["usage_estimated"] is True and Decimal(record["charge_usd"]) > 0
    money = wallet_of(buyer)
    assert Decimal(money["held_usd"]) == 0
    assert Decimal(money["available_usd"]) == 1 - Decimal(record["charge_usd"])


def test_reasoning_items_passed_back_to_openai_are_held_for(app, buyer):
    # given a conversation sent back whole with an earlier answer's encrypted reasoning, which
    # only OpenAI reads (the translation for other providers drops it)
    ask = {"role": "user", "content": "Tell me a story"}
    reasoning = {
        "type": "reasoning",
        "id": "rs_1",
        "summary": [],
        "encrypted_content": "x" * 50_000,
    }
    plain = {"model": NATIVE, "input": [ask], "stream": True}

    # when it is streamed, and the same without the reasoning (a stream announces its hold)
    without = run(app, plain, buyer.api_key)
    with_reasoning = run(app, {**plain, "input": [reasoning, ask]}, buyer.api_key)

    # then the reasoning is held for too
    held = Decimal(with_reasoning.headers["x-tollgate-hold"])
    assert held > Decimal(without.headers["x-tollgate-hold"])
