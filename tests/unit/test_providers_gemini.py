"""The Gemini adapter: OpenAI chat and embeddings requests to generateContent and
embedContent requests, Gemini answers and SSE chunks back to the OpenAI formats."""

from __future__ import annotations

import base64
import json
import struct
from typing import Any

import pytest

from tests.support.openapi import validate_openai
from tollgate.catalog import Model, Pricing, Provider, VideoSpec
from tollgate.errors import BadRequest
from tollgate.providers import ProviderError, UpstreamCall, Usage, adapter_for, gemini
from tollgate.providers.base import VideoReference, VideoRequest, VideoStatus

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


# --- videos (Veo long-running operations) ------------------------------------------------------

VEO = Model(
    id="gemini/veo-3.0-generate-001",
    provider="gemini",
    upstream_id="veo-3.0-generate-001",
    endpoints=frozenset({"videos"}),
    created=0,
    context_length=1024,
    max_output_tokens=None,
    pricing=Pricing(input=0, output=0),
    video=VideoSpec(seconds=(4, 6, 8), prices={"720p": 400_000_000}),
)
OPERATION = "models/veo-3.0-generate-001/operations/op123"
VIDEO_URI = f"{BASE}/v1beta/files/f1:download?alt=media"
SECRET_PROMPT = "a fox named Canary-7"


def operation(**fields: Any) -> bytes:
    return json.dumps({"name": OPERATION, **fields}).encode()


def done(generate_video_response: dict) -> bytes:
    response = {"@type": "type.googleapis.com/x", "generateVideoResponse": generate_video_response}
    return operation(done=True, response=response)


def video_status(body: bytes, status: int = 200) -> VideoStatus:
    return gemini.parse_video_status(status, body)


def test_given_a_video_with_a_reference_when_built_then_it_is_a_predict_long_running_call():
    reference = VideoReference("image/png", b"\x89PNG-bytes")
    request = VideoRequest(SECRET_PROMPT, 6, "720x1280", "720p", reference)

    call = gemini.build_video_create(request, model=VEO, provider=PROVIDER, api_key="AIza")

    assert (call.method, call.stream) == ("POST", False)
    assert call.url == f"{BASE}/v1beta/models/veo-3.0-generate-001:predictLongRunning"
    assert call.headers["x-goog-api-key"] == "AIza"
    assert json.loads(call.body) == {
        "instances": [
            {
                "prompt": SECRET_PROMPT,
                "image": {
                    "bytesBase64Encoded": base64.b64encode(b"\x89PNG-bytes").decode(),
                    "mimeType": "image/png",
                },
            }
        ],
        "parameters": {
            "aspectRatio": "9:16",
            "resolution": "720p",
            "durationSeconds": 6,
            "sampleCount": 1,
        },
    }
    plain = VideoRequest(SECRET_PROMPT, 4, "1280x720", "720p")
    body = json.loads(
        gemini.build_video_create(plain, model=VEO, provider=PROVIDER, api_key="k").body
    )
    assert body["instances"] == [{"prompt": SECRET_PROMPT}]
    assert body["parameters"]["aspectRatio"] == "16:9"


def test_given_a_created_operation_when_parsed_then_its_name_is_polled_with_the_key():
    name = gemini.parse_video_created(200, operation())

    call = gemini.build_video_status(name, provider=PROVIDER, api_key="AIza")

    assert (call.method, call.url, call.body) == ("GET", f"{BASE}/v1beta/{OPERATION}", None)
    assert call.headers == {"x-goog-api-key": "AIza"}
    assert gemini.build_video_cancel(name, provider=PROVIDER, api_key="AIza") is None


@pytest.mark.parametrize(
    "name",
    [
        "",
        42,
        "operations/op123",
        "models/veo/operations/op123/../../files/f1",
        "models/../operations/op123",
        "models/veo/operations/op123?alt=media",
        "models/veo/operations/op123\n",
        "models/veo/operations/" + "a" * 200,
    ],
)
def test_given_an_unsafe_operation_name_then_it_is_neither_accepted_nor_put_in_a_url(name):
    with pytest.raises(ProviderError) as created:
        gemini.parse_video_created(200, json.dumps({"name": name}).encode())
    assert created.value.status == 502
    if isinstance(name, str):
        with pytest.raises(ProviderError):
            gemini.build_video_status(name, provider=PROVIDER, api_key="AIza")


def test_given_a_refused_create_when_parsed_then_geminis_error_is_raised():
    body = json.dumps({"error": {"code": 429, "message": "Quota", "status": "RESOURCE_EXHAUSTED"}})

    with pytest.raises(ProviderError) as error:
        gemini.parse_video_created(429, body.encode())

    assert (error.value.status, error.value.retryable) == (429, True)


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        (operation(done=False, metadata={"progressPercent": 42}), VideoStatus("in_progress", 42)),
        (operation(metadata={"@type": "x"}), VideoStatus("in_progress")),
        (
            done({"generatedSamples": [{"video": {"uri": VIDEO_URI}}]}),
            VideoStatus("completed", 100, content_uri=VIDEO_URI),
        ),
    ],
)
def test_given_a_running_or_finished_operation_when_polled_then_its_state_is_mapped(body, expected):
    assert video_status(body) == expected


@pytest.mark.parametrize(
    ("body", "code"),
    [
        (
            done({"raiMediaFilteredCount": 1, "raiMediaFilteredReasons": [SECRET_PROMPT]}),
            "moderation_blocked",
        ),
        (operation(done=True, error={"code": 13, "message": SECRET_PROMPT}), "generation_failed"),
    ],
)
def test_given_a_filtered_or_failed_operation_then_it_fails_in_our_words_not_googles(body, code):
    status = video_status(body)

    assert (status.state, status.error_code) == ("failed", code)
    assert status.error_message and "Canary" not in status.error_message


@pytest.mark.parametrize(
    "body",
    [
        b"<html>",
        b"[]",
        operation(done="yes"),
        operation(done=True),
        done({}),
        done({"generatedSamples": [{"video": {}}]}),
        done({"generatedSamples": "video"}),
    ],
)
def test_given_an_unusable_operation_when_polled_then_it_is_a_malformed_answer(body):
    with pytest.raises(ProviderError) as error:
        video_status(body)

    assert (error.value.status, error.value.retryable) == (502, False)


def test_given_an_unknown_operation_when_polled_then_geminis_404_is_raised():
    body = b'{"error": {"code": 404, "message": "not found", "status": "NOT_FOUND"}}'

    with pytest.raises(ProviderError) as error:
        video_status(body, 404)

    assert error.value.status == 404


def test_given_a_completed_video_then_its_uri_is_fetched_with_the_key_and_no_thumbnail_exists():
    status = VideoStatus("completed", 100, content_uri=VIDEO_URI)

    call = gemini.build_video_content(
        OPERATION, status, variant="video", provider=PROVIDER, api_key="AIza"
    )
    thumbnail = gemini.build_video_content(
        OPERATION, status, variant="thumbnail", provider=PROVIDER, api_key="AIza"
    )

    assert call == UpstreamCall("GET", VIDEO_URI, {"x-goog-api-key": "AIza"}, None, True)
    assert thumbnail is None


@pytest.mark.parametrize(
    "uri",
    [
        "https://evil.example/v1beta/files/f1:download",
        "http://generativelanguage.googleapis.com/v1beta/files/f1",
        "https://generativelanguage.googleapis.com:8443/v1beta/files/f1",
        "https://generativelanguage.googleapis.com.evil.example/files/f1",
        "https://generativelanguage.googleapis.com@evil.example/files/f1",
        "https://evil.example\\@generativelanguage.googleapis.com/files/f1",
        "https://generativelanguage.googleapis.com:port/files/f1",
        "/v1beta/files/f1",
    ],
)
def test_given_a_video_uri_off_the_providers_host_then_the_key_is_not_sent_there(uri):
    status = VideoStatus("completed", 100, content_uri=uri)

    with pytest.raises(ProviderError) as error:
        gemini.build_video_content(
            OPERATION, status, variant="video", provider=PROVIDER, api_key="AIza"
        )

    assert error.value.status == 502
