"""OpenAI and OpenAI-compatible upstreams: the request passes through with the upstream model
id; answers are checked, re-labelled with the public model id and their usage read. A video
(the Videos API) is a multipart create, then a job polled, downloaded and deleted by its id."""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from tollgate.providers.base import (
    VIDEO_BLOCKED,
    VIDEO_FAILED,
    ChatStream,
    ProviderError,
    UpstreamCall,
    Usage,
    VideoReference,
    VideoRequest,
    VideoStatus,
    error_message,
    json_call,
    load_json,
    load_object,
    malformed,
    retry_after,
    video_progress,
)
from tollgate.sse import Event

if TYPE_CHECKING:
    from tollgate.catalog import Model, Provider

# a provider's video id goes into URL paths: one safe segment, nothing else
_VIDEO_ID = re.compile(r"[A-Za-z0-9_-]{1,128}")
_ERROR_CODE = re.compile(r"[A-Za-z0-9_.-]{1,64}")
_MODERATION_WORDS = ("moderation", "content_policy", "content_filter", "safety")
_VIDEO_STATES = frozenset({"queued", "in_progress", "completed", "failed"})
_VIDEO_VARIANTS = frozenset({"video", "thumbnail"})
_MIME_TYPE = re.compile(r"[A-Za-z0-9.+-]+/[A-Za-z0-9.+-]+")
_STORED_FIELDS = frozenset({"store", "metadata"})
_EXTENSIONS = {"image/png": "png", "image/jpeg": "jpg", "image/webp": "webp", "image/gif": "gif"}


def build_chat(
    request: dict[str, Any], *, model: Model, provider: Provider, api_key: str, stream: bool
) -> UpstreamCall:
    body = {**data_controls(request, provider.kind), "model": model.upstream_id}
    if stream:
        options = body.get("stream_options") or {}
        body.update(stream=True, stream_options={**options, "include_usage": True})
    else:
        body.pop("stream", None)
        body.pop("stream_options", None)
    return json_call(
        f"{provider.base_url}/chat/completions", auth_headers(api_key), body, stream=stream
    )


def data_controls(request: dict[str, Any], kind: str) -> dict[str, Any]:
    """The chat request with our data controls: a client's ``store`` and ``metadata`` never
    go upstream. OpenAI is told ``store: false`` (no stored completion for distillation or
    evals; its ``metadata`` is refused without ``store``). A compatible server is told
    nothing: ``store`` is OpenAI's own, and some (Mistral) refuse any field they don't know."""
    body = {name: value for name, value in request.items() if name not in _STORED_FIELDS}
    if kind == "openai":
        body["store"] = False
    return body


def parse_chat(
    status: int, body: bytes, *, model_id: str, headers: Mapping[str, str] | None = None
) -> tuple[dict[str, Any], Usage]:
    response = success_body(status, body, headers)
    choices = response.get("choices")
    if not isinstance(choices, list) or not choices:
        raise malformed("no choices")
    raw_usage = response.get("usage")
    usage = usage_from(raw_usage)
    response["model"] = model_id
    response.setdefault("object", "chat.completion")
    # the upstream's own usage fields win (they may detail more); ours fill the gaps
    response["usage"] = usage.openai() | (raw_usage if isinstance(raw_usage, dict) else {})
    return response, usage


def chat_stream(*, model_id: str) -> OpenAIChatStream:
    return OpenAIChatStream(model_id=model_id)


def build_embeddings(
    request: dict[str, Any], *, model: Model, provider: Provider, api_key: str
) -> UpstreamCall:
    body = {**request, "model": model.upstream_id}
    return json_call(f"{provider.base_url}/embeddings", auth_headers(api_key), body, stream=False)


def parse_embeddings(
    status: int,
    body: bytes,
    *,
    model_id: str,
    request: dict[str, Any],
    headers: Mapping[str, str] | None = None,
) -> tuple[dict[str, Any], Usage]:
    """``request`` is unused here (the upstream honours ``encoding_format`` itself); it is part
    of the signature because other adapters need it."""
    response = success_body(status, body, headers)
    if not isinstance(response.get("data"), list):
        raise malformed("no embeddings")
    tokens = int((response.get("usage") or {}).get("prompt_tokens") or 0)
    response["model"] = model_id
    response["usage"] = {"prompt_tokens": tokens, "total_tokens": tokens}
    return response, Usage(input_tokens=tokens)


def build_images(
    request: dict[str, Any], *, model: Model, provider: Provider, api_key: str
) -> UpstreamCall:
    body = {**request, "model": model.upstream_id}
    return json_call(
        f"{provider.base_url}/images/generations", auth_headers(api_key), body, stream=False
    )


def parse_images(
    status: int, body: bytes, *, model_id: str, headers: Mapping[str, str] | None = None
) -> tuple[dict[str, Any], Usage]:
    """The images answer as is; its token usage (gpt-image models only) as a Usage. The
    per-image price is the caller's business: it counts ``data``."""
    response = success_body(status, body, headers)
    if not isinstance(response.get("data"), list):
        raise malformed("no images")
    usage = response.get("usage") or {}
    return response, Usage(
        input_tokens=int(usage.get("input_tokens") or 0),
        output_tokens=int(usage.get("output_tokens") or 0),
    )


def build_video_create(
    request: VideoRequest, *, model: Model, provider: Provider, api_key: str
) -> UpstreamCall:
    fields = {
        "prompt": request.prompt,
        "model": model.upstream_id,
        "seconds": str(request.seconds),
        "size": request.size,
    }
    content_type, body = _multipart(fields, request.reference)
    headers = {"content-type": content_type, **auth_headers(api_key)}
    return UpstreamCall("POST", f"{provider.base_url}/videos", headers, body, False)


def parse_video_created(status: int, body: bytes) -> str:
    """The provider's video id."""
    return _video_id(success_body(status, body, None).get("id"))


def build_video_status(operation: str, *, provider: Provider, api_key: str) -> UpstreamCall:
    url = f"{provider.base_url}/videos/{_video_id(operation)}"
    return UpstreamCall("GET", url, auth_headers(api_key), None, False)


def parse_video_status(status: int, body: bytes) -> VideoStatus:
    """The Video object's state; a failure in our words with at most the provider's code (its
    message may quote the prompt). ``seconds`` counts once completed: what was delivered."""
    video = success_body(status, body, None)
    state = video.get("status")
    if state not in _VIDEO_STATES:
        raise malformed("an unknown video status")
    progress = video_progress(video.get("progress"))
    if state == "failed":
        return _video_failure(video.get("error"), progress)
    seconds = _delivered_seconds(video.get("seconds")) if state == "completed" else None
    return VideoStatus(state, progress=progress, seconds=seconds)


def build_video_content(
    operation: str, status: VideoStatus, *, variant: str, provider: Provider, api_key: str
) -> UpstreamCall | None:
    if variant not in _VIDEO_VARIANTS:
        return None
    url = f"{provider.base_url}/videos/{_video_id(operation)}/content?variant={variant}"
    return UpstreamCall("GET", url, auth_headers(api_key), None, True)


def build_video_cancel(operation: str, *, provider: Provider, api_key: str) -> UpstreamCall | None:
    url = f"{provider.base_url}/videos/{_video_id(operation)}"
    return UpstreamCall("DELETE", url, auth_headers(api_key), None, False)


def error_from(status: int, body: bytes, headers: Mapping[str, str]) -> ProviderError:
    """``{"error": {"message", "type", "param", "code"}}``; some compatible servers send
    ``{"error": "text"}`` or ``{"detail": ...}``."""
    message, error_type = error_message(status), None
    try:
        parsed = load_json(body)
    except ProviderError:
        parsed = None
    if isinstance(parsed, dict):
        error = parsed.get("error", parsed.get("detail"))
        if isinstance(error, dict):
            message = str(error.get("message") or message)
            error_type = error.get("code") or error.get("type")
        elif isinstance(error, str) and error:
            message = error
    return ProviderError(
        status, message, retry_after=retry_after(headers), error_type=_text_or_none(error_type)
    )


def usage_from(raw: Any) -> Usage:
    """OpenAI usage; DeepSeek-style ``prompt_cache_hit_tokens`` is read as cached tokens."""
    if not isinstance(raw, dict):
        return Usage()
    prompt = raw.get("prompt_tokens_details") or {}
    completion = raw.get("completion_tokens_details") or {}
    cached = prompt.get("cached_tokens") or raw.get("prompt_cache_hit_tokens") or 0
    return Usage(
        input_tokens=int(raw.get("prompt_tokens") or 0),
        output_tokens=int(raw.get("completion_tokens") or 0),
        cached_tokens=int(cached),
        reasoning_tokens=int(completion.get("reasoning_tokens") or 0),
    )


class OpenAIChatStream(ChatStream):
    """Chunks pass through with a stable id and the public model id. The usage chunk (empty
    ``choices``) is captured, not returned; ``usage: null`` fields are dropped."""

    def __init__(self, *, model_id: str) -> None:
        super().__init__(model_id=model_id)
        self._upstream_id: str | None = None
        self._role_sent = False

    def _on_event(self, event: Event) -> list[dict[str, Any]]:
        if event.data.strip() == "[DONE]":
            self.completed = True
            return []
        chunk = self._payload(event)
        if "error" in chunk:
            raise stream_error(chunk["error"])
        usage = chunk.pop("usage", None) or (chunk.get("x_groq") or {}).get("usage")
        if usage:
            self.usage = usage_from(usage)
        choices = chunk.get("choices")
        if not isinstance(choices, list):
            raise malformed("a chunk without choices")
        if not choices:
            return []
        chunk.update(id=self.id, model=self.model_id, object="chat.completion.chunk")
        chunk.setdefault("created", self.created)
        for choice in choices:
            self._observe(choice)
        return [chunk]

    def _observe(self, choice: dict[str, Any]) -> None:
        delta = choice.get("delta")
        if not isinstance(delta, dict):
            raise malformed("a choice without delta")
        if not self._role_sent:
            delta.setdefault("role", "assistant")
            self._role_sent = True
        for key in ("content", "refusal", "reasoning_content"):
            if isinstance(delta.get(key), str):
                self.output_chars += len(delta[key])
        for call in delta.get("tool_calls") or []:
            arguments = (call.get("function") or {}).get("arguments")
            self.output_chars += len(arguments) if isinstance(arguments, str) else 0
        if choice.get("finish_reason"):
            self.finish_reason = choice["finish_reason"]
            self.completed = True


def success_body(status: int, body: bytes, headers: Mapping[str, str] | None) -> dict[str, Any]:
    if not 200 <= status < 300:
        raise error_from(status, body, headers or {})
    return load_object(body)


def _multipart(fields: dict[str, str], reference: VideoReference | None) -> tuple[str, bytes]:
    """multipart/form-data by hand (the standard library has no encoder for it)."""
    parts = [(_disposition(name), value.encode("utf-8")) for name, value in fields.items()]
    if reference is not None:
        mime_type = reference.mime_type if _MIME_TYPE.fullmatch(reference.mime_type) else None
        mime_type = mime_type or "application/octet-stream"
        filename = f"reference.{_EXTENSIONS.get(mime_type, 'bin')}"
        head = f'{_disposition("input_reference")}; filename="{filename}"\r\n'
        parts.append((head + f"content-type: {mime_type}", reference.data))
    # random, so a prompt or an image cannot be made to contain it
    boundary = b"tollgate-" + os.urandom(16).hex().encode("ascii")
    body = b"".join(
        b"--%s\r\n%s\r\n\r\n%s\r\n" % (boundary, lines.encode("ascii"), data)
        for lines, data in parts
    )
    content_type = f"multipart/form-data; boundary={boundary.decode('ascii')}"
    return content_type, body + b"--%s--\r\n" % boundary


def _disposition(name: str) -> str:
    return f'content-disposition: form-data; name="{name}"'


def _video_id(value: Any) -> str:
    if not isinstance(value, str) or not _VIDEO_ID.fullmatch(value):
        raise malformed("a video id that is not a safe path segment")
    return value


def _video_failure(error: Any, progress: int | None) -> VideoStatus:
    code = error.get("code") if isinstance(error, dict) else None
    code = code if isinstance(code, str) and _ERROR_CODE.fullmatch(code) else None
    if code and any(word in code.lower() for word in _MODERATION_WORDS):
        kind, sentence = "moderation_blocked", VIDEO_BLOCKED
    else:
        kind, sentence = "generation_failed", VIDEO_FAILED
    message = f"{sentence} (provider code: {code})" if code else sentence
    return VideoStatus("failed", progress=progress, error_code=kind, error_message=message)


def _delivered_seconds(value: Any) -> int | None:
    """``"4"`` or 4; absent: as requested. Anything else is malformed: it is billed."""
    if value is None:
        return None
    if isinstance(value, str) and value.isascii() and value.isdigit():
        value = int(value)
    if isinstance(value, bool) or not isinstance(value, int) or value <= 0:
        raise malformed("the video's seconds are not a positive whole number")
    return value


def auth_headers(api_key: str) -> dict[str, str]:
    # OpenAI-compatible servers without a key (a local vLLM or Ollama) get no header at all
    return {"authorization": f"Bearer {api_key}"} if api_key else {}


def stream_error(error: Any) -> ProviderError:
    if isinstance(error, dict):
        return ProviderError(502, str(error.get("message") or "upstream stream error"))
    return ProviderError(502, str(error) or "upstream stream error")


def _text_or_none(value: Any) -> str | None:
    return value if isinstance(value, str) else None
