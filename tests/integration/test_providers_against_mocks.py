"""The provider adapters end to end against the devstack's mock upstreams: each
UpstreamCall is sent with the standard library, the answer's bytes go back through the
adapter, for every provider kind."""

from __future__ import annotations

import base64
import dataclasses
import http.client
import json
import struct
import urllib.error
import urllib.request
from collections.abc import Iterator
from typing import Any
from urllib.parse import urlsplit

import jsonschema
import pytest

from devstack.upstreams import RunningUpstreams, start_upstreams
from devstack.upstreams.common import REPLIES, count_tokens
from tests.support.openapi import validate_openai
from tollgate.catalog import Model, Pricing, Provider
from tollgate.providers import ChatStream, ProviderError, UpstreamCall, Usage, adapter_for

KEYS = {"openai": "k1", "anthropic": "k2", "gemini": "k3"}
UPSTREAM_IDS = {
    "openai": "gpt-4o-mini",
    "anthropic": "claude-haiku-4-5",
    "gemini": "gemini-2.5-flash",
}
KINDS = ["openai", "anthropic", "gemini"]
TOOLS = [
    {
        "type": "function",
        "function": {
            "name": "get_weather",
            "description": "Current weather",
            "parameters": {
                "type": "object",
                "properties": {
                    "location": {"type": "string"},
                    "unit": {"type": "string", "enum": ["celsius", "fahrenheit"]},
                },
                "required": ["location", "unit"],
                "additionalProperties": False,
            },
        },
    }
]


@pytest.fixture(scope="module")
def upstreams() -> Iterator[RunningUpstreams]:
    running = start_upstreams(KEYS)
    yield running
    running.stop()


class Route:
    """One model on one mock provider, with the adapter for its kind."""

    def __init__(self, upstreams: RunningUpstreams, kind: str) -> None:
        self.kind = kind
        self.adapter = adapter_for(kind)
        self.provider = Provider(kind, kind, upstreams.base_urls[kind], kind)
        self.model = Model(
            id=f"{kind}/test-model",
            provider=kind,
            upstream_id=UPSTREAM_IDS[kind],
            endpoints=frozenset({"chat", "embeddings"}),
            created=0,
            context_length=100_000,
            max_output_tokens=1000,
            pricing=Pricing(input=1, output=1),
        )

    def chat(self, request: dict[str, Any]) -> tuple[dict[str, Any], Usage]:
        call = self._build(request, stream=False)
        status, headers, body = send(call)
        if status >= 300:
            raise self.adapter.error_from(status, body, headers)
        return self.adapter.parse_chat(status, body, model_id=self.model.id)

    def stream(self, request: dict[str, Any]) -> tuple[ChatStream, list[dict[str, Any]]]:
        call = self._build({**request, "stream": True}, stream=True)
        chat = self.adapter.chat_stream(model_id=self.model.id)
        chunks: list[dict[str, Any]] = []
        with open_stream(call) as response:
            if response.status >= 300:
                raise self.adapter.error_from(response.status, response.read(), response.headers)
            try:
                while data := response.read1(512):
                    chunks += chat.feed(data)
            except (http.client.IncompleteRead, ConnectionError):
                pass  # a cut stream
        return chat, chunks + chat.close()

    def embeddings(self, request: dict[str, Any]) -> tuple[dict[str, Any], Usage]:
        request = {"model": self.model.id, **request}
        call = self.adapter.build_embeddings(
            request, model=self.model, provider=self.provider, api_key=KEYS[self.kind]
        )
        status, headers, body = send(call)
        return self.adapter.parse_embeddings(
            status, body, model_id=self.model.id, request=request, headers=headers
        )

    def _build(self, request: dict[str, Any], *, stream: bool) -> UpstreamCall:
        return self.adapter.build_chat(
            {"model": self.model.id, **request},
            model=self.model,
            provider=self.provider,
            api_key=KEYS[self.kind],
            stream=stream,
        )


def send(call: UpstreamCall) -> tuple[int, dict[str, str], bytes]:
    request = urllib.request.Request(
        call.url, data=call.body, headers=call.headers, method=call.method
    )
    try:
        with urllib.request.urlopen(request, timeout=60) as response:
            return response.status, dict(response.headers), response.read()
    except urllib.error.HTTPError as error:
        return error.code, dict(error.headers), error.read()


class open_stream:
    def __init__(self, call: UpstreamCall) -> None:
        url = urlsplit(call.url)
        self.connection = http.client.HTTPConnection(url.hostname, url.port, timeout=60)
        path = url.path + (f"?{url.query}" if url.query else "")
        self.connection.request(call.method, path, body=call.body, headers=call.headers)

    def __enter__(self) -> http.client.HTTPResponse:
        return self.connection.getresponse()

    def __exit__(self, *exc_info: object) -> None:
        self.connection.close()


def user(text: str) -> list[dict[str, Any]]:
    return [{"role": "user", "content": text}]


def text_of(chunks: list[dict[str, Any]]) -> str:
    return "".join(c["choices"][0]["delta"].get("content") or "" for c in chunks)


def tool_calls_of(chunks: list[dict[str, Any]]) -> dict[int, dict[str, str]]:
    calls: dict[int, dict[str, str]] = {}
    for chunk in chunks:
        for delta in chunk["choices"][0]["delta"].get("tool_calls") or []:
            call = calls.setdefault(delta["index"], {"id": "", "name": "", "arguments": ""})
            call["id"] += delta.get("id", "")
            call["name"] += delta.get("function", {}).get("name", "")
            call["arguments"] += delta.get("function", {}).get("arguments", "")
    return calls


@pytest.fixture(params=KINDS)
def route(request: pytest.FixtureRequest, upstreams: RunningUpstreams) -> Route:
    return Route(upstreams, request.param)


def test_a_chat_answer_is_an_openai_completion_with_the_public_model(route: Route):
    response, usage = route.chat({"messages": user("Tell me something."), "max_tokens": 500})

    validate_openai("CreateChatCompletionResponse", response)
    assert response["model"] == route.model.id
    assert response["choices"][0]["message"]["content"] in REPLIES
    assert response["choices"][0]["finish_reason"] == "stop"
    assert usage.input_tokens > 0 and usage.output_tokens > 0


def test_a_streamed_answer_joins_into_the_same_text_and_usage(route: Route):
    request = {"messages": [{"role": "system", "content": "Be kind."}, *user("Stream it.")]}

    answer, usage = route.chat(request)
    stream, chunks = route.stream(request)

    for chunk in chunks:
        validate_openai("CreateChatCompletionStreamResponse", chunk)
    assert chunks[0]["choices"][0]["delta"]["role"] == "assistant"
    assert text_of(chunks) == answer["choices"][0]["message"]["content"]
    assert stream.usage == usage
    assert (stream.completed, stream.finish_reason) == (True, "stop")
    assert stream.output_chars == len(text_of(chunks))


def test_cache_and_reasoning_tokens_are_reported_the_same_way_streamed_or_not(route: Route):
    request = {"messages": user("Count me. [[mock:cached_tokens=3,reasoning_tokens=5]]")}

    _, usage = route.chat(request)
    stream, _ = route.stream(request)

    assert stream.usage == usage
    assert usage.cached_tokens == 3
    assert usage.output_tokens >= 5
    assert usage.reasoning_tokens == (0 if route.kind == "anthropic" else 5)


def test_max_tokens_truncates_with_finish_reason_length(route: Route):
    response, usage = route.chat({"messages": user("Be short."), "max_completion_tokens": 3})

    assert response["choices"][0]["finish_reason"] == "length"
    assert usage.output_tokens == 3


def test_a_tool_call_streams_as_openai_tool_call_deltas(route: Route):
    request = {"messages": user("What's the weather in Paris?"), "tools": TOOLS}

    answer, _ = route.chat(request)
    stream, chunks = route.stream(request)

    for chunk in chunks:
        validate_openai("CreateChatCompletionStreamResponse", chunk)
    calls = tool_calls_of(chunks)
    assert list(calls) == [0]
    assert calls[0]["name"] == "get_weather"
    assert json.loads(calls[0]["arguments"]) == {"location": "Paris", "unit": "celsius"}
    assert calls[0]["id"]
    assert stream.finish_reason == answer["choices"][0]["finish_reason"] == "tool_calls"
    expected = answer["choices"][0]["message"]["tool_calls"][0]["function"]["arguments"]
    assert json.loads(expected) == json.loads(calls[0]["arguments"])


def test_a_forced_tool_choice_makes_the_upstream_call_that_tool(route: Route):
    choice = {"type": "function", "function": {"name": "get_weather"}}

    response, _ = route.chat({"messages": user("Hello."), "tools": TOOLS, "tool_choice": choice})

    assert response["choices"][0]["message"]["tool_calls"][0]["function"]["name"] == "get_weather"


ORDER_SCHEMA = {
    "type": "object",
    "properties": {
        "status": {"type": "string", "enum": ["open", "shipped"]},
        "lines": {"type": "array", "items": {"$ref": "#/$defs/Line"}, "minItems": 2},
        "note": {"anyOf": [{"type": "string"}, {"type": "null"}]},
    },
    "required": ["status", "lines", "note"],
    "additionalProperties": False,
    "$defs": {
        "Line": {
            "type": "object",
            "properties": {"sku": {"type": "string"}, "qty": {"type": "integer", "minimum": 3}},
            "required": ["sku", "qty"],
            "additionalProperties": False,
        }
    },
}


@pytest.mark.parametrize(
    ("response_format", "schema"),
    [
        (
            {"type": "json_schema", "json_schema": {"name": "order", "schema": ORDER_SCHEMA}},
            ORDER_SCHEMA,
        ),
        ({"type": "json_object"}, {"type": "object"}),
    ],
    ids=["json_schema", "json_object"],
)
def test_a_response_format_is_answered_with_json_of_it_streamed_or_not(
    route: Route, response_format, schema
):
    # given a chat request asking for JSON, translated by the adapter as the gateway sends it
    request = {"messages": user("Where is my order?"), "response_format": response_format}

    # when answered whole and streamed
    answer, usage = route.chat(request)
    stream, chunks = route.stream(request)

    # then both are the same JSON of the schema, counted like any reply
    content = answer["choices"][0]["message"]["content"]
    jsonschema.validate(json.loads(content), schema)
    assert text_of(chunks) == content
    assert stream.usage == usage and usage.output_tokens == count_tokens(content)


def test_tool_choice_none_forbids_the_tool(route: Route):
    request = {"messages": user("Weather in Paris?"), "tools": TOOLS, "tool_choice": "none"}

    response, _ = route.chat(request)

    assert response["choices"][0]["finish_reason"] == "stop"


def test_a_tool_result_turn_is_accepted_and_answered_with_text(route: Route):
    first, _ = route.chat({"messages": user("What's the weather in Paris?"), "tools": TOOLS})
    message = first["choices"][0]["message"]
    call = message["tool_calls"][0]
    history = [
        *user("What's the weather in Paris?"),
        {"role": "assistant", "content": None, "tool_calls": message["tool_calls"]},
        {"role": "tool", "tool_call_id": call["id"], "content": '{"temperature": 18}'},
    ]

    response, _ = route.chat({"messages": history, "tools": TOOLS})

    assert response["choices"][0]["message"]["content"] in REPLIES


def test_an_upstream_500_is_a_retryable_provider_error(route: Route):
    with pytest.raises(ProviderError) as raised:
        route.chat({"messages": user("Fail. [[mock:fault=500]]")})

    assert (raised.value.status, raised.value.retryable) == (500, True)


def test_an_upstream_429_is_retryable_after_its_delay(route: Route):
    with pytest.raises(ProviderError) as raised:
        route.stream({"messages": user("Slow down. [[mock:fault=429]]")})

    error = raised.value
    assert (error.status, error.retryable, error.retry_after) == (429, True, 1.0)


def test_the_overloaded_fault_is_retryable(route: Route):
    with pytest.raises(ProviderError) as raised:
        route.chat({"messages": user("Busy. [[mock:fault=overloaded]]")})

    assert raised.value.status in (503, 529)
    assert raised.value.retryable


def test_a_cut_stream_is_not_completed_has_no_usage_but_counts_output(route: Route):
    stream, chunks = route.stream({"messages": user("Cut me. [[mock:fault=cut]]")})

    assert (stream.completed, stream.usage) == (False, None)
    assert stream.output_chars == len(text_of(chunks)) > 0


def test_a_malformed_stream_chunk_is_a_502_provider_error(route: Route):
    with pytest.raises(ProviderError) as raised:
        route.stream({"messages": user("Break. [[mock:fault=malformed]]")})

    assert (raised.value.status, raised.value.retryable) == (502, False)


def test_a_wrong_key_is_a_401_provider_error(route: Route):
    request = {"model": route.model.id, "messages": user("Hi")}
    call = route.adapter.build_chat(
        request, model=route.model, provider=route.provider, api_key="wrong", stream=False
    )
    status, answer_headers, body = send(call)

    error = route.adapter.error_from(status, body, answer_headers)

    assert (error.status, error.retryable) == (401, False)
    assert error.message


@pytest.mark.parametrize("kind", ["openai", "gemini"])
def test_embeddings_come_back_as_an_openai_list(upstreams: RunningUpstreams, kind: str):
    route = Route(upstreams, kind)

    response, usage = route.embeddings({"input": ["first text", "second text"], "dimensions": 8})

    validate_openai("CreateEmbeddingResponse", response)
    assert response["model"] == route.model.id
    assert [d["index"] for d in response["data"]] == [0, 1]
    assert all(len(d["embedding"]) == 8 for d in response["data"])
    assert usage.input_tokens > 0


@pytest.mark.parametrize("kind", ["openai", "gemini"])
def test_base64_embeddings_decode_to_the_float_vectors(upstreams: RunningUpstreams, kind: str):
    route = Route(upstreams, kind)

    floats, _ = route.embeddings({"input": "same text"})
    encoded, _ = route.embeddings({"input": "same text", "encoding_format": "base64"})

    raw = base64.b64decode(encoded["data"][0]["embedding"])
    vector = list(struct.unpack(f"<{len(raw) // 4}f", raw))
    assert vector == floats["data"][0]["embedding"]


def test_openai_images_are_generated_through_the_adapter(upstreams: RunningUpstreams):
    route = Route(upstreams, "openai")
    model = dataclasses.replace(route.model, id="openai/image", upstream_id="gpt-image-1")
    request = {"model": model.id, "prompt": "a red dot", "n": 2}

    call = route.adapter.build_images(request, model=model, provider=route.provider, api_key="k1")
    status, _, body = send(call)
    response, usage = route.adapter.parse_images(status, body, model_id=model.id)

    validate_openai("ImagesResponse", response)
    assert len(response["data"]) == 2
    assert usage.output_tokens == 544
