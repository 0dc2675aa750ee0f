"""Google Gemini upstreams (``generateContent`` / ``streamGenerateContent``, embeddings),
translated from and to the OpenAI formats.

Translation choices:

- system and developer messages become ``systemInstruction``; assistant turns have role
  ``model``; a tool result becomes a ``functionResponse`` part named after the call it answers
  (found by ``tool_call_id`` among the earlier assistant tool calls); its text is sent as the
  response object when it is a JSON object, else as ``{"result": text}``;
- tool parameters and ``json_schema`` response formats are sent as JSON Schema
  (``parametersJsonSchema``, ``responseJsonSchema``), which accept what OpenAI clients send
  (``additionalProperties``...), unlike the OpenAPI subset of ``parameters`` / ``responseSchema``;
- images must be ``data:`` URLs (the gateway does not fetch URLs for Gemini);
- Gemini calls carry no id: one is made up, or Gemini's own when present. A call's
  ``thoughtSignature`` travels in the tool call's ``extra_content.google.thought_signature``
  (the convention of Google's OpenAI-compatible endpoint) and is sent back with it;
- ``reasoning_effort`` becomes a thinking budget (none/minimal 0, low 1024, medium 8192, high
  24576, as Google's OpenAI-compatible endpoint does); thought parts are not shown;
- ``n`` > 1, ``logprobs`` and ``logit_bias`` are refused; ``user``, ``metadata``, ``store``,
  ``service_tier`` and ``parallel_tool_calls`` are dropped.
"""

from __future__ import annotations

import base64
import re
import struct
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from tollgate.errors import BadRequest
from tollgate.providers.base import (
    VIDEO_BLOCKED,
    VIDEO_FAILED,
    ChatStream,
    ProviderError,
    UpstreamCall,
    Usage,
    VideoRequest,
    VideoStatus,
    assistant_message,
    compact_json,
    completion,
    error_message,
    estimate_tokens,
    json_call,
    load_json,
    load_object,
    malformed,
    max_output_tokens,
    new_id,
    parse_arguments,
    reject_fields,
    reject_semantic_extras,
    retry_after,
    single_choice,
    split_data_url,
    stop_sequences,
    text_of,
    tool_call,
    video_progress,
)
from tollgate.sse import Event
from tollgate.validation import strict_json

if TYPE_CHECKING:
    from tollgate.catalog import Model, Provider

PROVIDER = "Gemini"
THINKING_BUDGETS = {"none": 0, "minimal": 0, "low": 1024, "medium": 8192, "high": 24576}

_SUPPORTED = frozenset(
    {
        "model",
        "messages",
        "stream",
        "stream_options",
        "max_tokens",
        "max_completion_tokens",
        "temperature",
        "top_p",
        "top_k",
        "stop",
        "n",
        "seed",
        "frequency_penalty",
        "presence_penalty",
        "tools",
        "tool_choice",
        "parallel_tool_calls",
        "response_format",
        "reasoning_effort",
        "user",
        "metadata",
        "store",
        "service_tier",
        "logprobs",
        "top_logprobs",
        "logit_bias",
        "modalities",
    }
)
_EMBEDDING_FIELDS = frozenset({"model", "input", "dimensions", "encoding_format", "user"})
_GENERATION = {"temperature": "temperature", "top_p": "topP", "top_k": "topK", "seed": "seed"}
# sent only when not zero: some Gemini models refuse penalties altogether, even a zero one
_PENALTIES = {"frequency_penalty": "frequencyPenalty", "presence_penalty": "presencePenalty"}
# models/<model>/operations/<id>: it goes into a URL path, so nothing else (no "..", no "/")
_OPERATION = re.compile(
    r"models/[A-Za-z0-9][A-Za-z0-9._-]{0,127}/operations/[A-Za-z0-9][A-Za-z0-9_-]{0,127}"
)
_DEFAULT_PORTS = {"https": 443, "http": 80}
_FILTERED = frozenset(
    {"SAFETY", "RECITATION", "BLOCKLIST", "PROHIBITED_CONTENT", "SPII", "IMAGE_SAFETY"}
)


# --- chat requests -----------------------------------------------------------------------------


def build_chat(
    request: dict[str, Any], *, model: Model, provider: Provider, api_key: str, stream: bool
) -> UpstreamCall:
    body = _generate_request(request)
    method = "streamGenerateContent?alt=sse" if stream else "generateContent"
    url = f"{provider.base_url}/v1beta/models/{model.upstream_id}:{method}"
    return json_call(url, {"x-goog-api-key": api_key}, body, stream=stream)


def _generate_request(request: dict[str, Any]) -> dict[str, Any]:
    reject_fields(request, _SUPPORTED, PROVIDER)
    reject_semantic_extras(request, PROVIDER)
    single_choice(request, PROVIDER)
    system, contents = _contents(request["messages"])
    body: dict[str, Any] = {"contents": contents}
    if system:
        body["systemInstruction"] = {"parts": [{"text": text} for text in system]}
    if request.get("tools"):
        body["tools"] = [{"functionDeclarations": _declarations(request["tools"])}]
        if request.get("tool_choice") is not None:
            body["toolConfig"] = {"functionCallingConfig": _calling_config(request["tool_choice"])}
    config = _generation_config(request)
    if config:
        body["generationConfig"] = config
    return body


def _contents(messages: list[dict[str, Any]]) -> tuple[list[str], list[dict[str, Any]]]:
    system: list[str] = []
    contents: list[dict[str, Any]] = []
    call_names: dict[str, str] = {}
    for index, message in enumerate(messages):
        param = f"messages[{index}]"
        role = message.get("role")
        if role in ("system", "developer"):
            text = text_of(message.get("content"), f"{param}.content")
            system += [text] if text else []
            continue
        if role == "user":
            parts = _user_parts(message.get("content"), f"{param}.content")
        elif role == "assistant":
            parts = _model_parts(message, param, call_names)
        elif role == "tool":
            parts = [_function_response(message, param, call_names)]
        else:
            raise BadRequest(f"Role {role!r} is not supported for Gemini models.", param=param)
        gemini_role = "model" if role == "assistant" else "user"
        if not parts:
            continue
        if contents and contents[-1]["role"] == gemini_role:
            contents[-1]["parts"] += parts
        else:
            contents.append({"role": gemini_role, "parts": parts})
    return system, contents


def _user_parts(content: Any, param: str) -> list[dict[str, Any]]:
    if content is None or isinstance(content, str):
        return [{"text": content}] if content else []
    parts = []
    for index, part in enumerate(content):
        kind = part.get("type")
        if kind == "text":
            if part.get("text"):
                parts.append({"text": part["text"]})
        elif kind == "image_url":
            parts.append(_inline_image(part["image_url"]["url"], f"{param}[{index}].image_url"))
        else:
            raise BadRequest(
                f"Content parts of type {kind!r} are not supported for Gemini models.",
                param=f"{param}[{index}].type",
            )
    return parts


def _inline_image(url: str, param: str) -> dict[str, Any]:
    if not url.startswith("data:"):
        raise BadRequest("Gemini models accept images as data: URLs only.", param=f"{param}.url")
    mime_type, data = split_data_url(url, f"{param}.url")
    return {"inlineData": {"mimeType": mime_type, "data": data}}


def _model_parts(
    message: dict[str, Any], param: str, call_names: dict[str, str]
) -> list[dict[str, Any]]:
    content = message.get("content")
    if isinstance(content, list):  # text and refusal parts
        content = "".join(p.get("text") or p.get("refusal") or "" for p in content)
    parts: list[dict[str, Any]] = [{"text": content}] if content else []
    for index, call in enumerate(message.get("tool_calls") or []):
        call_param = f"{param}.tool_calls[{index}]"
        if call.get("type", "function") != "function":
            raise BadRequest("Only function tool calls are supported.", param=f"{call_param}.type")
        function = call["function"]
        arguments = parse_arguments(function.get("arguments"), f"{call_param}.function.arguments")
        call_names[call["id"]] = function["name"]
        part: dict[str, Any] = {"functionCall": {"name": function["name"], "args": arguments}}
        signature = ((call.get("extra_content") or {}).get("google") or {}).get("thought_signature")
        if signature:
            part["thoughtSignature"] = signature
        parts.append(part)
    return parts


def _function_response(
    message: dict[str, Any], param: str, call_names: dict[str, str]
) -> dict[str, Any]:
    call_id = message.get("tool_call_id")
    name = call_names.get(call_id) if isinstance(call_id, str) else None
    if name is None:
        raise BadRequest(
            "tool_call_id does not match any earlier assistant tool call.",
            param=f"{param}.tool_call_id",
        )
    text = text_of(message.get("content"), f"{param}.content")
    try:
        value = strict_json(text)
    except ValueError:
        value = None
    response = value if isinstance(value, dict) else {"result": text}
    return {"functionResponse": {"name": name, "response": response}}


def _declarations(tools: list[dict[str, Any]]) -> list[dict[str, Any]]:
    declarations = []
    for index, tool in enumerate(tools):
        if tool.get("type") != "function":
            raise BadRequest(
                "Only function tools are supported for Gemini models.",
                param=f"tools[{index}].type",
            )
        function = tool["function"]
        declaration: dict[str, Any] = {"name": function["name"]}
        if function.get("description"):
            declaration["description"] = function["description"]
        if function.get("parameters"):
            declaration["parametersJsonSchema"] = function["parameters"]
        declarations.append(declaration)
    return declarations


def _calling_config(choice: Any) -> dict[str, Any]:
    if choice in ("auto", "none", "required"):
        return {"mode": {"auto": "AUTO", "none": "NONE", "required": "ANY"}[choice]}
    if isinstance(choice, dict) and choice.get("type") == "function":
        return {"mode": "ANY", "allowedFunctionNames": [choice["function"]["name"]]}
    raise BadRequest("Unsupported tool_choice for Gemini models.", param="tool_choice")


def _generation_config(request: dict[str, Any]) -> dict[str, Any]:
    config = {
        key: request[name] for name, key in _GENERATION.items() if request.get(name) is not None
    }
    config |= {key: request[name] for name, key in _PENALTIES.items() if request.get(name)}
    max_tokens = max_output_tokens(request)
    if max_tokens is not None:
        config["maxOutputTokens"] = max_tokens
    stops = stop_sequences(request)
    if stops:
        config["stopSequences"] = stops
    config.update(_response_format(request.get("response_format")))
    effort = request.get("reasoning_effort")
    if effort is not None:
        if effort not in THINKING_BUDGETS:
            raise BadRequest(f"Unknown reasoning_effort {effort!r}.", param="reasoning_effort")
        config["thinkingConfig"] = {"thinkingBudget": THINKING_BUDGETS[effort]}
    return config


def _response_format(response_format: Any) -> dict[str, Any]:
    kind = (response_format or {}).get("type", "text")
    if kind == "text":
        return {}
    if kind == "json_object":
        return {"responseMimeType": "application/json"}
    if kind == "json_schema":
        schema = (response_format.get("json_schema") or {}).get("schema")
        config: dict[str, Any] = {"responseMimeType": "application/json"}
        if schema:
            config["responseJsonSchema"] = schema
        return config
    raise BadRequest(
        f"response_format {kind!r} is not supported for Gemini models.", param="response_format"
    )


# --- chat answers ------------------------------------------------------------------------------


def parse_chat(
    status: int, body: bytes, *, model_id: str, headers: Mapping[str, str] | None = None
) -> tuple[dict[str, Any], Usage]:
    if not 200 <= status < 300:
        raise error_from(status, body, headers or {})
    answer = load_object(body)
    candidate = _first_candidate(answer)
    parts = _parts(candidate)
    text = "".join(
        p["text"] for p in parts if isinstance(p.get("text"), str) and not p.get("thought")
    )
    calls = [_tool_call(p) for p in parts if isinstance(p.get("functionCall"), dict)]
    usage = usage_from(answer.get("usageMetadata"))
    response = completion(
        response_id=str(answer.get("responseId") or new_id("chatcmpl-")),
        model_id=model_id,
        message=assistant_message(text, calls),
        finish_reason=finish_reason(candidate, has_calls=bool(calls), blocked=_blocked(answer)),
        usage=usage,
    )
    return response, usage


def _first_candidate(answer: dict[str, Any]) -> dict[str, Any] | None:
    """The candidate, or None (a blocked prompt, or a chunk with usage only)."""
    candidates = answer.get("candidates")
    if not candidates:
        return None
    if not isinstance(candidates, list) or not isinstance(candidates[0], dict):
        raise malformed("candidates")
    return candidates[0]


def _parts(candidate: dict[str, Any] | None) -> list[dict[str, Any]]:
    parts = ((candidate or {}).get("content") or {}).get("parts") or []
    if not isinstance(parts, list) or not all(isinstance(p, dict) for p in parts):
        raise malformed("content parts")
    return parts


def _tool_call(part: dict[str, Any]) -> dict[str, Any]:
    call = part["functionCall"]
    result = tool_call(
        str(call.get("id") or new_id("call_")), call["name"], compact_json(call.get("args") or {})
    )
    if part.get("thoughtSignature"):
        result["extra_content"] = {"google": {"thought_signature": part["thoughtSignature"]}}
    return result


def _blocked(answer: dict[str, Any]) -> bool:
    return bool((answer.get("promptFeedback") or {}).get("blockReason"))


def finish_reason(candidate: dict[str, Any] | None, *, has_calls: bool, blocked: bool) -> str:
    reason = (candidate or {}).get("finishReason")
    if blocked or reason in _FILTERED:
        return "content_filter"
    if reason == "MAX_TOKENS":
        return "length"
    return "tool_calls" if has_calls else "stop"


def usage_from(raw: Any) -> Usage:
    """``promptTokenCount`` includes ``cachedContentTokenCount``; thoughts are output tokens
    billed apart from ``candidatesTokenCount``. Any field may be absent (zero)."""
    raw = raw if isinstance(raw, dict) else {}
    thoughts = int(raw.get("thoughtsTokenCount") or 0)
    return Usage(
        input_tokens=int(raw.get("promptTokenCount") or 0)
        + int(raw.get("toolUsePromptTokenCount") or 0),
        output_tokens=int(raw.get("candidatesTokenCount") or 0) + thoughts,
        cached_tokens=int(raw.get("cachedContentTokenCount") or 0),
        reasoning_tokens=thoughts,
    )


def error_from(status: int, body: bytes, headers: Mapping[str, str]) -> ProviderError:
    """``{"error": {"code", "message", "status", "details"}}`` (in a list for a stream not
    sent as SSE); a ``RetryInfo`` detail's ``retryDelay`` stands in for a missing header."""
    message, error_type, delay = error_message(status), None, retry_after(headers)
    try:
        parsed = load_json(body)
    except ProviderError:
        parsed = None
    if isinstance(parsed, list) and parsed:
        parsed = parsed[0]
    error = parsed.get("error") if isinstance(parsed, dict) else None
    if isinstance(error, dict):
        message = str(error.get("message") or message)
        error_type = error.get("status") if isinstance(error.get("status"), str) else None
        if delay is None:
            delay = _retry_delay(error.get("details"))
    return ProviderError(status, message, retry_after=delay, error_type=error_type)


def _retry_delay(details: Any) -> float | None:
    for detail in details if isinstance(details, list) else []:
        if isinstance(detail, dict) and str(detail.get("@type", "")).endswith("RetryInfo"):
            try:
                return float(str(detail.get("retryDelay", "")).removesuffix("s"))
            except ValueError:
                return None
    return None


def chat_stream(*, model_id: str) -> GeminiChatStream:
    return GeminiChatStream(model_id=model_id)


class GeminiChatStream(ChatStream):
    """``streamGenerateContent?alt=sse`` chunks to OpenAI chunks. Every chunk repeats the usage
    so far; ``usage`` is set from the last one once a chunk carries a ``finishReason``."""

    def __init__(self, *, model_id: str) -> None:
        super().__init__(model_id=model_id)
        self._started = False
        self._calls = 0
        self._last_usage: Any = None

    def _on_event(self, event: Event) -> list[dict[str, Any]]:
        answer = self._payload(event)
        if "error" in answer:
            code = answer["error"].get("code") if isinstance(answer["error"], dict) else None
            raise error_from(code if isinstance(code, int) else 502, event.data.encode(), {})
        chunks = [] if self._started else [self._chunk({"role": "assistant", "content": ""})]
        self._started = True
        candidate = _first_candidate(answer)
        for part in _parts(candidate):
            chunks += self._on_part(part)
        if answer.get("usageMetadata"):
            self._last_usage = answer["usageMetadata"]
            if self.completed:
                self.usage = usage_from(self._last_usage)
        if (candidate or {}).get("finishReason") or _blocked(answer):
            self.finish_reason = finish_reason(
                candidate, has_calls=self._calls > 0, blocked=_blocked(answer)
            )
            self.completed = True
            self.usage = usage_from(self._last_usage)
            chunks.append(self._chunk({}, self.finish_reason))
        return chunks

    def _on_part(self, part: dict[str, Any]) -> list[dict[str, Any]]:
        if isinstance(part.get("functionCall"), dict):
            call = _tool_call(part)
            index, self._calls = self._calls, self._calls + 1
            start = self._tool_start_chunk(index, call["id"], call["function"]["name"])
            if "extra_content" in call:
                start["choices"][0]["delta"]["tool_calls"][0]["extra_content"] = call[
                    "extra_content"
                ]
            return [start, self._arguments_chunk(index, call["function"]["arguments"])]
        text = part.get("text")
        if not isinstance(text, str) or not text:
            return []
        if part.get("thought"):  # not shown, but billed: count it for estimates
            self.output_chars += len(text)
            return []
        return [self._text_chunk(text)]


# --- embeddings --------------------------------------------------------------------------------


def build_embeddings(
    request: dict[str, Any], *, model: Model, provider: Provider, api_key: str
) -> UpstreamCall:
    """A string input uses ``embedContent``, a list ``batchEmbedContents``."""
    reject_fields(request, _EMBEDDING_FIELDS, PROVIDER)
    texts = _embedding_texts(request)
    name = f"models/{model.upstream_id}"
    extra = {"outputDimensionality": request["dimensions"]} if request.get("dimensions") else {}

    def one(text: str) -> dict[str, Any]:
        return {"model": name, "content": {"parts": [{"text": text}]}, **extra}

    base = f"{provider.base_url}/v1beta/{name}"
    headers = {"x-goog-api-key": api_key}
    if isinstance(request["input"], str):
        return json_call(f"{base}:embedContent", headers, one(texts[0]), stream=False)
    body = {"requests": [one(text) for text in texts]}
    return json_call(f"{base}:batchEmbedContents", headers, body, stream=False)


def parse_embeddings(
    status: int,
    body: bytes,
    *,
    model_id: str,
    request: dict[str, Any],
    headers: Mapping[str, str] | None = None,
) -> tuple[dict[str, Any], Usage]:
    """``request`` is the OpenAI embeddings request: Gemini reports no token usage for
    embeddings, so input tokens are estimated from its text (ceil(chars / 4)), and its
    ``encoding_format: base64`` is applied here (float32 little-endian, like OpenAI)."""
    if not 200 <= status < 300:
        raise error_from(status, body, headers or {})
    answer = load_object(body)
    vectors = answer.get("embeddings") if "embeddings" in answer else [answer.get("embedding")]
    if not isinstance(vectors, list) or not all(
        isinstance(v, dict) and isinstance(v.get("values"), list) for v in vectors
    ):
        raise malformed("embeddings")
    as_base64 = request.get("encoding_format") == "base64"
    data = [
        {
            "object": "embedding",
            "index": index,
            "embedding": _base64_floats(v["values"]) if as_base64 else v["values"],
        }
        for index, v in enumerate(vectors)
    ]
    tokens = estimate_tokens(sum(len(text) for text in _embedding_texts(request)))
    usage = {"prompt_tokens": tokens, "total_tokens": tokens}
    response = {"object": "list", "data": data, "model": model_id, "usage": usage}
    return response, Usage(input_tokens=tokens)


def _embedding_texts(request: dict[str, Any]) -> list[str]:
    value = request.get("input")
    texts = [value] if isinstance(value, str) else value
    if not isinstance(texts, list) or not texts or not all(isinstance(t, str) for t in texts):
        raise BadRequest(
            "Gemini embeddings take a string or a list of strings (not token ids).", param="input"
        )
    return texts


def _base64_floats(values: list[float]) -> str:
    return base64.b64encode(struct.pack(f"<{len(values)}f", *values)).decode("ascii")


# --- images ------------------------------------------------------------------------------------


def build_images(request: dict[str, Any], **_: Any) -> UpstreamCall:
    raise BadRequest("Image generation with Gemini models is not supported yet.", param="model")


def parse_images(status: int, body: bytes, **_: Any) -> tuple[dict[str, Any], Usage]:
    raise BadRequest("Image generation with Gemini models is not supported yet.", param="model")


# --- videos (Veo long-running operations) ------------------------------------------------------


def build_video_create(
    request: VideoRequest, *, model: Model, provider: Provider, api_key: str
) -> UpstreamCall:
    instance: dict[str, Any] = {"prompt": request.prompt}
    if request.reference is not None:
        instance["image"] = {
            "bytesBase64Encoded": base64.b64encode(request.reference.data).decode("ascii"),
            "mimeType": request.reference.mime_type,
        }
    parameters = {
        "aspectRatio": request.aspect_ratio,
        "resolution": request.resolution,
        "durationSeconds": request.seconds,
        "sampleCount": 1,
    }
    url = f"{provider.base_url}/v1beta/models/{model.upstream_id}:predictLongRunning"
    body = {"instances": [instance], "parameters": parameters}
    return json_call(url, {"x-goog-api-key": api_key}, body, stream=False)


def parse_video_created(status: int, body: bytes) -> str:
    """The operation's name, models/<model>/operations/<id>."""
    name = _success(status, body).get("name")
    if not isinstance(name, str) or not _OPERATION.fullmatch(name):
        raise malformed("no operation name")
    return name


def build_video_status(operation: str, *, provider: Provider, api_key: str) -> UpstreamCall:
    url = f"{provider.base_url}/v1beta/{_checked_operation(operation)}"
    return UpstreamCall("GET", url, {"x-goog-api-key": api_key}, None, False)


def parse_video_status(status: int, body: bytes) -> VideoStatus:
    """A running operation (Gemini has no queued state), or its video, safety filter or error.
    Google's error and filter texts are dropped: they may quote the prompt."""
    operation = _success(status, body)
    done = operation.get("done", False)  # proto3 JSON leaves out a false done
    if not isinstance(done, bool):
        raise malformed("done is not a boolean")
    if not done:
        metadata = operation.get("metadata")
        percent = metadata.get("progressPercent") if isinstance(metadata, dict) else None
        return VideoStatus("in_progress", progress=video_progress(percent))
    if operation.get("error") is not None:
        return VideoStatus("failed", error_code="generation_failed", error_message=VIDEO_FAILED)
    return _finished(operation.get("response"))


def _finished(response: Any) -> VideoStatus:
    result = response.get("generateVideoResponse") if isinstance(response, dict) else None
    if not isinstance(result, dict):
        raise malformed("a finished operation without a video response")
    samples = result.get("generatedSamples")
    if samples:
        return VideoStatus("completed", progress=100, content_uri=_sample_uri(samples))
    count = result.get("raiMediaFilteredCount")
    if (isinstance(count, int) and count > 0) or result.get("raiMediaFilteredReasons"):
        return VideoStatus("failed", error_code="moderation_blocked", error_message=VIDEO_BLOCKED)
    raise malformed("a finished operation without a video")


def _sample_uri(samples: Any) -> str:
    first = samples[0] if isinstance(samples, list) else None
    video = first.get("video") if isinstance(first, dict) else None
    uri = video.get("uri") if isinstance(video, dict) else None
    if not isinstance(uri, str) or not uri:
        raise malformed("a generated sample without a video uri")
    return uri


def build_video_content(
    operation: str, status: VideoStatus, *, variant: str, provider: Provider, api_key: str
) -> UpstreamCall | None:
    """The finished file, fetched with the key: so only from the provider's own origin (a
    forged or hijacked answer must not make us send the key elsewhere). No thumbnails."""
    if variant != "video":
        return None
    uri = status.content_uri
    if not uri:
        raise malformed("no video uri")
    if not _same_origin(uri, provider.base_url):
        raise ProviderError(502, "the video uri is not on the provider's host", retryable=False)
    return UpstreamCall("GET", uri, {"x-goog-api-key": api_key}, None, True)


def build_video_cancel(operation: str, *, provider: Provider, api_key: str) -> UpstreamCall | None:
    """The Gemini API cannot cancel a Veo operation."""
    return None


def _checked_operation(operation: str) -> str:
    if not _OPERATION.fullmatch(operation):
        raise malformed("an operation name that is not models/<model>/operations/<id>")
    return operation


def _same_origin(uri: str, base_url: str) -> bool:
    """Scheme, host and port as the proxy's client reads them (urlsplit). A URL with userinfo
    is refused: WHATWG parsers and urlsplit disagree about the host of https://a\\@b/."""
    try:
        target, base = urlsplit(uri), urlsplit(base_url)
        return (
            target.username is None
            and target.scheme == base.scheme
            and target.hostname == base.hostname
            and _port(target.port, target.scheme) == _port(base.port, base.scheme)
        )
    except ValueError:  # a port that is not a number, a bad IPv6 address
        return False


def _port(port: int | None, scheme: str) -> int | None:
    return port if port is not None else _DEFAULT_PORTS.get(scheme)


def _success(status: int, body: bytes) -> dict[str, Any]:
    if not 200 <= status < 300:
        raise error_from(status, body, {})
    return load_object(body)
