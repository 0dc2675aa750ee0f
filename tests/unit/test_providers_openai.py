"""The OpenAI adapter: requests pass through with the upstream model id, answers are
re-labelled with the public id, streams are re-chunked and their usage captured."""

from __future__ import annotations

import datetime as dt
import email.policy
import json
from email.parser import BytesParser
from typing import Any

import pytest

from tests.support.openapi import validate_openai
from tollgate.catalog import Model, Pricing, Provider, VideoSpec
from tollgate.providers import ProviderError, UpstreamCall, Usage, adapter_for, openai
from tollgate.providers.base import VideoReference, VideoRequest, VideoStatus, retry_after
from tollgate.sse import encode

PROVIDER = Provider("openai", "openai", "https://api.openai.com/v1", "openai")
MODEL = Model(
    id="openai/gpt-4o",
    provider="openai",
    upstream_id="gpt-4o-2024-08-06",
    endpoints=frozenset({"chat", "embeddings", "images"}),
    created=0,
    context_length=128000,
    max_output_tokens=16384,
    pricing=Pricing(input=1, output=1),
)
REQUEST = {"model": "openai/gpt-4o", "messages": [{"role": "user", "content": "Hi"}]}
IDENTITY = {
    "id": "chatcmpl-abc",
    "object": "chat.completion.chunk",
    "created": 1_730_000_000,
    "model": "gpt-4o-2024-08-06",
    "system_fingerprint": "fp_1",
}
USAGE = {
    "prompt_tokens": 20,
    "completion_tokens": 9,
    "total_tokens": 29,
    "prompt_tokens_details": {"cached_tokens": 8, "audio_tokens": 0},
    "completion_tokens_details": {"reasoning_tokens": 4, "audio_tokens": 0},
}


def chunk(delta: dict[str, Any], finish: str | None = None, **extra: Any) -> bytes:
    choice = {"index": 0, "delta": delta, "logprobs": None, "finish_reason": finish}
    return encode({**IDENTITY, "choices": [choice], "usage": None, **extra})


TEXT_STREAM = b"".join(
    [
        chunk({"role": "assistant", "content": "", "refusal": None}),
        chunk({"content": "Hello"}),
        chunk({"content": " there"}),
        chunk({}, "stop"),
        encode({**IDENTITY, "choices": [], "usage": USAGE}),
        b"data: [DONE]\n\n",
    ]
)


def feed_all(stream: openai.OpenAIChatStream, data: bytes, step: int = 0) -> list[dict]:
    pieces = [data[i : i + step] for i in range(0, len(data), step)] if step else [data]
    chunks = [c for piece in pieces for c in stream.feed(piece)]
    return chunks + stream.close()


def test_openai_and_compatible_kinds_share_the_openai_adapter():
    assert adapter_for("openai") is openai
    assert adapter_for("openai_compatible") is openai


def test_given_a_chat_request_when_built_then_the_body_carries_the_upstream_model():
    call = openai.build_chat(REQUEST, model=MODEL, provider=PROVIDER, api_key="sk-1", stream=False)

    assert call.method == "POST"
    assert call.url == "https://api.openai.com/v1/chat/completions"
    assert call.headers["authorization"] == "Bearer sk-1"
    assert json.loads(call.body) == {**REQUEST, "model": "gpt-4o-2024-08-06", "store": False}
    assert call.stream is False


@pytest.mark.parametrize("stream", [False, True])
def test_given_a_client_asking_openai_to_store_when_built_then_openai_is_told_not_to(stream):
    # given a client that asks OpenAI to keep the completion, tagged with metadata
    request = {**REQUEST, "store": True, "metadata": {"project": "x"}, "stream": stream}

    # when the call to OpenAI is built
    call = openai.build_chat(request, model=MODEL, provider=PROVIDER, api_key="k", stream=stream)

    # then OpenAI is told store: false, and the metadata (refused without store) stays here
    body = json.loads(call.body)
    assert body["store"] is False
    assert "metadata" not in body


def test_given_a_client_asking_to_store_when_built_for_a_compatible_server_then_nothing_is_said():
    # given an OpenAI-compatible server (some refuse fields they don't know, like Mistral)
    local = Provider("local", "openai_compatible", "http://localhost:8000/v1", None)
    request = {**REQUEST, "store": True, "metadata": {"project": "x"}}

    # when the call is built
    call = openai.build_chat(request, model=MODEL, provider=local, api_key="", stream=False)

    # then neither the client's store nor its metadata is forwarded, and nothing is added
    assert json.loads(call.body) == {**REQUEST, "model": "gpt-4o-2024-08-06"}


def test_given_a_stream_request_when_built_then_usage_is_always_asked_for():
    request = {**REQUEST, "stream": True, "stream_options": {"include_usage": False}}

    call = openai.build_chat(request, model=MODEL, provider=PROVIDER, api_key="k", stream=True)

    body = json.loads(call.body)
    assert body["stream"] is True
    assert body["stream_options"] == {"include_usage": True}
    assert call.stream is True


def test_given_no_api_key_when_built_then_no_authorization_header_is_sent():
    local = Provider("local", "openai_compatible", "http://localhost:8000/v1", None)

    call = openai.build_chat(REQUEST, model=MODEL, provider=local, api_key="", stream=False)

    assert "authorization" not in call.headers


def test_given_a_completion_when_parsed_then_the_model_is_public_and_usage_is_read():
    answer = {
        "id": "chatcmpl-abc",
        "object": "chat.completion",
        "created": 1_730_000_000,
        "model": "gpt-4o-2024-08-06",
        "choices": [
            {
                "index": 0,
                "message": {"role": "assistant", "content": "Hi!", "refusal": None},
                "logprobs": None,
                "finish_reason": "stop",
            }
        ],
        "usage": USAGE,
    }

    response, usage = openai.parse_chat(200, json.dumps(answer).encode(), model_id=MODEL.id)

    validate_openai("CreateChatCompletionResponse", response)
    assert response["model"] == "openai/gpt-4o"
    assert response["choices"][0]["message"]["content"] == "Hi!"
    assert usage == Usage(input_tokens=20, output_tokens=9, cached_tokens=8, reasoning_tokens=4)


def test_given_deepseek_style_cache_hits_when_parsed_then_they_count_as_cached():
    raw = {"prompt_tokens": 10, "completion_tokens": 2, "prompt_cache_hit_tokens": 6}

    assert openai.usage_from(raw) == Usage(input_tokens=10, output_tokens=2, cached_tokens=6)


def test_given_a_body_that_is_not_json_when_parsed_then_a_502_provider_error_is_raised():
    with pytest.raises(ProviderError) as raised:
        openai.parse_chat(200, b'{"id": "chatcmpl-', model_id=MODEL.id)

    assert (raised.value.status, raised.value.retryable) == (502, False)


def test_given_a_rate_limit_answer_when_parsed_then_the_error_is_retryable_after_the_header():
    body = json.dumps(
        {
            "error": {
                "message": "Rate limit reached for requests",
                "type": "requests",
                "param": None,
                "code": "rate_limit_exceeded",
            }
        }
    ).encode()

    error = openai.error_from(429, body, {"Retry-After": "7"})

    assert (error.status, error.retryable, error.retry_after) == (429, True, 7.0)
    assert error.message == "Rate limit reached for requests"
    assert error.error_type == "rate_limit_exceeded"


def test_given_retry_after_ms_when_parsed_then_it_wins_over_retry_after():
    error = openai.error_from(503, b"", {"retry-after-ms": "1500", "retry-after": "2"})

    assert (error.retryable, error.retry_after) == (True, 1.5)


def test_given_a_bad_request_answer_when_parsed_through_parse_chat_then_it_is_not_retryable():
    body = b'{"error": {"message": "bad", "type": "invalid_request_error"}}'

    with pytest.raises(ProviderError) as raised:
        openai.parse_chat(400, body, model_id=MODEL.id)

    assert (raised.value.status, raised.value.retryable, raised.value.message) == (
        400,
        False,
        "bad",
    )


def test_given_an_html_error_page_when_parsed_then_the_message_is_generic():
    error = openai.error_from(502, b"<html>Bad gateway</html>", {})

    assert (error.status, error.retryable) == (502, True)
    assert "502" in error.message


def test_given_a_text_stream_when_fed_one_byte_at_a_time_then_chunks_match_and_usage_is_kept():
    stream = openai.chat_stream(model_id=MODEL.id)

    chunks = feed_all(stream, TEXT_STREAM, step=1)

    for item in chunks:
        validate_openai("CreateChatCompletionStreamResponse", item)
    assert [c["choices"][0]["delta"].get("content") for c in chunks] == [
        "",
        "Hello",
        " there",
        None,
    ]
    assert chunks[0]["choices"][0]["delta"]["role"] == "assistant"
    assert {c["model"] for c in chunks} == {"openai/gpt-4o"}
    assert len({c["id"] for c in chunks}) == 1
    assert all("usage" not in c for c in chunks)
    assert stream.usage == Usage(
        input_tokens=20, output_tokens=9, cached_tokens=8, reasoning_tokens=4
    )
    assert (stream.finish_reason, stream.completed, stream.output_chars) == ("stop", True, 11)


def test_given_a_tool_call_stream_when_fed_then_tool_call_deltas_pass_through():
    start = {
        "index": 0,
        "id": "call_1",
        "type": "function",
        "function": {"name": "f", "arguments": ""},
    }
    data = b"".join(
        [
            chunk({"role": "assistant", "content": None, "tool_calls": [start]}),
            chunk({"tool_calls": [{"index": 0, "function": {"arguments": '{"a":'}}]}),
            chunk({"tool_calls": [{"index": 0, "function": {"arguments": "1}"}}]}),
            chunk({}, "tool_calls"),
            b"data: [DONE]\n\n",
        ]
    )
    stream = openai.chat_stream(model_id=MODEL.id)

    chunks = feed_all(stream, data)

    for item in chunks:
        validate_openai("CreateChatCompletionStreamResponse", item)
    calls = [c["choices"][0]["delta"].get("tool_calls") for c in chunks]
    assert calls[0] == [start]
    assert "".join(c[0]["function"]["arguments"] for c in calls[1:3]) == '{"a":1}'
    assert (stream.finish_reason, stream.output_chars) == ("tool_calls", 7)
    assert stream.usage is None


def test_given_a_stream_cut_before_the_end_then_it_is_not_completed_and_has_no_usage():
    stream = openai.chat_stream(model_id=MODEL.id)

    first_two = chunk({"role": "assistant", "content": "", "refusal": None}) + chunk(
        {"content": "Hello"}
    )
    cut_in_third_event = len(first_two) + 30

    feed_all(stream, TEXT_STREAM[:cut_in_third_event])

    assert (stream.completed, stream.usage, stream.finish_reason) == (False, None, None)
    assert stream.output_chars == 5


def test_given_a_compatible_server_without_role_when_streamed_then_the_role_is_added():
    stream = openai.chat_stream(model_id=MODEL.id)

    chunks = feed_all(stream, chunk({"content": "Hi"}))

    assert chunks[0]["choices"][0]["delta"] == {"role": "assistant", "content": "Hi"}


def test_given_a_stream_cut_inside_its_last_event_when_closed_then_the_partial_event_is_dropped():
    stream = openai.chat_stream(model_id=MODEL.id)
    stream.feed(chunk({"role": "assistant", "content": ""}) + b'data: {"id": "chatcmpl-abc", "cho')

    assert stream.close() == []
    assert stream.completed is False


def test_given_an_invalid_chunk_when_fed_then_a_502_provider_error_is_raised():
    stream = openai.chat_stream(model_id=MODEL.id)

    with pytest.raises(ProviderError) as raised:
        stream.feed(b'data: {"id": "chatcmpl-abc", "choi\n\n')

    assert (raised.value.status, raised.value.retryable) == (502, False)


def test_given_an_embeddings_request_when_built_and_parsed_then_base64_passes_through():
    request = {"model": "openai/te3", "input": ["a", "b"], "encoding_format": "base64"}
    answer = {
        "object": "list",
        "data": [
            {"object": "embedding", "index": 0, "embedding": "AACAPw=="},
            {"object": "embedding", "index": 1, "embedding": "AAAAQA=="},
        ],
        "model": "text-embedding-3-small",
        "usage": {"prompt_tokens": 2, "total_tokens": 2},
    }

    call = openai.build_embeddings(request, model=MODEL, provider=PROVIDER, api_key="k")
    response, usage = openai.parse_embeddings(
        200, json.dumps(answer).encode(), model_id="openai/te3", request=request
    )

    assert call.url == "https://api.openai.com/v1/embeddings"
    assert json.loads(call.body)["encoding_format"] == "base64"
    assert response["model"] == "openai/te3"
    assert response["data"][0]["embedding"] == "AACAPw=="
    assert usage == Usage(input_tokens=2)


def test_given_an_images_request_when_built_and_parsed_then_token_usage_is_read():
    request = {"model": "openai/gpt-image-1", "prompt": "a red dot", "n": 2}
    answer = {
        "created": 1_730_000_000,
        "data": [{"b64_json": "iVBORw0KGgo="}, {"b64_json": "iVBORw0KGgo="}],
        "usage": {"input_tokens": 3, "output_tokens": 544, "total_tokens": 547},
    }

    call = openai.build_images(request, model=MODEL, provider=PROVIDER, api_key="k")
    response, usage = openai.parse_images(200, json.dumps(answer).encode(), model_id="x")

    assert call.url == "https://api.openai.com/v1/images/generations"
    assert json.loads(call.body)["model"] == "gpt-4o-2024-08-06"
    assert len(response["data"]) == 2
    assert usage == Usage(input_tokens=3, output_tokens=544)


def test_given_retry_after_as_an_http_date_when_parsed_then_it_is_seconds_from_now():
    headers = {"Retry-After": "Wed, 21 Oct 2026 07:28:10 GMT"}

    delay = retry_after(headers, now=dt.datetime(2026, 10, 21, 7, 28, 0, tzinfo=dt.UTC).timestamp())

    assert delay == 10.0


# --- videos (OpenAI's Videos API, also served by OpenAI-compatible servers) ----------------------

COMPATIBLE = Provider("local", "openai_compatible", "http://127.0.0.1:8000/v1", None)
VIDEO_MODEL = Model(
    id="local/video-1",
    provider="local",
    upstream_id="video-1-preview",
    endpoints=frozenset({"videos"}),
    created=0,
    context_length=1024,
    max_output_tokens=None,
    pricing=Pricing(input=0, output=0),
    video=VideoSpec(seconds=(4, 8), prices={"720p": 100_000_000}),
)
SECRET_PROMPT = "a fox named Canary-7,\r\n--boundary\r\n"


def form_fields(call: UpstreamCall) -> dict[str, Any]:
    """The multipart body parsed back by the standard library: name -> value or file."""
    head = f"content-type: {call.headers['content-type']}\r\n\r\n".encode()
    message = BytesParser(policy=email.policy.HTTP).parsebytes(head + call.body)
    fields: dict[str, Any] = {}
    for part in message.iter_parts():
        name = part.get_param("name", header="content-disposition")
        data = part.get_payload(decode=True)
        filename = part.get_filename()
        fields[name] = (filename, part.get_content_type(), data) if filename else data.decode()
    return fields


def video(**fields: Any) -> bytes:
    return json.dumps({"id": "video_abc", "object": "video", "model": "video-1", **fields}).encode()


def test_given_a_video_with_a_reference_when_built_then_it_is_a_multipart_create():
    reference = VideoReference("image/jpeg", b"\xff\xd8jpeg-bytes\r\n--")
    request = VideoRequest(SECRET_PROMPT, 8, "720x1280", "720p", reference)

    call = openai.build_video_create(request, model=VIDEO_MODEL, provider=PROVIDER, api_key="sk")

    assert (call.method, call.url, call.stream) == ("POST", f"{PROVIDER.base_url}/videos", False)
    assert call.headers["authorization"] == "Bearer sk"
    assert call.headers["content-type"].startswith("multipart/form-data; boundary=")
    assert form_fields(call) == {
        "prompt": SECRET_PROMPT,
        "model": "video-1-preview",
        "seconds": "8",
        "size": "720x1280",
        "input_reference": ("reference.jpg", "image/jpeg", b"\xff\xd8jpeg-bytes\r\n--"),
    }


def test_given_a_keyless_server_and_an_odd_image_type_when_built_then_no_header_is_injected():
    reference = VideoReference("image/png\r\nx-injected: 1", b"png")
    request = VideoRequest("a fox", 4, "1280x720", "720p", reference)

    call = openai.build_video_create(request, model=VIDEO_MODEL, provider=COMPATIBLE, api_key="")

    assert "authorization" not in call.headers
    assert b"x-injected" not in call.body
    fields = form_fields(call)
    assert fields["input_reference"] == ("reference.bin", "application/octet-stream", b"png")
    assert fields["seconds"] == "4"


def test_given_a_created_video_then_its_id_is_polled_downloaded_and_cancelled_by_that_id():
    video_id = openai.parse_video_created(200, video(status="queued", progress=0))
    base = COMPATIBLE.base_url

    calls = [
        openai.build_video_status(video_id, provider=COMPATIBLE, api_key=""),
        openai.build_video_content(
            video_id, VideoStatus("completed"), variant="video", provider=PROVIDER, api_key="sk"
        ),
        openai.build_video_content(
            video_id, VideoStatus("completed"), variant="thumbnail", provider=COMPATIBLE, api_key=""
        ),
        openai.build_video_cancel(video_id, provider=PROVIDER, api_key="sk"),
    ]

    bearer = {"authorization": "Bearer sk"}
    assert calls == [
        UpstreamCall("GET", f"{base}/videos/video_abc", {}, None, False),
        UpstreamCall(
            "GET", f"{PROVIDER.base_url}/videos/video_abc/content?variant=video", bearer, None, True
        ),
        UpstreamCall("GET", f"{base}/videos/video_abc/content?variant=thumbnail", {}, None, True),
        UpstreamCall("DELETE", f"{PROVIDER.base_url}/videos/video_abc", bearer, None, False),
    ]
    unknown = openai.build_video_content(
        video_id, VideoStatus("completed"), variant="../x", provider=PROVIDER, api_key="sk"
    )
    assert unknown is None


@pytest.mark.parametrize(
    "video_id", ["", 7, None, "../files", "video_abc/content", "video abc", "v?x=1", "a" * 200]
)
def test_given_an_unsafe_video_id_then_it_is_neither_accepted_nor_put_in_a_url(video_id):
    with pytest.raises(ProviderError) as created:
        openai.parse_video_created(200, json.dumps({"id": video_id}).encode())
    assert created.value.status == 502
    if isinstance(video_id, str):
        for build in (openai.build_video_status, openai.build_video_cancel):
            with pytest.raises(ProviderError):
                build(video_id, provider=PROVIDER, api_key="sk")


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        (video(status="queued", progress=0, seconds="8"), VideoStatus("queued", 0)),
        (video(status="in_progress", progress=40.5), VideoStatus("in_progress", 40)),
        (video(status="in_progress", progress=250), VideoStatus("in_progress", 100)),
        (video(status="in_progress", progress="half"), VideoStatus("in_progress")),
        (video(status="completed", progress=100, seconds="8"), VideoStatus("completed", 100, 8)),
        (video(status="completed", seconds=4), VideoStatus("completed", seconds=4)),
        (video(status="completed"), VideoStatus("completed")),
    ],
)
def test_given_a_video_object_when_polled_then_state_progress_and_seconds_are_read(body, expected):
    assert openai.parse_video_status(200, body) == expected


@pytest.mark.parametrize(
    ("error", "code", "provider_code"),
    [
        ({"code": "moderation_blocked", "message": SECRET_PROMPT}, "moderation_blocked", True),
        ({"code": "content_policy_violation"}, "moderation_blocked", True),
        ({"code": "internal_error", "message": SECRET_PROMPT}, "generation_failed", True),
        ({"code": SECRET_PROMPT, "message": SECRET_PROMPT}, "generation_failed", False),
        (None, "generation_failed", False),
    ],
)
def test_given_a_failed_video_then_it_fails_in_our_words_with_at_most_the_providers_code(
    error, code, provider_code
):
    status = openai.parse_video_status(200, video(status="failed", progress=10, error=error))

    assert (status.state, status.error_code) == ("failed", code)
    assert "Canary" not in status.error_message
    assert ("provider code" in status.error_message) is provider_code


@pytest.mark.parametrize(
    "body",
    [
        b"<html>",
        b"[]",
        video(status="cancelled"),
        video(),
        video(status="completed", seconds="4.5"),
        video(status="completed", seconds="0"),
        video(status="completed", seconds=True),
    ],
)
def test_given_an_unusable_video_object_when_polled_then_it_is_a_malformed_answer(body):
    with pytest.raises(ProviderError) as error:
        openai.parse_video_status(200, body)

    assert (error.value.status, error.value.retryable) == (502, False)


def test_given_a_video_gone_upstream_when_polled_then_the_providers_404_is_raised():
    body = b'{"error": {"message": "Video not found", "type": "invalid_request_error"}}'

    with pytest.raises(ProviderError) as error:
        openai.parse_video_status(404, body)

    assert error.value.status == 404
