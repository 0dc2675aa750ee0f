"""The devstack's mock upstreams, driven over HTTP with the providers' own SDKs (and httpx
for Gemini), so a drift from the real wire formats fails here. OpenAI-format answers are
also validated against OpenAI's published OpenAPI document."""

from __future__ import annotations

import base64
import enum
import json
import time
from collections.abc import Iterator
from typing import Any

import anthropic
import httpx
import httpx2
import openai
import pydantic
import pytest

from devstack.upstreams import RunningUpstreams, start_upstreams
from devstack.upstreams.common import REPLIES, count_tokens
from tests.support.openapi import validate_openai

KEYS = {"openai": "sk-mock-openai", "anthropic": "sk-ant-mock", "gemini": "AIza-mock-gemini"}
WEATHER_TOOL = {
    "type": "object",
    "properties": {
        "location": {"type": "string"},
        "unit": {"type": "string", "enum": ["celsius", "fahrenheit"]},
        "days": {"type": "integer"},
    },
    "required": ["location", "unit"],
}
OPENAI_TOOLS = [
    {"type": "function", "function": {"name": "get_weather", "parameters": WEATHER_TOOL}}
]
ANTHROPIC_TOOLS = [{"name": "get_weather", "input_schema": WEATHER_TOOL}]
GEMINI_TOOLS = [{"functionDeclarations": [{"name": "get_weather", "parameters": WEATHER_TOOL}]}]


@pytest.fixture(scope="module")
def upstreams() -> Iterator[RunningUpstreams]:
    running = start_upstreams(KEYS, port=0)
    yield running
    running.stop()


@pytest.fixture(scope="module")
def oai(upstreams: RunningUpstreams) -> openai.OpenAI:
    return openai.OpenAI(
        base_url=upstreams.base_urls["openai"], api_key=KEYS["openai"], max_retries=0
    )


@pytest.fixture(scope="module")
def claude(upstreams: RunningUpstreams) -> anthropic.Anthropic:
    return anthropic.Anthropic(
        base_url=upstreams.base_urls["anthropic"], api_key=KEYS["anthropic"], max_retries=0
    )


@pytest.fixture(scope="module")
def gemini(upstreams: RunningUpstreams) -> Iterator[httpx.Client]:
    headers = {"x-goog-api-key": KEYS["gemini"]}
    with httpx.Client(base_url=upstreams.base_urls["gemini"], headers=headers) as client:
        yield client


# A deadline for what must come at once, generous for a loaded machine; far shorter than
# the pauses (minutes) that tell streaming from buffering.
READ_DEADLINE_S = 60


def user(text: str) -> list[dict[str, Any]]:
    return [{"role": "user", "content": text}]


def gemini_user(text: str) -> dict[str, Any]:
    return {"contents": [{"role": "user", "parts": [{"text": text}]}]}


def sse_data(response: httpx.Response) -> Iterator[str]:
    """The ``data:`` payloads of an SSE response, as they arrive."""
    for line in response.iter_lines():
        if line.startswith("data: "):
            yield line[len("data: ") :]


def openai_raw_stream(upstreams: RunningUpstreams, body: dict[str, Any]) -> list[str]:
    with httpx.stream(
        "POST",
        upstreams.base_urls["openai"] + "/chat/completions",
        json={**body, "stream": True},
        headers={"authorization": f"Bearer {KEYS['openai']}"},
    ) as response:
        assert response.status_code == 200
        assert response.headers["content-type"].startswith("text/event-stream")
        return list(sse_data(response))


# -- OpenAI -----------------------------------------------------------------------------


def test_openai_chat_completion_is_deterministic_counts_tokens_and_matches_the_spec(oai):
    # given a prompt
    prompt = "Tell me something about toll gates."

    # when it is sent twice
    first = oai.chat.completions.with_raw_response.create(
        model="gpt-4o-mini", messages=user(prompt)
    )
    second = oai.chat.completions.create(model="gpt-4o-mini", messages=user(prompt))

    # then both answers are the same reply, counted by the documented rule, in OpenAI's shape
    validate_openai("CreateChatCompletionResponse", first.http_response.json())
    answer = first.parse()
    text = answer.choices[0].message.content
    assert text in REPLIES and second.choices[0].message.content == text
    assert answer.choices[0].finish_reason == "stop"
    assert answer.model == "gpt-4o-mini"
    assert answer.usage.prompt_tokens == count_tokens(prompt)
    assert answer.usage.completion_tokens == count_tokens(text)
    assert answer.usage.total_tokens == answer.usage.prompt_tokens + answer.usage.completion_tokens
    assert answer.usage.prompt_tokens_details.cached_tokens == 0
    assert answer.usage.completion_tokens_details.reasoning_tokens == 0


def test_openai_stream_with_include_usage_streams_the_same_text_then_usage_then_done(
    oai, upstreams
):
    # given a prompt and its non-streamed answer
    prompt = "Stream me an answer."
    whole = oai.chat.completions.create(model="gpt-4o-mini", messages=user(prompt))

    # when it is streamed with include_usage
    chunks = list(
        oai.chat.completions.create(
            model="gpt-4o-mini",
            messages=user(prompt),
            stream=True,
            stream_options={"include_usage": True},
        )
    )

    # then one chunk per token rebuilds the text, and the last chunk has no choice but usage
    text_chunks = [c for c in chunks if c.choices and c.choices[0].delta.content]
    assert (
        "".join(c.choices[0].delta.content for c in text_chunks) == whole.choices[0].message.content
    )
    assert len(text_chunks) == whole.usage.completion_tokens
    assert chunks[0].choices[0].delta.role == "assistant"
    assert chunks[-2].choices[0].finish_reason == "stop"
    assert chunks[-1].choices == [] and chunks[-1].usage == whole.usage
    assert all(c.usage is None for c in chunks[:-1])

    # and every raw chunk is a valid CreateChatCompletionStreamResponse, before [DONE]
    raw = openai_raw_stream(
        upstreams,
        {
            "model": "gpt-4o-mini",
            "messages": user(prompt),
            "stream_options": {"include_usage": True},
        },
    )
    assert raw[-1] == "[DONE]"
    for data in raw[:-1]:
        validate_openai("CreateChatCompletionStreamResponse", json.loads(data))


def test_openai_stream_without_include_usage_sends_no_usage_chunk(oai):
    chunks = list(
        oai.chat.completions.create(model="gpt-4o", messages=user("No usage please."), stream=True)
    )

    assert chunks[-1].choices[0].finish_reason == "stop"
    assert all(c.usage is None for c in chunks)


def test_openai_max_completion_tokens_truncates_with_finish_reason_length(oai):
    answer = oai.chat.completions.create(
        model="gpt-4o-mini", messages=user("Be brief."), max_completion_tokens=3
    )

    assert answer.choices[0].finish_reason == "length"
    assert answer.usage.completion_tokens == 3
    assert count_tokens(answer.choices[0].message.content) == 3


def test_openai_mentioning_the_weather_with_tools_answers_with_a_tool_call(oai):
    # given a weather tool and a question about the weather
    response = oai.chat.completions.with_raw_response.create(
        model="gpt-4o-mini",
        messages=user("What is the weather like in Paris?"),
        tools=OPENAI_TOOLS,
    )

    # then the model calls the tool with arguments that follow its schema
    validate_openai("CreateChatCompletionResponse", response.http_response.json())
    answer = response.parse()
    assert answer.choices[0].finish_reason == "tool_calls"
    assert answer.choices[0].message.content is None
    call = answer.choices[0].message.tool_calls[0]
    assert call.type == "function" and call.function.name == "get_weather"
    assert json.loads(call.function.arguments) == {"location": "Paris", "unit": "celsius"}
    assert answer.usage.completion_tokens == count_tokens("get_weather") + count_tokens(
        call.function.arguments
    )


def test_openai_streamed_tool_call_arguments_arrive_in_several_deltas(oai, upstreams):
    # given a forced tool choice
    body = {
        "model": "gpt-4o-mini",
        "messages": user("Use the tool."),
        "tools": OPENAI_TOOLS,
        "tool_choice": {"type": "function", "function": {"name": "get_weather"}},
    }

    # when streamed
    chunks = list(oai.chat.completions.create(**body, stream=True))

    # then the first delta names the call and the arguments follow in pieces that parse as JSON
    deltas = [c.choices[0].delta.tool_calls for c in chunks if c.choices[0].delta.tool_calls]
    assert deltas[0][0].id and deltas[0][0].function.name == "get_weather"
    pieces = [d[0].function.arguments for d in deltas[1:]]
    assert len(pieces) >= 3
    assert json.loads("".join(pieces)) == {"location": "Paris", "unit": "celsius"}
    assert chunks[-1].choices[0].finish_reason == "tool_calls"
    for data in openai_raw_stream(upstreams, body)[:-1]:
        validate_openai("CreateChatCompletionStreamResponse", json.loads(data))


def test_openai_tools_are_not_called_when_forbidden_or_after_a_tool_result(oai):
    # given tool_choice "none"
    forbidden = oai.chat.completions.create(
        model="gpt-4o-mini", messages=user("Weather?"), tools=OPENAI_TOOLS, tool_choice="none"
    )
    # and a conversation that ends with the tool's result
    after_result = oai.chat.completions.create(
        model="gpt-4o-mini",
        tools=OPENAI_TOOLS,
        messages=[
            *user("Weather in Paris?"),
            {
                "role": "assistant",
                "content": None,
                "tool_calls": [
                    {
                        "id": "call_1",
                        "type": "function",
                        "function": {"name": "get_weather", "arguments": '{"location":"Paris"}'},
                    }
                ],
            },
            {"role": "tool", "tool_call_id": "call_1", "content": "Sunny, 21 degrees"},
        ],
    )

    # then both answer with text
    assert forbidden.choices[0].finish_reason == "stop"
    assert after_result.choices[0].finish_reason == "stop"
    assert after_result.choices[0].message.content in REPLIES


def test_openai_embeddings_come_as_floats_or_base64_of_the_same_vector(oai):
    # given two inputs
    inputs = ["first text", "second text"]

    # when embedded as floats, with the SDK's default (it asks base64 and decodes it),
    # and with asked dimensions
    floats = oai.embeddings.with_raw_response.create(
        model="text-embedding-3-small", input=inputs, encoding_format="float"
    )
    decoded = oai.embeddings.with_raw_response.create(model="text-embedding-3-small", input=inputs)
    sized = oai.embeddings.create(model="text-embedding-3-small", input="first text", dimensions=5)

    # then the float answer is a valid CreateEmbeddingResponse of unit vectors (the document
    # models only float embeddings: a base64 answer carries a string instead)
    validate_openai("CreateEmbeddingResponse", floats.http_response.json())
    vectors = [item.embedding for item in floats.parse().data]
    assert len(vectors) == 2 and vectors[0] != vectors[1]
    assert len(vectors[0]) == 16 and abs(sum(v * v for v in vectors[0]) - 1) < 1e-5
    assert floats.parse().usage.prompt_tokens == 4
    # and base64 carries the same float32 vectors
    assert isinstance(decoded.http_response.json()["data"][0]["embedding"], str)
    assert [item.embedding for item in decoded.parse().data] == vectors
    assert len(sized.data[0].embedding) == 5


def test_openai_images_come_as_b64_json_or_as_a_fetchable_url(oai):
    # when an image is asked as b64_json and as url
    as_b64 = oai.images.with_raw_response.generate(
        model="gpt-image-1", prompt="a toll gate at dawn", response_format="b64_json"
    )
    as_url = oai.images.with_raw_response.generate(
        model="dall-e-3", prompt="a toll gate at dawn", response_format="url"
    )

    # then both are valid ImagesResponse, the data is a PNG, and the URL serves it
    validate_openai("ImagesResponse", as_b64.http_response.json())
    validate_openai("ImagesResponse", as_url.http_response.json())
    png = base64.b64decode(as_b64.parse().data[0].b64_json)
    assert png.startswith(b"\x89PNG\r\n\x1a\n")
    assert as_b64.parse().usage.input_tokens == count_tokens("a toll gate at dawn")
    fetched = httpx.get(as_url.parse().data[0].url)
    assert fetched.status_code == 200 and fetched.headers["content-type"] == "image/png"
    assert fetched.content == png


def test_openai_models_list_matches_the_spec(oai):
    response = oai.models.with_raw_response.list()

    validate_openai("ListModelsResponse", response.http_response.json())
    assert "gpt-4o-mini" in [model.id for model in response.parse()]


def test_openai_wrong_key_is_a_401_in_openai_error_shape(upstreams):
    client = openai.OpenAI(
        base_url=upstreams.base_urls["openai"], api_key="sk-wrong", max_retries=0
    )

    with pytest.raises(openai.AuthenticationError) as caught:
        client.chat.completions.create(model="gpt-4o-mini", messages=user("hi"))

    assert caught.value.status_code == 401
    assert caught.value.code == "invalid_api_key"
    validate_openai("Error", caught.value.response.json()["error"])
    assert "sk-wrong" not in caught.value.response.text


# -- Anthropic --------------------------------------------------------------------------


def test_anthropic_message_is_deterministic_with_usage(claude):
    # given a system prompt and a user message
    system, prompt = "You are terse.", "Tell me something about toll gates."

    # when sent twice
    first = claude.messages.create(
        model="claude-mock-large", max_tokens=200, system=system, messages=user(prompt)
    )
    second = claude.messages.create(
        model="claude-mock-large", max_tokens=200, system=system, messages=user(prompt)
    )

    # then the same reply, with usage by the documented rule
    assert first.type == "message" and first.role == "assistant"
    assert first.content[0].type == "text" and first.content[0].text in REPLIES
    assert second.content[0].text == first.content[0].text
    assert first.stop_reason == "end_turn"
    assert first.usage.input_tokens == count_tokens(system) + count_tokens(prompt)
    assert first.usage.output_tokens == count_tokens(first.content[0].text)
    assert first.usage.cache_read_input_tokens == 0
    assert first.usage.cache_creation_input_tokens == 0


def test_anthropic_stream_builds_the_same_message_as_the_non_streamed_one(claude):
    # given a prompt and its non-streamed answer
    prompt = "Stream it, please."
    whole = claude.messages.create(model="claude-mock-small", max_tokens=200, messages=user(prompt))

    # when streamed
    with claude.messages.stream(
        model="claude-mock-small", max_tokens=200, messages=user(prompt)
    ) as stream:
        pieces = list(stream.text_stream)
        final = stream.get_final_message()

    # then the text came token by token, and the final usage is cumulative
    assert len(pieces) == whole.usage.output_tokens
    assert final.content[0].text == "".join(pieces) == whole.content[0].text
    assert final.stop_reason == "end_turn"
    assert final.usage.output_tokens == whole.usage.output_tokens
    assert final.usage.input_tokens == whole.usage.input_tokens


def test_anthropic_stream_sends_the_real_event_sequence(upstreams):
    with httpx.stream(
        "POST",
        upstreams.base_urls["anthropic"] + "/v1/messages",
        json={"model": "claude-x", "max_tokens": 50, "stream": True, "messages": user("hi")},
        headers={"x-api-key": KEYS["anthropic"], "anthropic-version": "2023-06-01"},
    ) as response:
        lines = list(response.iter_lines())

    events = [line[len("event: ") :] for line in lines if line.startswith("event: ")]
    datas = [json.loads(line[len("data: ") :]) for line in lines if line.startswith("data: ")]
    assert [d["type"] for d in datas] == events
    assert events[:3] == ["message_start", "content_block_start", "ping"]
    assert set(events[3:-3]) == {"content_block_delta"}
    assert events[-3:] == ["content_block_stop", "message_delta", "message_stop"]
    assert datas[0]["message"]["usage"]["input_tokens"] == 1
    assert datas[-2]["delta"]["stop_reason"] == "end_turn"
    assert datas[-2]["usage"]["output_tokens"] == len(events) - 6


def test_anthropic_max_tokens_stops_with_max_tokens(claude):
    answer = claude.messages.create(model="claude-x", max_tokens=2, messages=user("Go on."))

    assert answer.stop_reason == "max_tokens"
    assert answer.usage.output_tokens == 2 == count_tokens(answer.content[0].text)


def test_anthropic_tool_use_non_streamed_and_streamed(claude):
    # given a weather tool and a question about the weather
    request = {
        "model": "claude-x",
        "max_tokens": 200,
        "tools": ANTHROPIC_TOOLS,
        "messages": user("How is the weather in Lyon?"),
    }

    # when asked without and with streaming
    answer = claude.messages.create(**request)
    with claude.messages.stream(**request) as stream:
        json_deltas = [
            e.delta.partial_json
            for e in stream
            if e.type == "content_block_delta" and e.delta.type == "input_json_delta"
        ]
        final = stream.get_final_message()

    # then both use the tool with the same input, streamed as several JSON deltas
    for message in (answer, final):
        assert message.stop_reason == "tool_use"
        block = message.content[0]
        assert block.type == "tool_use" and block.name == "get_weather"
        assert block.input == {"location": "Paris", "unit": "celsius"}
        assert block.id.startswith("toolu_")
    assert len(json_deltas) >= 3 and json_deltas[0] == ""
    assert json.loads("".join(json_deltas)) == answer.content[0].input
    assert final.usage.output_tokens == answer.usage.output_tokens


def test_anthropic_forced_tool_choice_calls_the_named_tool(claude):
    answer = claude.messages.create(
        model="claude-x",
        max_tokens=100,
        tools=[*ANTHROPIC_TOOLS, {"name": "lookup", "input_schema": {"type": "object"}}],
        tool_choice={"type": "tool", "name": "lookup"},
        messages=user("Anything."),
    )

    assert answer.stop_reason == "tool_use"
    assert answer.content[0].name == "lookup" and answer.content[0].input == {}


def test_anthropic_wrong_key_is_a_401_authentication_error(upstreams):
    client = anthropic.Anthropic(
        base_url=upstreams.base_urls["anthropic"], api_key="sk-ant-wrong", max_retries=0
    )

    with pytest.raises(anthropic.AuthenticationError) as caught:
        client.messages.create(model="claude-x", max_tokens=10, messages=user("hi"))

    assert caught.value.status_code == 401
    assert caught.value.body["type"] == "error"
    assert caught.value.body["error"]["type"] == "authentication_error"


@pytest.mark.parametrize(
    ("headers", "body", "message"),
    [
        ({}, {"model": "claude-x", "max_tokens": 5, "messages": user("hi")}, "anthropic-version"),
        (
            {"anthropic-version": "2023-06-01"},
            {"model": "claude-x", "messages": user("hi")},
            "max_tokens",
        ),
        ({"anthropic-version": "2023-06-01"}, {"model": "claude-x", "max_tokens": 5}, "messages"),
    ],
)
def test_anthropic_bad_requests_are_400_invalid_request_errors(upstreams, headers, body, message):
    response = httpx.post(
        upstreams.base_urls["anthropic"] + "/v1/messages",
        json=body,
        headers={"x-api-key": KEYS["anthropic"], **headers},
    )

    assert response.status_code == 400
    assert response.json()["type"] == "error"
    assert response.json()["error"]["type"] == "invalid_request_error"
    assert message in response.json()["error"]["message"]


# -- Gemini -----------------------------------------------------------------------------


def test_gemini_generate_content_answers_with_consistent_usage_metadata(gemini):
    prompt = "Tell me something about toll gates."

    first = gemini.post("/v1beta/models/gemini-2.5-flash:generateContent", json=gemini_user(prompt))
    second = gemini.post(
        "/v1beta/models/gemini-2.5-flash:generateContent", json=gemini_user(prompt)
    )

    assert first.status_code == 200
    candidate = first.json()["candidates"][0]
    text = candidate["content"]["parts"][0]["text"]
    assert text in REPLIES and second.json()["candidates"][0]["content"]["parts"][0]["text"] == text
    assert candidate["content"]["role"] == "model" and candidate["finishReason"] == "STOP"
    usage = first.json()["usageMetadata"]
    assert usage["promptTokenCount"] == count_tokens(prompt)
    assert usage["candidatesTokenCount"] == count_tokens(text)
    assert usage["totalTokenCount"] == usage["promptTokenCount"] + usage["candidatesTokenCount"]
    assert "cachedContentTokenCount" not in usage and "thoughtsTokenCount" not in usage


def test_gemini_sse_stream_carries_usage_metadata_on_every_chunk(gemini):
    # given a prompt and its non-streamed answer
    body = gemini_user("Stream it.")
    whole = gemini.post("/v1beta/models/gemini-2.5-flash:generateContent", json=body).json()

    # when streamed with alt=sse
    with gemini.stream(
        "POST", "/v1beta/models/gemini-2.5-flash:streamGenerateContent?alt=sse", json=body
    ) as response:
        assert response.headers["content-type"].startswith("text/event-stream")
        chunks = [json.loads(data) for data in sse_data(response)]

    # then every chunk has usageMetadata, counts grow, and only the last one finishes
    assert len(chunks) > 1
    assert all("usageMetadata" in chunk for chunk in chunks)
    counts = [chunk["usageMetadata"]["candidatesTokenCount"] for chunk in chunks]
    assert counts == sorted(counts) and counts[-1] == whole["usageMetadata"]["candidatesTokenCount"]
    assert [("finishReason" in c["candidates"][0]) for c in chunks] == [False] * (
        len(chunks) - 1
    ) + [True]
    text = "".join(c["candidates"][0]["content"]["parts"][0]["text"] for c in chunks)
    assert text == whole["candidates"][0]["content"]["parts"][0]["text"]


def test_gemini_stream_without_alt_sse_is_one_json_array(gemini):
    body = gemini_user("Stream it.")

    response = gemini.post("/v1beta/models/gemini-2.5-flash:streamGenerateContent", json=body)

    assert response.status_code == 200 and response.headers["content-type"].startswith(
        "application/json"
    )
    chunks = response.json()
    assert isinstance(chunks, list) and len(chunks) > 1
    assert chunks[-1]["candidates"][0]["finishReason"] == "STOP"


def test_gemini_function_declarations_produce_a_function_call(gemini):
    body = {**gemini_user("What's the weather?"), "tools": GEMINI_TOOLS}

    answer = gemini.post("/v1beta/models/gemini-2.5-flash:generateContent", json=body).json()
    streamed = gemini.post(
        "/v1beta/models/gemini-2.5-flash:streamGenerateContent", params={"alt": "sse"}, json=body
    )

    candidate = answer["candidates"][0]
    call = candidate["content"]["parts"][0]["functionCall"]
    assert call == {"name": "get_weather", "args": {"location": "Paris", "unit": "celsius"}}
    assert candidate["finishReason"] == "STOP"
    last = json.loads(list(sse_data(streamed))[-1])
    assert last["candidates"][0]["content"]["parts"][0]["functionCall"] == call


def test_gemini_max_output_tokens_finishes_with_max_tokens(gemini):
    body = {**gemini_user("Short."), "generationConfig": {"maxOutputTokens": 4}}

    answer = gemini.post("/v1beta/models/gemini-2.5-flash:generateContent", json=body).json()

    assert answer["candidates"][0]["finishReason"] == "MAX_TOKENS"
    assert answer["usageMetadata"]["candidatesTokenCount"] == 4


def test_gemini_embeddings_single_and_batch(gemini):
    single = gemini.post(
        "/v1beta/models/text-embedding-004:embedContent",
        json={"content": {"parts": [{"text": "hello"}]}, "outputDimensionality": 8},
    )
    batch = gemini.post(
        "/v1beta/models/text-embedding-004:batchEmbedContents",
        json={
            "requests": [
                {"model": "models/text-embedding-004", "content": {"parts": [{"text": t}]}}
                for t in ("hello", "world")
            ]
        },
    )

    assert len(single.json()["embedding"]["values"]) == 8
    vectors = [e["values"] for e in batch.json()["embeddings"]]
    assert len(vectors) == 2 and len(vectors[0]) == 16 and vectors[0] != vectors[1]


def test_gemini_key_is_accepted_as_query_parameter_and_a_wrong_key_is_a_401(upstreams):
    url = upstreams.base_urls["gemini"] + "/v1beta/models/gemini-2.5-flash:generateContent"

    good = httpx.post(url, params={"key": KEYS["gemini"]}, json=gemini_user("hi"))
    wrong = httpx.post(url, headers={"x-goog-api-key": "nope"}, json=gemini_user("hi"))

    assert good.status_code == 200
    assert wrong.status_code == 401
    error = wrong.json()["error"]
    assert error["code"] == 401 and error["status"] == "UNAUTHENTICATED" and error["message"]


# -- usage injection, faults and latency ------------------------------------------------


def test_cached_and_reasoning_tokens_are_injected_by_marker_in_each_format(oai, claude, gemini):
    prompt = (
        "Cached please, this prompt has enough words. [[mock:cached_tokens=3,reasoning_tokens=5]]"
    )

    chat = oai.chat.completions.create(model="o4-mini", messages=user(prompt))
    message = claude.messages.create(model="claude-x", max_tokens=100, messages=user(prompt))
    content = gemini.post("/v1beta/models/gemini-2.5-pro:generateContent", json=gemini_user(prompt))

    text_tokens = count_tokens(chat.choices[0].message.content)
    assert chat.usage.prompt_tokens_details.cached_tokens == 3
    assert chat.usage.completion_tokens_details.reasoning_tokens == 5
    assert chat.usage.completion_tokens == text_tokens + 5
    assert message.usage.cache_read_input_tokens == 3
    assert message.usage.input_tokens == count_tokens(prompt) - 3
    assert message.usage.output_tokens == text_tokens + 5
    usage = content.json()["usageMetadata"]
    assert usage["cachedContentTokenCount"] == 3 and usage["thoughtsTokenCount"] == 5
    assert usage["totalTokenCount"] == usage["promptTokenCount"] + text_tokens + 5


def test_fault_500_is_each_providers_server_error(oai, claude, gemini):
    with pytest.raises(openai.InternalServerError) as openai_error:
        oai.chat.completions.create(model="gpt-4o-mini", messages=user("hi [[mock:fault=500]]"))
    with pytest.raises(anthropic.InternalServerError) as anthropic_error:
        claude.messages.create(
            model="claude-x",
            max_tokens=10,
            messages=user("hi"),
            extra_headers={"x-mock-fault": "500"},
        )
    google = gemini.post(
        "/v1beta/models/gemini-2.5-flash:generateContent", json=gemini_user("hi [[mock:fault=500]]")
    )

    assert openai_error.value.status_code == 500
    validate_openai("Error", openai_error.value.response.json()["error"])
    assert openai_error.value.type == "server_error"
    assert anthropic_error.value.body["error"]["type"] == "api_error"
    assert google.status_code == 500 and google.json()["error"]["status"] == "INTERNAL"


def test_fault_429_is_each_providers_rate_limit_with_retry_after(oai, claude, gemini):
    with pytest.raises(openai.RateLimitError) as openai_error:
        oai.chat.completions.create(
            model="gpt-4o-mini", messages=user("hi [[mock:fault=429]]"), stream=True
        )
    with pytest.raises(anthropic.RateLimitError) as anthropic_error:
        claude.messages.create(
            model="claude-x", max_tokens=10, messages=user("hi [[mock:fault=429]]")
        )
    google = gemini.post(
        "/v1beta/models/gemini-2.5-flash:generateContent",
        json=gemini_user("hi"),
        headers={"x-mock-fault": "429"},
    )

    assert openai_error.value.response.headers["retry-after"] == "1"
    assert openai_error.value.code == "rate_limit_exceeded"
    validate_openai("Error", openai_error.value.response.json()["error"])
    assert anthropic_error.value.response.headers["retry-after"] == "1"
    assert anthropic_error.value.body["error"]["type"] == "rate_limit_error"
    assert google.status_code == 429 and google.headers["retry-after"] == "1"
    assert google.json()["error"]["status"] == "RESOURCE_EXHAUSTED"


def test_fault_malformed_breaks_the_json_of_answers_and_of_streams(oai, claude, gemini):
    with pytest.raises(json.JSONDecodeError):
        oai.chat.completions.create(model="gpt-4o-mini", messages=user("[[mock:fault=malformed]]"))
    with pytest.raises(json.JSONDecodeError):
        list(
            oai.chat.completions.create(
                model="gpt-4o-mini", messages=user("[[mock:fault=malformed]]"), stream=True
            )
        )
    with (
        pytest.raises(json.JSONDecodeError),
        claude.messages.stream(
            model="claude-x", max_tokens=50, messages=user("[[mock:fault=malformed]]")
        ) as stream,
    ):
        stream.get_final_message()
    google = gemini.post(
        "/v1beta/models/gemini-2.5-flash:streamGenerateContent",
        json=gemini_user("[[mock:fault=malformed]]"),
    )
    assert google.status_code == 200
    with pytest.raises(json.JSONDecodeError):
        google.json()


def test_fault_cut_closes_the_connection_mid_stream_or_before_any_answer(oai, claude, gemini):
    # OpenAI: the SDK got some chunks, then the connection died before finish/usage
    received = []
    with pytest.raises(openai.APIConnectionError):
        for chunk in oai.chat.completions.create(
            model="gpt-4o-mini",
            messages=user("[[mock:fault=cut]]"),
            stream=True,
            stream_options={"include_usage": True},
        ):
            received.append(chunk)
    assert received and all(c.usage is None for c in received)
    assert all(c.choices[0].finish_reason is None for c in received)

    # Anthropic: streamed and not
    with (
        pytest.raises((anthropic.APIConnectionError, httpx2.TransportError)),
        claude.messages.stream(
            model="claude-x", max_tokens=50, messages=user("[[mock:fault=cut]]")
        ) as stream,
    ):
        stream.get_final_message()
    with pytest.raises(anthropic.APIConnectionError):
        claude.messages.create(model="claude-x", max_tokens=50, messages=user("[[mock:fault=cut]]"))

    # Gemini: the SSE stream ends without the chunk that has the finishReason
    lines: list[str] = []
    with (
        pytest.raises(httpx.RemoteProtocolError),
        gemini.stream(
            "POST",
            "/v1beta/models/gemini-2.5-flash:streamGenerateContent?alt=sse",
            json=gemini_user("[[mock:fault=cut]]"),
        ) as response,
    ):
        lines.extend(response.iter_lines())
    assert lines and all("finishReason" not in line for line in lines)


def test_fault_timeout_outlasts_the_clients_timeout(upstreams):
    client = openai.OpenAI(
        base_url=upstreams.base_urls["openai"], api_key=KEYS["openai"], max_retries=0, timeout=0.3
    )

    with pytest.raises(openai.APITimeoutError):
        client.chat.completions.create(model="gpt-4o-mini", messages=user("[[mock:fault=timeout]]"))


def test_latency_by_marker_or_header_is_respected(oai, gemini):
    started = time.monotonic()
    oai.chat.completions.create(model="gpt-4o-mini", messages=user("hi [[mock:latency_ms=200]]"))
    marker_elapsed = time.monotonic() - started

    started = time.monotonic()
    gemini.post(
        "/v1beta/models/gemini-2.5-flash:generateContent",
        json=gemini_user("hi"),
        headers={"x-mock-latency-ms": "150"},
    )
    header_elapsed = time.monotonic() - started

    assert marker_elapsed >= 0.2
    assert header_elapsed >= 0.15


def test_an_unknown_fault_is_a_400(oai):
    with pytest.raises(openai.BadRequestError) as caught:
        oai.chat.completions.create(model="gpt-4o-mini", messages=user("[[mock:fault=explode]]"))

    assert "explode" in caught.value.message


def test_streams_really_stream_chunk_by_chunk(upstreams):
    # given a pause of ten minutes between chunks: the whole answer would take an hour
    prompt = "Slowly, please. [[mock:chunk_delay_ms=600000]]"
    streams = [
        (
            upstreams.base_urls["openai"] + "/chat/completions",
            {"authorization": f"Bearer {KEYS['openai']}"},
            {"model": "gpt-4o-mini", "messages": user(prompt), "stream": True},
        ),
        (
            upstreams.base_urls["gemini"] + "/v1beta/models/gemini-2.5-flash:streamGenerateContent",
            {"x-goog-api-key": KEYS["gemini"]},
            gemini_user(prompt),
        ),
    ]

    for url, headers, body in streams:
        # when the first chunk is read, with a read deadline far shorter than the answer
        with (
            httpx.Client(timeout=READ_DEADLINE_S) as client,
            client.stream(
                "POST",
                url,
                params={"alt": "sse"} if "gemini" in url else None,
                json=body,
                headers=headers,
            ) as response,
        ):
            first = next(sse_data(response))
        # then it came while the rest was still to be written (leaving ends the mock's pause)
        assert json.loads(first)


def test_requests_are_counted_per_provider_path_and_model(upstreams, oai, claude, gemini):
    # given fresh counters
    upstreams.app.reset()

    # when each provider is called
    oai.chat.completions.create(model="gpt-4o-mini", messages=user("one"))
    oai.chat.completions.create(model="gpt-4o", messages=user("two"))
    claude.messages.create(model="claude-x", max_tokens=5, messages=user("three"))
    gemini.post("/v1beta/models/gemini-2.5-flash:generateContent", json=gemini_user("four"))

    # then the counters say so
    assert upstreams.app.requests[("openai", "/v1/chat/completions")] == 2
    assert upstreams.app.count("anthropic", "/v1/messages") == 1
    assert upstreams.app.count("gemini") == 1
    assert upstreams.app.count_model("openai", "gpt-4o") == 1
    assert upstreams.app.count_model("gemini", "gemini-2.5-flash") == 1


def test_the_server_starts_on_an_ephemeral_port_and_stops_cleanly():
    running = start_upstreams(KEYS)
    try:
        assert httpx.get(f"http://127.0.0.1:{running.port}/healthz").json() == {"status": "ok"}
        assert running.base_urls["anthropic"] == f"http://127.0.0.1:{running.port}/anthropic"
    finally:
        running.stop()

    with pytest.raises(httpx.ConnectError):
        httpx.get(f"http://127.0.0.1:{running.port}/healthz")


# -- structured outputs and n > 1 --------------------------------------------------------


class Parcel(pydantic.BaseModel):
    class Size(enum.StrEnum):
        SMALL = "small"
        LARGE = "large"

    class Place(pydantic.BaseModel):
        city: str
        postcode: str

    size: Size
    destination: Place
    items: list[str]
    note: str | None


def test_openai_parse_gets_an_instance_of_the_pydantic_schema_whole_or_streamed(oai):
    # given a request whose response_format is a Pydantic model
    request = {"model": "gpt-4o-mini", "messages": user("Ship it."), "response_format": Parcel}

    # when parsed whole and streamed
    whole = oai.chat.completions.with_raw_response.parse(**request)
    with oai.chat.completions.stream(**request) as stream:
        pieces = [e.delta for e in stream if e.type == "content.delta"]
        streamed = stream.get_final_completion()

    # then both carry the same parsed object, the JSON streamed over many chunks
    validate_openai("CreateChatCompletionResponse", whole.http_response.json())
    answer = whole.parse()
    parcel = answer.choices[0].message.parsed
    assert isinstance(parcel, Parcel) and parcel.size is Parcel.Size.SMALL
    assert parcel.destination.city == "Paris" and parcel.items
    assert streamed.choices[0].message.parsed == parcel
    assert len(pieces) > 5
    assert answer.usage.completion_tokens == count_tokens(answer.choices[0].message.content)


def test_openai_json_object_format_answers_an_object(oai):
    answer = oai.chat.completions.create(
        model="gpt-4o-mini", messages=user("JSON please."), response_format={"type": "json_object"}
    )

    assert json.loads(answer.choices[0].message.content)["answer"] in REPLIES


def test_openai_n_choices_are_indexed_and_all_billed_whole_or_streamed(oai, upstreams):
    # given a request for three choices, and the same prompt for one
    prompt = "Give me options."
    one = oai.chat.completions.create(model="gpt-4o-mini", messages=user(prompt))

    # when answered whole and streamed
    whole = oai.chat.completions.create(model="gpt-4o-mini", messages=user(prompt), n=3)
    body = {"model": "gpt-4o-mini", "messages": user(prompt), "n": 3}
    raw = openai_raw_stream(upstreams, {**body, "stream_options": {"include_usage": True}})

    # then there are three choices, each a whole answer, and the usage bills all of them
    text = one.choices[0].message.content
    assert [c.index for c in whole.choices] == [0, 1, 2]
    assert [c.message.content for c in whole.choices] == [text] * 3
    assert whole.usage.completion_tokens == 3 * one.usage.completion_tokens
    assert whole.usage.prompt_tokens == one.usage.prompt_tokens
    chunks = [json.loads(data) for data in raw[:-1]]
    for chunk in chunks:
        validate_openai("CreateChatCompletionStreamResponse", chunk)
    joined = {0: "", 1: "", 2: ""}
    for chunk in chunks[:-1]:
        (choice,) = chunk["choices"]
        joined[choice["index"]] += choice["delta"].get("content") or ""
    assert joined == {0: text, 1: text, 2: text}
    assert chunks[-1]["usage"]["completion_tokens"] == whole.usage.completion_tokens


@pytest.mark.parametrize("n", [0, 129, "2"])
def test_openai_n_out_of_range_is_a_400(oai, n):
    with pytest.raises(openai.BadRequestError) as caught:
        oai.chat.completions.create(model="gpt-4o-mini", messages=user("Hi."), n=n)

    assert caught.value.body["param"] == "n"


def test_anthropic_structured_outputs_and_forced_tools_follow_their_schema(claude):
    schema = Parcel.model_json_schema()
    request = {"model": "claude-x", "max_tokens": 500, "messages": user("Ship it.")}

    # when structured outputs are asked natively, and a tool with that schema is forced
    formatted = claude.messages.create(
        **request, extra_body={"output_format": {"type": "json_schema", "schema": schema}}
    )
    forced = claude.messages.create(
        **request,
        tools=[{"name": "ship", "input_schema": schema}],
        tool_choice={"type": "tool", "name": "ship"},
    )

    # then the text, and the tool input, are instances of the schema
    Parcel.model_validate_json(formatted.content[0].text)
    assert formatted.usage.output_tokens == count_tokens(formatted.content[0].text)
    Parcel.model_validate(forced.content[0].input)


def test_gemini_json_mime_type_answers_json_of_its_openapi_schema(gemini):
    schema = {
        "type": "OBJECT",
        "properties": {
            "size": {"type": "STRING", "format": "enum", "enum": ["small", "large"]},
            "items": {"type": "ARRAY", "items": {"type": "STRING"}},
            "weight": {"type": "NUMBER", "nullable": True},
        },
        "required": ["size", "items", "weight"],
    }
    config = {"responseMimeType": "application/json", "responseSchema": schema}

    answer = gemini.post(
        "/v1beta/models/gemini-2.5-flash:generateContent",
        json={**gemini_user("Ship it."), "generationConfig": config},
    ).json()

    text = answer["candidates"][0]["content"]["parts"][0]["text"]
    assert json.loads(text) == {"size": "small", "items": ["example items"], "weight": 1.5}
    assert answer["usageMetadata"]["candidatesTokenCount"] == count_tokens(text)


# -- OpenAI's Responses API (OpenAI and OpenAI-compatible) ------------------------------------

TEXT_EVENTS = [
    "response.created",
    "response.in_progress",
    "response.output_item.added",
    "response.content_part.added",
    "response.output_text.delta",
    "response.output_text.done",
    "response.content_part.done",
    "response.output_item.done",
    "response.completed",
]
OPENAI_AUTH = {"authorization": f"Bearer {KEYS['openai']}"}
RESPONSES_TOOL = {"type": "function", "name": "get_weather", "parameters": WEATHER_TOOL}


def responses_client(upstreams: RunningUpstreams, kind: str) -> openai.OpenAI:
    return openai.OpenAI(base_url=upstreams.base_urls[kind], api_key=KEYS["openai"], max_retries=0)


@pytest.mark.parametrize("kind", ["openai", "openai_compatible"])
def test_responses_parse_gets_the_pydantic_schema_whole_or_streamed_in_real_events(upstreams, kind):
    # given a Responses request whose text format is a Pydantic model, asking to be stored
    client = responses_client(upstreams, kind)

    # when parsed whole, and streamed
    whole = client.responses.with_raw_response.parse(
        model="gpt-4o-mini", input="Ship it.", text_format=Parcel, store=True
    )
    text = {
        "format": {"type": "json_schema", "name": "Parcel", "schema": Parcel.model_json_schema()}
    }
    body = {"model": "gpt-4o-mini", "input": "Ship it.", "text": text, "stream": True}
    with httpx.stream(
        "POST", upstreams.base_urls[kind] + "/responses", json=body, headers=OPENAI_AUTH
    ) as response:
        events = [json.loads(data) for data in sse_data(response)]

    # then both hold the same parcel, streamed in OpenAI's events, in sequence
    validate_openai("Response", whole.http_response.json())
    answer = whole.parse()
    parcel = answer.output_parsed
    assert isinstance(parcel, Parcel) and parcel.destination.city == "Paris"
    for event in events:
        validate_openai("ResponseStreamEvent", event)
    kinds = [event["type"] for event in events]
    assert sorted(set(kinds), key=kinds.index) == TEXT_EVENTS and kinds.count(TEXT_EVENTS[4]) > 5
    assert [event["sequence_number"] for event in events] == list(range(len(events)))
    final = events[-1]["response"]
    assert Parcel.model_validate_json(final["output"][0]["content"][0]["text"]) == parcel
    assert answer.usage.output_tokens == count_tokens(answer.output_text)
    # and the mock kept what it was told (never the content)
    assert upstreams.app.sent(kind, "/v1/responses")[-2:] == [
        {"model": "gpt-4o-mini", "store": True},
        {"model": "gpt-4o-mini"},
    ]


def test_responses_tools_go_round_and_max_output_tokens_leaves_it_incomplete(upstreams):
    client = responses_client(upstreams, "openai")
    ask = {"role": "user", "content": "What is the weather in Paris?"}

    # a function tool is called, and its output gets words
    called = client.responses.create(model="gpt-4o-mini", input=[ask], tools=[RESPONSES_TOOL])
    (call,) = called.output
    assert call.type == "function_call" and json.loads(call.arguments)["unit"] == "celsius"
    output = {"type": "function_call_output", "call_id": call.call_id, "output": "Sunny"}
    answered = client.responses.create(
        model="gpt-4o-mini",
        input=[ask, call.model_dump(exclude_none=True), output],
        tools=[RESPONSES_TOOL],
    )
    assert [item.type for item in answered.output] == ["message"] and answered.output_text

    # max_output_tokens cuts the text
    cut = client.responses.create(model="gpt-4o-mini", input="Hello", max_output_tokens=3)
    assert cut.status == "incomplete" and cut.incomplete_details.reason == "max_output_tokens"
    assert cut.usage.output_tokens == 3 == count_tokens(cut.output_text)
