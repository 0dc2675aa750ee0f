"""The Anthropic adapter: OpenAI chat requests to Messages requests, Messages answers and
event streams back to OpenAI completions and chunks."""

from __future__ import annotations

import json
from typing import Any

import pytest

from tests.support.openapi import validate_openai
from tollgate.catalog import Model, Pricing, Provider
from tollgate.errors import BadRequest
from tollgate.providers import ProviderError, Usage, adapter_for, anthropic
from tollgate.sse import encode

PROVIDER = Provider("anthropic", "anthropic", "https://api.anthropic.com", "anthropic")
MODEL = Model(
    id="anthropic/claude-sonnet-4-5",
    provider="anthropic",
    upstream_id="claude-sonnet-4-5-20250929",
    endpoints=frozenset({"chat"}),
    created=0,
    context_length=200000,
    max_output_tokens=64000,
    pricing=Pricing(input=1, output=1),
)
WEATHER = {
    "type": "object",
    "properties": {"location": {"type": "string"}},
    "required": ["location"],
}
TOOLS = [
    {
        "type": "function",
        "function": {"name": "get_weather", "description": "Weather", "parameters": WEATHER},
    }
]
USAGE = {
    "input_tokens": 12,
    "cache_creation_input_tokens": 5,
    "cache_read_input_tokens": 30,
    "output_tokens": 7,
}


def build(**request: Any) -> dict[str, Any]:
    request.setdefault("messages", [{"role": "user", "content": "Hi"}])
    call = anthropic.build_chat(
        {"model": MODEL.id, **request},
        model=MODEL,
        provider=PROVIDER,
        api_key="sk-ant",
        stream=False,
    )
    return json.loads(call.body)


def message(content: list[dict[str, Any]], stop_reason: str = "end_turn") -> bytes:
    return json.dumps(
        {
            "id": "msg_01",
            "type": "message",
            "role": "assistant",
            "model": "claude-sonnet-4-5-20250929",
            "content": content,
            "stop_reason": stop_reason,
            "stop_sequence": None,
            "usage": USAGE,
        }
    ).encode()


def event(name: str, **data: Any) -> bytes:
    return encode({"type": name, **data}, event=name)


def stream_of(blocks: list[tuple[dict, list[dict]]], stop_reason: str) -> bytes:
    start = {
        "id": "msg_01",
        "type": "message",
        "role": "assistant",
        "model": "claude-sonnet-4-5-20250929",
        "content": [],
        "stop_reason": None,
        "stop_sequence": None,
        "usage": {**USAGE, "output_tokens": 1},
    }
    frames = [event("message_start", message=start)]
    for index, (block, deltas) in enumerate(blocks):
        frames.append(event("content_block_start", index=index, content_block=block))
        frames.append(event("ping"))
        frames += [event("content_block_delta", index=index, delta=d) for d in deltas]
        frames.append(event("content_block_stop", index=index))
    frames.append(
        event(
            "message_delta",
            delta={"stop_reason": stop_reason, "stop_sequence": None},
            usage={"output_tokens": 7},
        )
    )
    frames.append(event("message_stop"))
    return b"".join(frames)


TEXT_STREAM = stream_of(
    [
        (
            {"type": "text", "text": ""},
            [{"type": "text_delta", "text": "Hello"}, {"type": "text_delta", "text": " there"}],
        )
    ],
    "end_turn",
)
TOOL_STREAM = stream_of(
    [
        ({"type": "text", "text": ""}, [{"type": "text_delta", "text": "Checking."}]),
        (
            {"type": "tool_use", "id": "toolu_1", "name": "get_weather", "input": {}},
            [
                {"type": "input_json_delta", "partial_json": ""},
                {"type": "input_json_delta", "partial_json": '{"location":'},
                {"type": "input_json_delta", "partial_json": '"Paris"}'},
            ],
        ),
    ],
    "tool_use",
)


def feed_all(data: bytes, step: int = 0) -> tuple[anthropic.AnthropicChatStream, list[dict]]:
    stream = anthropic.chat_stream(model_id=MODEL.id)
    pieces = [data[i : i + step] for i in range(0, len(data), step)] if step else [data]
    chunks = [c for piece in pieces for c in stream.feed(piece)]
    return stream, chunks + stream.close()


def test_the_anthropic_kind_uses_the_anthropic_adapter():
    assert adapter_for("anthropic") is anthropic


def test_given_a_chat_request_when_built_then_url_headers_and_model_are_anthropic():
    call = anthropic.build_chat(
        {"model": MODEL.id, "messages": [{"role": "user", "content": "Hi"}], "stream": True},
        model=MODEL,
        provider=PROVIDER,
        api_key="sk-ant",
        stream=True,
    )

    body = json.loads(call.body)
    assert call.url == "https://api.anthropic.com/v1/messages"
    assert call.headers["x-api-key"] == "sk-ant"
    assert call.headers["anthropic-version"] == "2023-06-01"
    assert body["model"] == "claude-sonnet-4-5-20250929"
    assert body["stream"] is True
    assert body["messages"] == [{"role": "user", "content": [{"type": "text", "text": "Hi"}]}]


def test_given_no_max_tokens_when_built_then_the_models_output_limit_is_sent():
    assert build()["max_tokens"] == 64000
    assert build(max_completion_tokens=50)["max_tokens"] == 50
    assert build(max_tokens=40)["max_tokens"] == 40


def test_given_system_and_developer_messages_when_built_then_they_become_the_system_blocks():
    body = build(
        messages=[
            {"role": "system", "content": "Be brief."},
            {"role": "developer", "content": [{"type": "text", "text": "Use French."}]},
            {"role": "user", "content": "Hi"},
        ]
    )

    assert body["system"] == [
        {"type": "text", "text": "Be brief."},
        {"type": "text", "text": "Use French."},
    ]
    assert [m["role"] for m in body["messages"]] == ["user"]


def test_given_a_tool_loop_when_built_then_calls_and_results_become_tool_use_and_tool_result():
    calls = [
        {
            "id": "toolu_1",
            "type": "function",
            "function": {"name": "get_weather", "arguments": '{"location":"Paris"}'},
        },
        {
            "id": "toolu_2",
            "type": "function",
            "function": {"name": "get_weather", "arguments": '{"location":"Rome"}'},
        },
    ]
    body = build(
        messages=[
            {"role": "user", "content": "Weather in Paris and Rome?"},
            {"role": "assistant", "content": None, "tool_calls": calls},
            {"role": "tool", "tool_call_id": "toolu_1", "content": "18C"},
            {"role": "tool", "tool_call_id": "toolu_2", "content": "24C"},
        ],
        tools=TOOLS,
    )

    assert body["messages"][1] == {
        "role": "assistant",
        "content": [
            {
                "type": "tool_use",
                "id": "toolu_1",
                "name": "get_weather",
                "input": {"location": "Paris"},
            },
            {
                "type": "tool_use",
                "id": "toolu_2",
                "name": "get_weather",
                "input": {"location": "Rome"},
            },
        ],
    }
    assert body["messages"][2] == {
        "role": "user",
        "content": [
            {"type": "tool_result", "tool_use_id": "toolu_1", "content": "18C"},
            {"type": "tool_result", "tool_use_id": "toolu_2", "content": "24C"},
        ],
    }
    assert body["tools"] == [
        {"name": "get_weather", "input_schema": WEATHER, "description": "Weather"}
    ]


@pytest.mark.parametrize(
    ("choice", "expected"),
    [
        ("auto", {"type": "auto"}),
        ("none", {"type": "none"}),
        ("required", {"type": "any"}),
        (
            {"type": "function", "function": {"name": "get_weather"}},
            {"type": "tool", "name": "get_weather"},
        ),
    ],
)
def test_given_a_tool_choice_when_built_then_it_is_translated(choice, expected):
    assert build(tools=TOOLS, tool_choice=choice)["tool_choice"] == expected


def test_given_parallel_tool_calls_false_when_built_then_parallel_tool_use_is_disabled():
    body = build(tools=TOOLS, parallel_tool_calls=False)

    assert body["tool_choice"] == {"type": "auto", "disable_parallel_tool_use": True}


def test_given_image_parts_when_built_then_data_and_http_urls_become_image_sources():
    content = [
        {"type": "text", "text": "What is this?"},
        {"type": "image_url", "image_url": {"url": "data:image/png;base64,iVBORw0KGgo="}},
        {"type": "image_url", "image_url": {"url": "https://example.com/cat.jpg"}},
    ]

    blocks = build(messages=[{"role": "user", "content": content}])["messages"][0]["content"]

    assert blocks[1] == {
        "type": "image",
        "source": {"type": "base64", "media_type": "image/png", "data": "iVBORw0KGgo="},
    }
    assert blocks[2] == {
        "type": "image",
        "source": {"type": "url", "url": "https://example.com/cat.jpg"},
    }


def test_given_sampling_parameters_when_built_then_they_are_mapped_and_capped():
    body = build(temperature=1.5, top_p=0.5, stop="END", user="u1", metadata={"a": "b"}, seed=3)

    assert body["temperature"] == 1.0
    assert "top_p" not in body
    assert body["stop_sequences"] == ["END"]
    assert not {"user", "metadata", "seed"} & set(body)


def test_given_a_json_schema_response_format_when_built_then_a_system_instruction_asks_for_it():
    schema = {"type": "object", "properties": {"a": {"type": "integer"}}}
    body = build(
        response_format={"type": "json_schema", "json_schema": {"name": "x", "schema": schema}}
    )

    assert "JSON" in body["system"][-1]["text"]
    assert json.dumps(schema, separators=(",", ":")) in body["system"][-1]["text"]


@pytest.mark.parametrize(
    ("request_extra", "param"),
    [
        ({"n": 2}, "n"),
        ({"logprobs": True}, "logprobs"),
        ({"presence_penalty": 0.5}, "presence_penalty"),
        ({"reasoning_effort": "high"}, "reasoning_effort"),
        ({"audio": {"voice": "alloy"}}, "audio"),
        ({"tools": [{"type": "web_search"}]}, "tools[0].type"),
        (
            {
                "messages": [
                    {"role": "user", "content": [{"type": "input_audio", "input_audio": {}}]}
                ]
            },
            "messages[0].content[0].type",
        ),
    ],
)
def test_given_an_unsupported_parameter_when_built_then_bad_request_names_it(request_extra, param):
    with pytest.raises(BadRequest) as raised:
        build(**request_extra)

    assert raised.value.param == param


def test_given_defaults_that_change_nothing_when_built_then_they_are_accepted():
    body = build(n=1, presence_penalty=0, frequency_penalty=0, logprobs=False)

    assert body["messages"]


def test_given_a_text_answer_when_parsed_then_usage_counts_cache_reads_and_writes_as_input():
    response, usage = anthropic.parse_chat(
        200, message([{"type": "text", "text": "Hello!"}]), model_id=MODEL.id
    )

    validate_openai("CreateChatCompletionResponse", response)
    assert response["model"] == MODEL.id
    assert response["choices"][0]["message"]["content"] == "Hello!"
    assert response["choices"][0]["finish_reason"] == "stop"
    assert usage == Usage(input_tokens=47, output_tokens=7, cached_tokens=30, cache_write_tokens=5)
    assert response["usage"]["prompt_tokens"] == 47
    assert response["usage"]["prompt_tokens_details"]["cached_tokens"] == 30


def test_given_a_tool_use_answer_when_parsed_then_it_becomes_tool_calls():
    content = [
        {"type": "thinking", "thinking": "hmm", "signature": "sig"},
        {
            "type": "tool_use",
            "id": "toolu_1",
            "name": "get_weather",
            "input": {"location": "Paris"},
        },
    ]

    response, _ = anthropic.parse_chat(200, message(content, "tool_use"), model_id=MODEL.id)

    validate_openai("CreateChatCompletionResponse", response)
    choice = response["choices"][0]
    assert choice["finish_reason"] == "tool_calls"
    assert choice["message"]["content"] is None
    assert choice["message"]["tool_calls"] == [
        {
            "id": "toolu_1",
            "type": "function",
            "function": {"name": "get_weather", "arguments": '{"location":"Paris"}'},
        }
    ]


@pytest.mark.parametrize(
    ("stop_reason", "finish"),
    [("max_tokens", "length"), ("stop_sequence", "stop"), ("refusal", "content_filter")],
)
def test_given_a_stop_reason_when_parsed_then_the_finish_reason_is_mapped(stop_reason, finish):
    response, _ = anthropic.parse_chat(
        200, message([{"type": "text", "text": "a"}], stop_reason), model_id=MODEL.id
    )

    assert response["choices"][0]["finish_reason"] == finish


def test_given_an_overloaded_answer_when_parsed_then_the_error_is_retryable():
    body = b'{"type":"error","error":{"type":"overloaded_error","message":"Overloaded"}}'

    with pytest.raises(ProviderError) as raised:
        anthropic.parse_chat(529, body, model_id=MODEL.id, headers={"retry-after": "3"})

    error = raised.value
    assert (error.status, error.retryable, error.retry_after) == (529, True, 3.0)
    assert (error.message, error.error_type) == ("Overloaded", "overloaded_error")


def test_given_an_invalid_request_answer_when_parsed_then_it_is_not_retryable():
    body = b'{"type":"error","error":{"type":"invalid_request_error","message":"bad"}}'

    error = anthropic.error_from(400, body, {})

    assert (error.status, error.retryable, error.message) == (400, False, "bad")


def test_given_a_text_stream_fed_byte_by_byte_then_chunks_and_cumulative_usage_are_right():
    stream, chunks = feed_all(TEXT_STREAM, step=1)

    for item in chunks:
        validate_openai("CreateChatCompletionStreamResponse", item)
    deltas = [c["choices"][0]["delta"] for c in chunks]
    assert deltas == [
        {"role": "assistant", "content": ""},
        {"content": "Hello"},
        {"content": " there"},
        {},
    ]
    assert chunks[-1]["choices"][0]["finish_reason"] == "stop"
    assert len({c["id"] for c in chunks}) == 1
    assert {c["model"] for c in chunks} == {MODEL.id}
    assert stream.usage == Usage(
        input_tokens=47, output_tokens=7, cached_tokens=30, cache_write_tokens=5
    )
    assert (stream.completed, stream.finish_reason, stream.output_chars) == (True, "stop", 11)


def test_given_a_tool_use_stream_then_tool_call_deltas_carry_index_id_name_then_arguments():
    stream, chunks = feed_all(TOOL_STREAM)

    for item in chunks:
        validate_openai("CreateChatCompletionStreamResponse", item)
    deltas = [c["choices"][0]["delta"] for c in chunks]
    assert deltas[1] == {"content": "Checking."}
    assert deltas[2] == {
        "tool_calls": [
            {
                "index": 0,
                "id": "toolu_1",
                "type": "function",
                "function": {"name": "get_weather", "arguments": ""},
            }
        ]
    }
    arguments = "".join(d["tool_calls"][0]["function"]["arguments"] for d in deltas[3:5])
    assert arguments == '{"location":"Paris"}'
    assert chunks[-1]["choices"][0]["finish_reason"] == "tool_calls"
    assert stream.output_chars == len("Checking.") + len(arguments)


def test_given_a_stream_cut_before_message_delta_then_no_usage_and_not_completed():
    cut = TEXT_STREAM[: TEXT_STREAM.index(b"event: content_block_stop")]

    stream, _ = feed_all(cut)

    assert (stream.completed, stream.usage, stream.finish_reason) == (False, None, None)
    assert stream.output_chars == 11


def test_given_an_error_event_mid_stream_then_a_provider_error_is_raised():
    data = event("error", error={"type": "overloaded_error", "message": "Overloaded"})

    with pytest.raises(ProviderError) as raised:
        feed_all(TEXT_STREAM[: TEXT_STREAM.index(b"event: content_block_stop")] + data)

    assert (raised.value.status, raised.value.retryable) == (529, True)


def test_given_an_event_that_is_not_json_then_a_502_provider_error_is_raised():
    stream = anthropic.chat_stream(model_id=MODEL.id)

    with pytest.raises(ProviderError) as raised:
        stream.feed(b"event: message_start\ndata: {oops\n\n")

    assert (raised.value.status, raised.value.retryable) == (502, False)


def test_embeddings_and_images_are_refused_for_anthropic():
    with pytest.raises(BadRequest):
        anthropic.build_embeddings({"input": "x"}, model=MODEL, provider=PROVIDER, api_key="k")
    with pytest.raises(BadRequest):
        anthropic.build_images({"prompt": "x"}, model=MODEL, provider=PROVIDER, api_key="k")
