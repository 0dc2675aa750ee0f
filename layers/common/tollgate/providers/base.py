"""Types shared by the provider adapters: usage, upstream calls, upstream errors, streams.

Adapters do no I/O: they describe the HTTP call (``UpstreamCall``) and parse the bytes the
proxy got back. The lingua franca is OpenAI Chat Completions, as plain dicts.
"""

from __future__ import annotations

import datetime as dt
import json
import math
import os
import time
from abc import ABC, abstractmethod
from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol

from tollgate.errors import BadRequest
from tollgate.sse import Event, SSEDecoder
from tollgate.validation import strict_json

if TYPE_CHECKING:  # the catalog imports yaml: keep it off this module's import path
    from tollgate.catalog import Model, Provider


@dataclass(slots=True)
class Usage:
    """Token counts of one upstream call, in OpenAI's semantics."""

    input_tokens: int = 0  # all prompt tokens, cached ones included (OpenAI semantics)
    output_tokens: int = 0  # all completion tokens, reasoning included
    cached_tokens: int = 0  # cache reads (subset of input_tokens)
    cache_write_tokens: int = 0  # cache writes (subset of input_tokens)
    reasoning_tokens: int = 0  # subset of output_tokens

    def openai(self) -> dict[str, Any]:
        """The usage object of an OpenAI chat completion."""
        return {
            "prompt_tokens": self.input_tokens,
            "completion_tokens": self.output_tokens,
            "total_tokens": self.input_tokens + self.output_tokens,
            "prompt_tokens_details": {"cached_tokens": self.cached_tokens},
            "completion_tokens_details": {"reasoning_tokens": self.reasoning_tokens},
        }


@dataclass(frozen=True, slots=True)
class UpstreamCall:
    """The HTTP request to send upstream, built by a provider adapter."""

    method: str
    url: str
    headers: dict[str, str]
    body: bytes | None
    stream: bool


@dataclass(frozen=True, slots=True)
class VideoReference:
    """An input reference image that guides a video (content: never stored or logged)."""

    mime_type: str
    data: bytes


@dataclass(frozen=True, slots=True)
class VideoRequest:
    """A video to make, checked against the model's catalog entry (content: never stored)."""

    prompt: str
    seconds: int
    size: str  # width x height, as OpenAI names it: 1280x720
    resolution: str  # 720p, 1080p, 4k
    reference: VideoReference | None = None

    @property
    def aspect_ratio(self) -> str:
        width, _, height = self.size.partition("x")
        return "16:9" if int(width) > int(height) else "9:16"


@dataclass(frozen=True, slots=True)
class VideoStatus:
    """A provider's job as one poll found it. ``content_uri`` is where the finished file is
    fetched from (Gemini); it is used at once and never stored."""

    state: str  # queued | in_progress | completed | failed
    progress: int | None = None  # 0-100 when the provider says
    seconds: int | None = None  # delivered, once completed (None: as requested)
    error_code: str | None = None  # failed: moderation_blocked, generation_failed, ...
    error_message: str | None = None  # never the prompt or anything derived from it
    content_uri: str | None = None


# Our own words for a failed video, never the provider's: its texts may quote the prompt.
VIDEO_BLOCKED = "The provider's safety filters blocked this video."
VIDEO_FAILED = "The provider could not generate this video."


def video_progress(value: Any) -> int | None:
    """A provider's progress percentage as 0-100; None when it gives no number."""
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        return None
    return min(100, max(0, int(value)))


class ProviderError(Exception):
    """An upstream's error answer (or unusable answer), already parsed."""

    def __init__(
        self,
        status: int,
        message: str,
        *,
        retryable: bool | None = None,
        retry_after: float | None = None,
        error_type: str | None = None,
    ) -> None:
        super().__init__(f"upstream {status}: {message}")
        self.status = status
        self.message = message
        self.retryable = is_retryable(status) if retryable is None else retryable
        self.retry_after = retry_after
        self.error_type = error_type


def is_retryable(status: int) -> bool:
    return status == 429 or status >= 500


def malformed(what: str) -> ProviderError:
    return ProviderError(502, f"malformed upstream answer: {what}", retryable=False)


class _UnreadableEvent(ProviderError):
    """A stream event that is not JSON: malformed mid-stream, a cut when it is the last one."""


class Adapter(Protocol):
    """What every adapter module exposes (``tollgate.providers.adapter_for``)."""

    def build_chat(
        self,
        request: dict[str, Any],
        *,
        model: Model,
        provider: Provider,
        api_key: str,
        stream: bool,
    ) -> UpstreamCall: ...

    def parse_chat(
        self, status: int, body: bytes, *, model_id: str, headers: Mapping[str, str] | None = None
    ) -> tuple[dict[str, Any], Usage]: ...

    def chat_stream(self, *, model_id: str) -> ChatStream: ...

    def build_embeddings(
        self, request: dict[str, Any], *, model: Model, provider: Provider, api_key: str
    ) -> UpstreamCall: ...

    def parse_embeddings(
        self,
        status: int,
        body: bytes,
        *,
        model_id: str,
        request: dict[str, Any],
        headers: Mapping[str, str] | None = None,
    ) -> tuple[dict[str, Any], Usage]: ...

    def build_images(
        self, request: dict[str, Any], *, model: Model, provider: Provider, api_key: str
    ) -> UpstreamCall: ...

    def parse_images(
        self, status: int, body: bytes, *, model_id: str, headers: Mapping[str, str] | None = None
    ) -> tuple[dict[str, Any], Usage]: ...

    def error_from(self, status: int, body: bytes, headers: Mapping[str, str]) -> ProviderError: ...

    def build_video_create(
        self, request: VideoRequest, *, model: Model, provider: Provider, api_key: str
    ) -> UpstreamCall: ...

    def parse_video_created(self, status: int, body: bytes) -> str: ...

    def build_video_status(
        self, operation: str, *, provider: Provider, api_key: str
    ) -> UpstreamCall: ...

    def parse_video_status(self, status: int, body: bytes) -> VideoStatus: ...

    def build_video_content(
        self,
        operation: str,
        status: VideoStatus,
        *,
        variant: str,
        provider: Provider,
        api_key: str,
    ) -> UpstreamCall | None: ...

    def build_video_cancel(
        self, operation: str, *, provider: Provider, api_key: str
    ) -> UpstreamCall | None: ...


# --- building calls ----------------------------------------------------------------------------


def json_call(url: str, headers: dict[str, str], body: Any, *, stream: bool) -> UpstreamCall:
    headers = {"content-type": "application/json", **headers}
    if stream:
        headers["accept"] = "text/event-stream"
    return UpstreamCall("POST", url, headers, dump_json(body), stream)


def dump_json(value: Any) -> bytes:
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False).encode("utf-8")


def compact_json(value: Any) -> str:
    """JSON the way providers write tool-call arguments."""
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False)


def reject_fields(request: Mapping[str, Any], supported: frozenset[str], provider: str) -> None:
    for name in request:
        if name not in supported:
            raise BadRequest(f"'{name}' is not supported for {provider} models.", param=name)


def single_choice(request: Mapping[str, Any], provider: str) -> None:
    if request.get("n") not in (None, 1):
        raise BadRequest(f"{provider} models only support n=1.", param="n")


def max_output_tokens(request: Mapping[str, Any]) -> int | None:
    value = request.get("max_completion_tokens")
    return request.get("max_tokens") if value is None else value


def stop_sequences(request: Mapping[str, Any]) -> list[str] | None:
    stop = request.get("stop")
    if stop is None:
        return None
    return [stop] if isinstance(stop, str) else list(stop)


def reject_semantic_extras(request: Mapping[str, Any], provider: str) -> None:
    """Parameters that ask for something this provider cannot give (defaults are fine)."""
    if request.get("logprobs"):
        raise BadRequest(f"logprobs are not supported for {provider} models.", param="logprobs")
    if request.get("top_logprobs"):
        raise BadRequest(
            f"top_logprobs are not supported for {provider} models.", param="top_logprobs"
        )
    if request.get("logit_bias"):
        raise BadRequest(f"logit_bias is not supported for {provider} models.", param="logit_bias")
    modalities = request.get("modalities")
    if modalities and list(modalities) != ["text"]:
        raise BadRequest(
            f"Only text output is supported for {provider} models.", param="modalities"
        )


def split_data_url(url: str, param: str) -> tuple[str, str]:
    """``data:<mime>;base64,<data>`` as (mime type, base64 data)."""
    head, sep, data = url.partition(",")
    if not sep or not head.startswith("data:") or not head.endswith(";base64"):
        raise BadRequest("Image data URLs must be base64 encoded.", param=param)
    return head[len("data:") : -len(";base64")] or "application/octet-stream", data


def text_of(content: Any, param: str) -> str:
    """The text of a message content that may only hold text (system, tool, refusal...)."""
    if content is None:
        return ""
    if isinstance(content, str):
        return content
    texts = []
    for index, part in enumerate(content):
        if part.get("type") != "text":
            raise BadRequest("Only text parts are allowed here.", param=f"{param}[{index}].type")
        texts.append(part["text"])
    return "\n".join(texts) if len(texts) > 1 else "".join(texts)


def parse_arguments(arguments: str, param: str) -> Any:
    try:
        return strict_json(arguments or "{}")
    except ValueError:
        raise BadRequest("Tool call arguments must be valid JSON.", param=param) from None


# --- parsing answers ---------------------------------------------------------------------------


def load_json(body: bytes) -> Any:
    try:
        return json.loads(body)
    except ValueError:
        raise malformed("the body is not JSON") from None


def load_object(body: bytes) -> dict[str, Any]:
    value = load_json(body)
    if not isinstance(value, dict):
        raise malformed("the body is not a JSON object")
    return value


def header(headers: Mapping[str, str] | None, name: str) -> str | None:
    for key, value in (headers or {}).items():
        if key.lower() == name:
            return value
    return None


def retry_after(headers: Mapping[str, str] | None, *, now: float | None = None) -> float | None:
    """Seconds to wait, from ``retry-after-ms`` or ``retry-after`` (seconds or an HTTP date)."""
    milliseconds = header(headers, "retry-after-ms")
    if milliseconds is not None:
        try:
            return max(0.0, float(milliseconds) / 1000)
        except ValueError:
            pass
    value = header(headers, "retry-after")
    if value is None:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = dt.datetime.strptime(value.strip(), "%a, %d %b %Y %H:%M:%S GMT")
    except ValueError:
        return None
    seconds = when.replace(tzinfo=dt.UTC).timestamp() - (time.time() if now is None else now)
    return max(0.0, seconds)


def error_message(status: int) -> str:
    return f"the upstream answered HTTP {status}"


def new_id(prefix: str) -> str:
    return prefix + os.urandom(12).hex()


def estimate_tokens(chars: int) -> int:
    """Roughly four characters per token, the usual rule of thumb for English text."""
    return math.ceil(chars / 4)


def completion(
    *,
    response_id: str,
    model_id: str,
    message: dict[str, Any],
    finish_reason: str,
    usage: Usage,
    created: int | None = None,
) -> dict[str, Any]:
    return {
        "id": response_id,
        "object": "chat.completion",
        "created": int(time.time()) if created is None else created,
        "model": model_id,
        "choices": [
            {"index": 0, "message": message, "logprobs": None, "finish_reason": finish_reason}
        ],
        "usage": usage.openai(),
    }


def assistant_message(text: str, tool_calls: list[dict[str, Any]]) -> dict[str, Any]:
    message: dict[str, Any] = {
        "role": "assistant",
        "content": text if text or not tool_calls else None,
        "refusal": None,
    }
    if tool_calls:
        message["tool_calls"] = tool_calls
    return message


def tool_call(call_id: str, name: str, arguments: str) -> dict[str, Any]:
    return {"id": call_id, "type": "function", "function": {"name": name, "arguments": arguments}}


# --- streams -----------------------------------------------------------------------------------


class ChatStream(ABC):
    """Upstream stream bytes in, OpenAI ``chat.completion.chunk`` dicts out.

    ``feed`` returns the chunks for the bytes so far, ``close`` those left at the end. The
    usage-only chunk is never returned: the final usage is in ``usage`` (None until the
    upstream reported it). ``output_chars`` counts streamed text and tool-call arguments so
    the proxy can estimate output tokens when the stream is cut.
    """

    def __init__(self, *, model_id: str) -> None:
        self.model_id = model_id
        self.id = new_id("chatcmpl-")
        self.created = int(time.time())
        self.usage: Usage | None = None
        self.finish_reason: str | None = None
        self.completed = False
        self.output_chars = 0
        self._decoder = SSEDecoder()

    def feed(self, data: bytes) -> list[dict[str, Any]]:
        try:
            events = self._decoder.feed(data)
        except UnicodeDecodeError:
            raise malformed("the stream is not UTF-8") from None
        return self._translate(events)

    def close(self) -> list[dict[str, Any]]:
        try:
            events = self._decoder.close()
        except UnicodeDecodeError:
            return []  # the stream was cut inside a character
        try:
            return self._translate(events)
        except _UnreadableEvent:
            return []  # the stream was cut inside its last event

    def _translate(self, events: list[Event]) -> list[dict[str, Any]]:
        chunks: list[dict[str, Any]] = []
        for event in events:
            chunks.extend(self._on_event(event))
        return chunks

    @abstractmethod
    def _on_event(self, event: Event) -> list[dict[str, Any]]:
        """The OpenAI chunks one upstream event becomes (each adapter's own translation)."""

    def _payload(self, event: Event) -> dict[str, Any]:
        try:
            value = json.loads(event.data)
        except ValueError:
            message = "malformed upstream answer: a stream event is not JSON"
            raise _UnreadableEvent(502, message, retryable=False) from None
        if not isinstance(value, dict):
            raise malformed("a stream event is not a JSON object")
        return value

    def _chunk(self, delta: dict[str, Any], finish_reason: str | None = None) -> dict[str, Any]:
        return {
            "id": self.id,
            "object": "chat.completion.chunk",
            "created": self.created,
            "model": self.model_id,
            "choices": [
                {"index": 0, "delta": delta, "logprobs": None, "finish_reason": finish_reason}
            ],
        }

    def _text_chunk(self, text: str) -> dict[str, Any]:
        self.output_chars += len(text)
        return self._chunk({"content": text})

    def _tool_start_chunk(self, index: int, call_id: str, name: str) -> dict[str, Any]:
        start = {"index": index, "id": call_id, "type": "function"}
        return self._chunk({"tool_calls": [{**start, "function": {"name": name, "arguments": ""}}]})

    def _arguments_chunk(self, index: int, arguments: str) -> dict[str, Any]:
        self.output_chars += len(arguments)
        return self._chunk({"tool_calls": [{"index": index, "function": {"arguments": arguments}}]})
