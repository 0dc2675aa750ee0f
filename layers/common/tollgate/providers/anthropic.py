"""Anthropic Messages upstreams, translated from and to OpenAI Chat Completions.

Translation choices (see also the module functions):

- system and developer messages, wherever they are, become the top-level ``system`` blocks;
- consecutive messages of one role are merged (tool results become ``tool_result`` blocks of
  one user turn, as Anthropic requires); empty text is left out (Anthropic rejects it);
- ``response_format`` is best effort: Anthropic has no JSON mode, so a system instruction asks
  for JSON (and the schema, for ``json_schema``); the answer is not validated;
- ``temperature`` is capped at 1 (Anthropic's range is 0..1, OpenAI's 0..2); when both
  ``temperature`` and ``top_p`` are sent only ``temperature`` is kept, since recent Claude models
  refuse the pair;
- ``max_tokens`` is required by Anthropic: the model's ``max_output_tokens`` when not given;
- ``user``, ``metadata``, ``seed``, ``store``, ``service_tier`` are dropped; ``logprobs``,
  penalties, ``logit_bias``, ``n`` > 1 and ``reasoning_effort`` (thinking blocks cannot be
  carried back in OpenAI messages, which breaks tool loops) are refused;
- thinking blocks in answers are left out of the text (their tokens are in the output usage).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from tollgate.errors import BadRequest
from tollgate.providers.base import (
    ChatStream,
    ProviderError,
    UpstreamCall,
    Usage,
    assistant_message,
    compact_json,
    completion,
    error_message,
    json_call,
    load_json,
    load_object,
    malformed,
    max_output_tokens,
    parse_arguments,
    reject_fields,
    reject_semantic_extras,
    retry_after,
    single_choice,
    split_data_url,
    stop_sequences,
    text_of,
    tool_call,
)
from tollgate.sse import Event

if TYPE_CHECKING:
    from tollgate.catalog import Model, Provider

API_VERSION = "2023-06-01"
DEFAULT_MAX_TOKENS = 4096  # only for a model whose catalog entry has no max_output_tokens
PROVIDER = "Anthropic"

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
        "tools",
        "tool_choice",
        "parallel_tool_calls",
        "response_format",
        "user",
        "metadata",
        "seed",
        "store",
        "service_tier",
        "frequency_penalty",
        "presence_penalty",
        "logprobs",
        "top_logprobs",
        "logit_bias",
        "modalities",
        "reasoning_effort",
    }
)
_FINISH = {
    "end_turn": "stop",
    "stop_sequence": "stop",
    "pause_turn": "stop",
    "max_tokens": "length",
    "model_context_window_exceeded": "length",
    "tool_use": "tool_calls",
    "refusal": "content_filter",
}
_ERROR_STATUS = {
    "invalid_request_error": 400,
    "authentication_error": 401,
    "billing_error": 402,
    "permission_error": 403,
    "not_found_error": 404,
    "request_too_large": 413,
    "rate_limit_error": 429,
    "api_error": 500,
    "timeout_error": 504,
    "overloaded_error": 529,
}


# --- requests ----------------------------------------------------------------------------------


def build_chat(
    request: dict[str, Any], *, model: Model, provider: Provider, api_key: str, stream: bool
) -> UpstreamCall:
    body = _messages_request(request, model)
    if stream:
        body["stream"] = True
    headers = {"x-api-key": api_key, "anthropic-version": API_VERSION}
    return json_call(f"{provider.base_url}/v1/messages", headers, body, stream=stream)


_COUNTED_FIELDS = ("model", "messages", "system", "tools", "tool_choice")


def build_count_tokens(
    request: dict[str, Any], *, model: Model, provider: Provider, api_key: str
) -> UpstreamCall:
    """Anthropic's token count of a chat request: the Messages body ``build_chat`` would send,
    without what is not counted (max_tokens, sampling, streaming)."""
    body = _messages_request(request, model)
    counted = {name: body[name] for name in _COUNTED_FIELDS if name in body}
    headers = {"x-api-key": api_key, "anthropic-version": API_VERSION}
    url = f"{provider.base_url}/v1/messages/count_tokens"
    return json_call(url, headers, counted, stream=False)


def parse_count_tokens(body: bytes) -> int:
    """``{"input_tokens": N}``."""
    tokens = load_object(body).get("input_tokens")
    if isinstance(tokens, bool) or not isinstance(tokens, int) or tokens < 0:
        raise malformed("input_tokens is not a count")
    return tokens


def _messages_request(request: dict[str, Any], model: Model) -> dict[str, Any]:
    reject_fields(request, _SUPPORTED, PROVIDER)
    reject_semantic_extras(request, PROVIDER)
    single_choice(request, PROVIDER)
    _reject_unsupported_sampling(request)
    system, messages = _messages(request["messages"])
    system += _format_instruction(request.get("response_format"))
    max_tokens = max_output_tokens(request) or model.max_output_tokens or DEFAULT_MAX_TOKENS
    body: dict[str, Any] = {"model": model.upstream_id, "max_tokens": max_tokens}
    if system:
        body["system"] = system
    body["messages"] = messages
    if request.get("temperature") is not None:
        body["temperature"] = min(float(request["temperature"]), 1.0)
    elif request.get("top_p") is not None:
        body["top_p"] = request["top_p"]
    if request.get("top_k") is not None:
        body["top_k"] = request["top_k"]
    stops = [s for s in stop_sequences(request) or [] if s.strip()]
    if stops:
        body["stop_sequences"] = stops
    if request.get("tools"):
        body["tools"] = [_tool(tool, index) for index, tool in enumerate(request["tools"])]
        choice = _tool_choice(request.get("tool_choice"), request.get("parallel_tool_calls"))
        if choice is not None:
            body["tool_choice"] = choice
    return body


def _reject_unsupported_sampling(request: dict[str, Any]) -> None:
    for name in ("frequency_penalty", "presence_penalty"):
        if request.get(name):
            raise BadRequest(f"{name} is not supported for Anthropic models.", param=name)
    if request.get("reasoning_effort") not in (None, "none", "minimal"):
        raise BadRequest(
            "reasoning_effort is not supported for Anthropic models through this API.",
            param="reasoning_effort",
        )


def _messages(messages: list[dict[str, Any]]) -> tuple[list[dict], list[dict]]:
    system: list[dict[str, Any]] = []
    turns: list[dict[str, Any]] = []
    for index, message in enumerate(messages):
        param = f"messages[{index}]"
        role = message.get("role")
        if role in ("system", "developer"):
            system += _text_blocks(message.get("content"), f"{param}.content")
            continue
        if role == "user":
            blocks = _user_blocks(message.get("content"), f"{param}.content")
        elif role == "assistant":
            blocks = _assistant_blocks(message, param)
        elif role == "tool":
            blocks = [_tool_result(message, param)]
        else:
            raise BadRequest(f"Role {role!r} is not supported for Anthropic models.", param=param)
        anthropic_role = "assistant" if role == "assistant" else "user"
        if not blocks:
            continue
        if turns and turns[-1]["role"] == anthropic_role:
            turns[-1]["content"] += blocks
        else:
            turns.append({"role": anthropic_role, "content": blocks})
    return system, turns


def _text_blocks(content: Any, param: str) -> list[dict[str, Any]]:
    if isinstance(content, str):
        return [{"type": "text", "text": content}] if content else []
    text_of(content, param)  # only text parts
    return [_text_block(part) for part in content or [] if part.get("text")]


def _text_block(part: dict[str, Any]) -> dict[str, Any]:
    block = {"type": "text", "text": part["text"]}
    if part.get("cache_control"):  # an extension some clients send; Anthropic honours it
        block["cache_control"] = part["cache_control"]
    return block


def _user_blocks(content: Any, param: str) -> list[dict[str, Any]]:
    if content is None or isinstance(content, str):
        return _text_blocks(content, param)
    blocks = []
    for index, part in enumerate(content):
        kind = part.get("type")
        if kind == "text":
            if part.get("text"):
                blocks.append(_text_block(part))
        elif kind == "image_url":
            blocks.append(_image_block(part["image_url"]["url"], f"{param}[{index}].image_url"))
        else:
            raise BadRequest(
                f"Content parts of type {kind!r} are not supported for Anthropic models.",
                param=f"{param}[{index}].type",
            )
    return blocks


def _image_block(url: str, param: str) -> dict[str, Any]:
    if url.startswith("data:"):
        media_type, data = split_data_url(url, param)
        return {
            "type": "image",
            "source": {"type": "base64", "media_type": media_type, "data": data},
        }
    return {"type": "image", "source": {"type": "url", "url": url}}


def _assistant_blocks(message: dict[str, Any], param: str) -> list[dict[str, Any]]:
    content = message.get("content")
    if isinstance(content, list):  # text and refusal parts
        texts = [p.get("text") or p.get("refusal") or "" for p in content]
        content = "".join(texts)
    blocks = _text_blocks(content, f"{param}.content")
    for index, call in enumerate(message.get("tool_calls") or []):
        call_param = f"{param}.tool_calls[{index}]"
        if call.get("type", "function") != "function":
            raise BadRequest("Only function tool calls are supported.", param=f"{call_param}.type")
        function = call["function"]
        arguments = parse_arguments(function.get("arguments"), f"{call_param}.function.arguments")
        blocks.append(
            {"type": "tool_use", "id": call["id"], "name": function["name"], "input": arguments}
        )
    return blocks


def _tool_result(message: dict[str, Any], param: str) -> dict[str, Any]:
    block: dict[str, Any] = {"type": "tool_result", "tool_use_id": message["tool_call_id"]}
    text = text_of(message.get("content"), f"{param}.content")
    if text:
        block["content"] = text
    return block


def _tool(tool: dict[str, Any], index: int) -> dict[str, Any]:
    if tool.get("type") != "function":
        raise BadRequest(
            "Only function tools are supported for Anthropic models.", param=f"tools[{index}].type"
        )
    function = tool["function"]
    result = {
        "name": function["name"],
        "input_schema": function.get("parameters") or {"type": "object", "properties": {}},
    }
    if function.get("description"):
        result["description"] = function["description"]
    return result


def _tool_choice(choice: Any, parallel: bool | None) -> dict[str, Any] | None:
    if choice is None:
        result: dict[str, Any] | None = None if parallel is not False else {"type": "auto"}
    elif choice == "auto":
        result = {"type": "auto"}
    elif choice == "none":
        return {"type": "none"}
    elif choice == "required":
        result = {"type": "any"}
    elif isinstance(choice, dict) and choice.get("type") == "function":
        result = {"type": "tool", "name": choice["function"]["name"]}
    else:
        raise BadRequest("Unsupported tool_choice for Anthropic models.", param="tool_choice")
    if result is not None and parallel is False:
        result["disable_parallel_tool_use"] = True
    return result


def _format_instruction(response_format: Any) -> list[dict[str, Any]]:
    kind = (response_format or {}).get("type", "text")
    if kind == "text":
        return []
    if kind == "json_object":
        text = "Respond with a single valid JSON object and nothing else."
    elif kind == "json_schema":
        schema = response_format.get("json_schema") or {}
        text = (
            "Respond with a single valid JSON object and nothing else. It must conform to "
            f"this JSON schema: {compact_json(schema.get('schema') or {})}"
        )
    else:
        raise BadRequest(
            f"response_format {kind!r} is not supported for Anthropic models.",
            param="response_format",
        )
    return [{"type": "text", "text": text}]


# --- answers -----------------------------------------------------------------------------------


def parse_chat(
    status: int, body: bytes, *, model_id: str, headers: Mapping[str, str] | None = None
) -> tuple[dict[str, Any], Usage]:
    if not 200 <= status < 300:
        raise error_from(status, body, headers or {})
    message = load_object(body)
    blocks = message.get("content")
    if not isinstance(blocks, list):
        raise malformed("no content")
    text = "".join(b.get("text", "") for b in blocks if b.get("type") == "text")
    calls = [
        tool_call(b["id"], b["name"], compact_json(b.get("input") or {}))
        for b in blocks
        if b.get("type") == "tool_use"
    ]
    usage = usage_from(message.get("usage"))
    response = completion(
        response_id=str(message.get("id") or ""),
        model_id=model_id,
        message=assistant_message(text, calls),
        finish_reason=finish_reason(message.get("stop_reason")),
        usage=usage,
    )
    return response, usage


def finish_reason(stop_reason: Any) -> str:
    return _FINISH.get(stop_reason, "stop")


def usage_from(raw: Any) -> Usage:
    """Anthropic's ``input_tokens`` leaves out cache reads and writes; Usage counts them in."""
    raw = raw if isinstance(raw, dict) else {}
    cached = int(raw.get("cache_read_input_tokens") or 0)
    written = int(raw.get("cache_creation_input_tokens") or 0)
    return Usage(
        input_tokens=int(raw.get("input_tokens") or 0) + cached + written,
        output_tokens=int(raw.get("output_tokens") or 0),
        cached_tokens=cached,
        cache_write_tokens=written,
    )


def error_from(status: int, body: bytes, headers: Mapping[str, str]) -> ProviderError:
    """``{"type": "error", "error": {"type", "message"}}``."""
    message, error_type = error_message(status), None
    try:
        parsed = load_json(body)
    except ProviderError:
        parsed = None
    error = parsed.get("error") if isinstance(parsed, dict) else None
    if isinstance(error, dict):
        message = str(error.get("message") or message)
        error_type = error.get("type") if isinstance(error.get("type"), str) else None
    return ProviderError(status, message, retry_after=retry_after(headers), error_type=error_type)


def chat_stream(*, model_id: str) -> AnthropicChatStream:
    return AnthropicChatStream(model_id=model_id)


class AnthropicChatStream(ChatStream):
    """Messages stream events to chunks. Usage is cumulative: ``message_start`` carries the
    input side, ``message_delta`` the output total; ``usage`` is set at ``message_delta``."""

    def __init__(self, *, model_id: str) -> None:
        super().__init__(model_id=model_id)
        self._usage: dict[str, Any] = {}
        self._tools: dict[int, int] = {}  # content block index -> tool call index

    def _on_event(self, event: Event) -> list[dict[str, Any]]:
        payload = self._payload(event)
        kind = payload.get("type")
        handler = getattr(self, f"_on_{kind}", None) if isinstance(kind, str) else None
        return handler(payload) if handler is not None else []  # ping, and future events

    def _on_message_start(self, payload: dict[str, Any]) -> list[dict[str, Any]]:
        message = payload.get("message")
        if not isinstance(message, dict):
            raise malformed("message_start without a message")
        self._usage.update(message.get("usage") or {})
        return [self._chunk({"role": "assistant", "content": ""})]

    def _on_content_block_start(self, payload: dict[str, Any]) -> list[dict[str, Any]]:
        block = payload.get("content_block") or {}
        if block.get("type") == "tool_use":
            tool_index = len(self._tools)
            self._tools[payload.get("index", 0)] = tool_index
            return [self._tool_start_chunk(tool_index, block["id"], block["name"])]
        if block.get("type") == "text" and block.get("text"):
            return [self._text_chunk(block["text"])]
        return []

    def _on_content_block_delta(self, payload: dict[str, Any]) -> list[dict[str, Any]]:
        delta = payload.get("delta")
        if not isinstance(delta, dict):
            raise malformed("content_block_delta without a delta")
        kind = delta.get("type")
        if kind == "text_delta":
            return [self._text_chunk(delta.get("text", ""))]
        if kind == "input_json_delta" and delta.get("partial_json"):
            tool_index = self._tools.get(payload.get("index", 0))
            if tool_index is None:
                raise malformed("tool input for a block that is not a tool call")
            return [self._arguments_chunk(tool_index, delta["partial_json"])]
        if kind == "thinking_delta":  # not shown, but billed: count it for estimates
            self.output_chars += len(delta.get("thinking", ""))
        return []

    def _on_message_delta(self, payload: dict[str, Any]) -> list[dict[str, Any]]:
        self._usage.update({k: v for k, v in (payload.get("usage") or {}).items() if v is not None})
        self.usage = usage_from(self._usage)
        stop_reason = (payload.get("delta") or {}).get("stop_reason")
        if stop_reason is None:
            return []
        self.finish_reason = finish_reason(stop_reason)
        return [self._chunk({}, self.finish_reason)]

    def _on_message_stop(self, payload: dict[str, Any]) -> list[dict[str, Any]]:
        self.completed = True
        return []

    def _on_error(self, payload: dict[str, Any]) -> list[dict[str, Any]]:
        error = payload.get("error") or {}
        status = _ERROR_STATUS.get(str(error.get("type")), 502)
        raise ProviderError(status, str(error.get("message") or "upstream stream error"))


# --- not offered by Anthropic ------------------------------------------------------------------


def build_embeddings(request: dict[str, Any], **_: Any) -> UpstreamCall:
    raise BadRequest("Anthropic models have no embeddings endpoint.", param="model")


def parse_embeddings(status: int, body: bytes, **_: Any) -> tuple[dict[str, Any], Usage]:
    raise BadRequest("Anthropic models have no embeddings endpoint.", param="model")


def build_images(request: dict[str, Any], **_: Any) -> UpstreamCall:
    raise BadRequest("Anthropic models cannot generate images.", param="model")


def parse_images(status: int, body: bytes, **_: Any) -> tuple[dict[str, Any], Usage]:
    raise BadRequest("Anthropic models cannot generate images.", param="model")
