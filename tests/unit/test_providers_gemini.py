"""The Gemini adapter: OpenAI chat and embeddings requests to generateContent and
embedContent requests, Gemini answers and SSE chunks back to the OpenAI formats."""

from __future__ import annotations

import base64
import json
import struct
from typing import Any

import pytest

from tests.support.openapi import validate_openai
from tollgate.catalog import Model, Pricing, Provider
from tollgate.errors import BadRequest
from tollgate.providers import ProviderError, Usage, adapter_for, gemini

BASE = "https://generativelanguage.googleapis.com"
PROVIDER = Provider("gemini", "gemini", BASE, "gemini")
MODEL = Model(
    id="gemini/gemini-2.5-flash",
    provider="gemini",
    upstream_id="gemini-2.5-flash",
    endpoints=frozenset({"chat", "embeddings"}),
    created=0,
    context_length=1048576,
    max_output_tokens=65536,
    pricing=Pricing(input=1, output=1),
)
WEATHER = {
    "type": "object",
    "properties": {"location": {"type": "string"}},
    "required": ["location"],
    "additionalProperties": False,
}
TOOLS = [{"type": "function", "function": {"name": "get_weather", "parameters": WEATHER}}]
USAGE = {
    "promptTokenCount": 40,
    "candidatesTokenCount": 6,
    "totalTokenCount": 66,
    "cachedContentTokenCount": 32,
    "thoughtsTokenCount": 20,
    "promptTokensDetails": [{"modality": "TEXT", "tokenCount": 40}],
}


def build(**request: Any) -> dict[str, Any]:
    request.setdefault("messages", [{"role": "user", "content": "Hi"}])
    call = gemini.build_chat(
        {"model": MODEL.id, **request}, model=MODEL, provider=PROVIDER, api_key="AIza", stream=False
    )
    return json.loads(call.body)


def answer(parts: list[dict], finish: str | None = "STOP", usage: dict | None = None) -> dict:
    candidate: dict[str, Any] = {"content": {"parts": parts, "role": "model"}, "index": 0}
    if finish:
        candidate["finishReason"] = finish
    return {
        "candidates": [candidate],
        "usageMetadata": usage or USAGE,
        "modelVersion": "gemini-2.5-flash",
        "responseId": "resp-1",
    }


def sse(*answers: dict) -> bytes:
    return b"".join(b"data: " + json.dumps(a).encode() + b"\r\n\r\n" for a in answers)


TEXT_STREAM = sse(
    answer([{"text": "Hello"}], None, {**USAGE, "candidatesTokenCount": 1}),
    answer([{"text": " there"}], "STOP"),
)


def feed_all(data: bytes, step: int = 0) -> tuple[gemini.GeminiChatStream, list[dict]]:
    stream = gemini.chat_stream(model_id=MODEL.id)
    pieces = [data[i : i + step] for i in range(0, len(data), step)] if step else [data]
    chunks = [c for piece in pieces for c in stream.feed(piece)]
    return stream, chunks + stream.close()


def test_the_gemini_kind_uses_the_gemini_adapter():
    assert adapter_for("gemini") is gemini


def test_given_a_chat_request_when_built_then_urls_and_key_header_are_geminis():
    request = {"model": MODEL.id, "messages": [{"role": "user", "content": "Hi"}]}

    plain = gemini.build_chat(request, model=MODEL, provider=PROVIDER, api_key="AIza", stream=False)
    streamed = gemini.build_chat(
        request, model=MODEL, provider=PROVIDER, api_key="AIza", stream=True
    )

    assert plain.url == f"{BASE}/v1beta/models/gemini-2.5-flash:generateContent"
    assert streamed.url == f"{BASE}/v1beta/models/gemini-2.5-flash:streamGenerateContent?alt=sse"
    assert plain.headers["x-goog-api-key"] == "AIza"
    assert json.loads(plain.body) == {"contents": [{"role": "user", "parts": [{"text": "Hi"}]}]}


def test_given_system_messages_when_built_then_they_become_the_system_instruction():
    body = build(
        messages=[
            {"role": "system", "content": "Be brief."},
            {"role": "developer", "content": "Use French."},
            {"role": "user", "content": "Hi"},
            {"role": "assistant", "content": "Salut"},
            {"role": "user", "content": "Ca va?"},
        ]
    )

    assert body["systemInstruction"] == {"parts": [{"text": "Be brief."}, {"text": "Use French."}]}
    assert [c["role"] for c in body["contents"]] == ["user", "model", "user"]


def test_given_a_tool_loop_when_built_then_calls_and_results_are_function_parts_by_name():
    calls = [
        {
            "id": "call_1",
            "type": "function",
            "function": {"name": "get_weather", "arguments": '{"location":"Paris"}'},
            "extra_content": {"google": {"thought_signature": "c2ln"}},
        }
    ]
    body = build(
        messages=[
            {"role": "user", "content": "Weather in Paris?"},
            {"role": "assistant", "content": None, "tool_calls": calls},
            {"role": "tool", "tool_call_id": "call_1", "content": '{"temp": 18}'},
            {"role": "tool", "tool_call_id": "call_1", "content": "sunny"},
        ],
        tools=TOOLS,
        tool_choice="auto",
    )

    assert body["contents"][1] == {
        "role": "model",
        "parts": [
            {
                "functionCall": {"name": "get_weather", "args": {"location": "Paris"}},
                "thoughtSignature": "c2ln",
            }
        ],
    }
    assert body["contents"][2]["parts"] == [
        {"functionResponse": {"name": "get_weather", "response": {"temp": 18}}},
        {"functionResponse": {"name": "get_weather", "response": {"result": "sunny"}}},
    ]
    assert body["tools"] == [
        {"functionDeclarations": [{"name": "get_weather", "parametersJsonSchema": WEATHER}]}
    ]
    assert body["toolConfig"] == {"functionCallingConfig": {"mode": "AUTO"}}


def test_given_a_tool_result_for_an_unknown_call_when_built_then_bad_request_names_it():
    with pytest.raises(BadRequest) as raised:
        build(messages=[{"role": "tool", "tool_call_id": "nope", "content": "x"}])

    assert raised.value.param == "messages[0].tool_call_id"


@pytest.mark.parametrize(
    ("choice", "expected"),
    [
        ("none", {"mode": "NONE"}),
        ("required", {"mode": "ANY"}),
        (
            {"type": "function", "function": {"name": "get_weather"}},
            {"mode": "ANY", "allowedFunctionNames": ["get_weather"]},
        ),
    ],
)
def test_given_a_tool_choice_when_built_then_it_is_a_function_calling_mode(choice, expected):
    assert build(tools=TOOLS, tool_choice=choice)["toolConfig"]["functionCallingConfig"] == expected


def test_given_generation_parameters_when_built_then_they_go_to_generation_config():
    body = build(
        max_completion_tokens=100,
        temperature=0,
        top_p=0.9,
        stop=["END"],
        seed=7,
        reasoning_effort="low",
        user="u1",
    )

    assert body["generationConfig"] == {
        "temperature": 0,
        "topP": 0.9,
        "seed": 7,
        "maxOutputTokens": 100,
        "stopSequences": ["END"],
        "thinkingConfig": {"thinkingBudget": 1024},
    }


def test_given_response_formats_when_built_then_json_mime_type_and_schema_are_set():
    schema = {"type": "object", "properties": {"a": {"type": "integer"}}}

    as_object = build(response_format={"type": "json_object"})["generationConfig"]
    as_schema = build(
        response_format={"type": "json_schema", "json_schema": {"name": "x", "schema": schema}}
    )["generationConfig"]

    assert as_object == {"responseMimeType": "application/json"}
    assert as_schema == {"responseMimeType": "application/json", "responseJsonSchema": schema}


def test_given_a_data_url_image_when_built_then_it_is_inline_data():
    content = [{"type": "image_url", "image_url": {"url": "data:image/jpeg;base64,/9j/4AAQ"}}]

    parts = build(messages=[{"role": "user", "content": content}])["contents"][0]["parts"]

    assert parts == [{"inlineData": {"mimeType": "image/jpeg", "data": "/9j/4AAQ"}}]


@pytest.mark.parametrize(
    ("request_extra", "param"),
    [
        ({"n": 3}, "n"),
        ({"logit_bias": {"50256": -100}}, "logit_bias"),
        ({"prediction": {"type": "content", "content": "x"}}, "prediction"),
        (
            {
                "messages": [
                    {
                        "role": "user",
                        "content": [{"type": "image_url", "image_url": {"url": "https://x/y.png"}}],
                    }
                ]
            },
            "messages[0].content[0].image_url.url",
        ),
        ({"response_format": {"type": "grammar"}}, "response_format"),
    ],
)
def test_given_an_unsupported_parameter_when_built_then_bad_request_names_it(request_extra, param):
    with pytest.raises(BadRequest) as raised:
        build(**request_extra)

    assert raised.value.param == param


def test_given_a_text_answer_when_parsed_then_thoughts_are_output_and_cache_is_input():
    body = json.dumps(answer([{"text": "Thinking...", "thought": True}, {"text": "Hello!"}]))

    response, usage = gemini.parse_chat(200, body.encode(), model_id=MODEL.id)

    validate_openai("CreateChatCompletionResponse", response)
    assert response["model"] == MODEL.id
    assert response["choices"][0]["message"]["content"] == "Hello!"
    assert response["choices"][0]["finish_reason"] == "stop"
    assert usage == Usage(input_tokens=40, output_tokens=26, cached_tokens=32, reasoning_tokens=20)
    assert response["usage"]["completion_tokens_details"]["reasoning_tokens"] == 20


def test_given_usage_without_optional_counts_when_parsed_then_they_are_zero():
    assert gemini.usage_from({"promptTokenCount": 3}) == Usage(input_tokens=3)


def test_given_a_function_call_answer_when_parsed_then_finish_is_tool_calls():
    call = {"functionCall": {"name": "get_weather", "args": {"location": "Paris"}}}

    response, _ = gemini.parse_chat(200, json.dumps(answer([call])).encode(), model_id=MODEL.id)

    validate_openai("CreateChatCompletionResponse", response)
    choice = response["choices"][0]
    assert choice["finish_reason"] == "tool_calls"
    assert choice["message"]["content"] is None
    assert choice["message"]["tool_calls"][0]["function"] == {
        "name": "get_weather",
        "arguments": '{"location":"Paris"}',
    }
    assert choice["message"]["tool_calls"][0]["id"].startswith("call_")


@pytest.mark.parametrize(
    ("reason", "finish"),
    [("MAX_TOKENS", "length"), ("SAFETY", "content_filter"), ("RECITATION", "content_filter")],
)
def test_given_a_finish_reason_when_parsed_then_it_is_mapped(reason, finish):
    body = json.dumps(answer([{"text": "a"}], reason)).encode()

    response, _ = gemini.parse_chat(200, body, model_id=MODEL.id)

    assert response["choices"][0]["finish_reason"] == finish


def test_given_a_blocked_prompt_when_parsed_then_the_finish_is_content_filter():
    body = {"promptFeedback": {"blockReason": "SAFETY"}, "usageMetadata": {"promptTokenCount": 4}}

    response, usage = gemini.parse_chat(200, json.dumps(body).encode(), model_id=MODEL.id)

    assert response["choices"][0]["finish_reason"] == "content_filter"
    assert usage.input_tokens == 4


def test_given_a_rate_limit_without_header_when_parsed_then_retry_info_gives_the_delay():
    body = {
        "error": {
            "code": 429,
            "message": "Resource has been exhausted (e.g. check quota).",
            "status": "RESOURCE_EXHAUSTED",
            "details": [{"@type": "type.googleapis.com/google.rpc.RetryInfo", "retryDelay": "12s"}],
        }
    }

    error = gemini.error_from(429, json.dumps(body).encode(), {})

    assert (error.status, error.retryable, error.retry_after) == (429, True, 12.0)
    assert error.error_type == "RESOURCE_EXHAUSTED"


def test_given_a_text_stream_fed_byte_by_byte_then_chunks_and_last_usage_are_right():
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
    assert stream.usage == Usage(
        input_tokens=40, output_tokens=26, cached_tokens=32, reasoning_tokens=20
    )
    assert (stream.completed, stream.output_chars) == (True, 11)


def test_given_a_function_call_stream_then_name_comes_first_then_arguments():
    call = {"functionCall": {"name": "get_weather", "args": {"location": "Paris"}}}

    stream, chunks = feed_all(sse(answer([call], "STOP")))

    for item in chunks:
        validate_openai("CreateChatCompletionStreamResponse", item)
    first, second = (c["choices"][0]["delta"]["tool_calls"][0] for c in chunks[1:3])
    assert first["function"] == {"name": "get_weather", "arguments": ""}
    assert (first["index"], first["type"]) == (0, "function")
    assert second == {"index": 0, "function": {"arguments": '{"location":"Paris"}'}}
    assert stream.finish_reason == "tool_calls"


def test_given_a_stream_cut_before_the_finish_chunk_then_no_usage_and_not_completed():
    stream, _ = feed_all(TEXT_STREAM[: TEXT_STREAM.index(b"\r\n\r\n") + 4])

    assert (stream.completed, stream.usage) == (False, None)
    assert stream.output_chars == 5


def test_given_an_error_chunk_mid_stream_then_a_provider_error_is_raised():
    error = {"error": {"code": 503, "message": "overloaded", "status": "UNAVAILABLE"}}

    with pytest.raises(ProviderError) as raised:
        feed_all(sse(error))

    assert (raised.value.status, raised.value.retryable) == (503, True)


def test_given_an_embeddings_string_when_built_then_embed_content_is_called():
    request = {"model": "gemini/emb", "input": "hello", "dimensions": 8}

    call = gemini.build_embeddings(request, model=MODEL, provider=PROVIDER, api_key="AIza")

    assert call.url == f"{BASE}/v1beta/models/gemini-2.5-flash:embedContent"
    assert json.loads(call.body) == {
        "model": "models/gemini-2.5-flash",
        "content": {"parts": [{"text": "hello"}]},
        "outputDimensionality": 8,
    }


def test_given_an_embeddings_list_when_built_then_batch_embed_contents_is_called():
    request = {"model": "gemini/emb", "input": ["a", "b"]}

    call = gemini.build_embeddings(request, model=MODEL, provider=PROVIDER, api_key="AIza")

    assert call.url.endswith(":batchEmbedContents")
    assert [r["content"]["parts"][0]["text"] for r in json.loads(call.body)["requests"]] == [
        "a",
        "b",
    ]


def test_given_token_id_input_when_built_then_bad_request():
    with pytest.raises(BadRequest) as raised:
        gemini.build_embeddings({"input": [1, 2]}, model=MODEL, provider=PROVIDER, api_key="k")

    assert raised.value.param == "input"


def test_given_embeddings_when_parsed_then_tokens_are_estimated_from_characters():
    request = {"model": "gemini/emb", "input": ["hello", "abc"]}
    body = json.dumps({"embeddings": [{"values": [0.5, -1.0]}, {"values": [1.0, 0.0]}]}).encode()

    response, usage = gemini.parse_embeddings(200, body, model_id="gemini/emb", request=request)

    validate_openai("CreateEmbeddingResponse", response)
    assert [d["embedding"] for d in response["data"]] == [[0.5, -1.0], [1.0, 0.0]]
    assert usage == Usage(input_tokens=2)  # ceil(8 chars / 4)


def test_given_base64_encoding_when_parsed_then_vectors_are_float32_little_endian_base64():
    request = {"model": "gemini/emb", "input": "hello", "encoding_format": "base64"}
    body = json.dumps({"embedding": {"values": [0.5, -1.0]}}).encode()

    response, _ = gemini.parse_embeddings(200, body, model_id="gemini/emb", request=request)

    raw = base64.b64decode(response["data"][0]["embedding"])
    assert struct.unpack("<2f", raw) == (0.5, -1.0)


def test_images_are_not_supported_yet_for_gemini():
    with pytest.raises(BadRequest, match="not supported yet"):
        gemini.build_images({"prompt": "x"}, model=MODEL, provider=PROVIDER, api_key="k")


def test_given_a_usage_only_chunk_after_the_finish_then_usage_is_updated_not_filtered():
    late = {"usageMetadata": {**USAGE, "candidatesTokenCount": 9}}

    stream, chunks = feed_all(TEXT_STREAM + sse(late))

    assert stream.finish_reason == "stop"
    assert [c["choices"][0]["finish_reason"] for c in chunks].count("stop") == 1
    assert stream.usage.output_tokens == 29


def test_given_zero_penalties_when_built_then_they_are_not_sent_but_other_zeros_are():
    config = build(presence_penalty=0, frequency_penalty=0.5, seed=0, top_p=0.5)["generationConfig"]

    assert config == {"frequencyPenalty": 0.5, "seed": 0, "topP": 0.5}
