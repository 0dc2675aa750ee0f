"""Anthropic Messages ⇄ the proxy's internal OpenAI chat format, both ways, streaming included.

Clients may call ``POST /v1/messages`` in Anthropic's format while the proxy runs every request
in the OpenAI Chat Completions shape. ``to_chat_request`` turns a Messages request into a chat
request, ``from_chat_completion`` turns a ``chat.completion`` into a ``message``, and
``MessagesStreamEncoder`` turns ``chat.completion.chunk`` dicts into Messages server-sent events.

Unknown request fields are ignored, because Anthropic adds fields often and most are hints the
answer stays valid without: ``top_k``, ``thinking`` (the answer simply has no thinking blocks),
``cache_control``, ``service_tier``, ``speed``, ``inference_geo``, ``context_management``,
``output_config.effort``. Fields that ask for something the chat format cannot carry are refused
rather than silently dropped, so a client never gets an answer that ignored its request:
``container`` and ``mcp_servers``, Anthropic-defined tools (web search, code execution, bash...)
and content blocks other than text, image, tool_use, tool_result and thinking.

Text is joined into one string for system and assistant turns (every OpenAI-compatible server
accepts a string there); user turns keep their parts. Tool-use ids pass through unchanged both
ways, so a ``tool_result`` the client sends back matches the upstream's tool call id.
"""

from __future__ import annotations

import json
import os
import re
from typing import Any

from tollgate.sse import encode
from tollgate.wire.fields import expect_list as _list
from tollgate.wire.fields import expect_number as _number
from tollgate.wire.fields import expect_string as _string
from tollgate.wire.fields import fail as _fail

_REFUSED_FIELDS = ("container", "mcp_servers")
_DROPPED_BLOCKS = ("thinking", "redacted_thinking")
_USER_BLOCKS = ("text", "image", "tool_result")
_ASSISTANT_BLOCKS = ("text", "tool_use", *_DROPPED_BLOCKS)
_TOOL_RESULT_BLOCKS = ("text", "image")
_TOOL_CHOICES = {"auto": "auto", "any": "required", "none": "none"}
_STOP_REASONS = {
    "length": "max_tokens",
    "tool_calls": "tool_use",
    "function_call": "tool_use",
    "content_filter": "refusal",
}
_ID_UNSAFE = re.compile(r"[^A-Za-z0-9_-]")


# --- request: Anthropic Messages -> OpenAI chat ---------------------------------------------


def to_chat_request(body: dict[str, Any]) -> dict[str, Any]:
    """Validate a Messages request and return the equivalent OpenAI chat request."""
    body = _object(body, None)
    _refuse_unsupported_fields(body)
    request: dict[str, Any] = {
        "model": _model(body.get("model")),
        "messages": _system_messages(body.get("system")) + _chat_messages(body.get("messages")),
        "max_tokens": _max_tokens(body.get("max_tokens")),
    }
    request.update(_sampling(body))
    request.update(_tooling(body.get("tools"), body.get("tool_choice")))
    request.update(_stream(body.get("stream")))
    request.update(_user(body.get("metadata")))
    request.update(_response_format(body))
    return request


def _refuse_unsupported_fields(body: dict[str, Any]) -> None:
    for name in _REFUSED_FIELDS:
        if body.get(name) is not None:
            _fail(
                f"'{name}' is not supported: Tollgate may route this request to any provider.",
                name,
            )


def _model(value: Any) -> str:
    model = _string(value, "model")
    if not model.strip():
        _fail("'model' must not be empty.", "model")
    return model


def _max_tokens(value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        _fail("'max_tokens' is required and must be a positive integer.", "max_tokens")
    return value


def _system_messages(system: Any) -> list[dict[str, Any]]:
    if system is None:
        return []
    if isinstance(system, str):
        return [{"role": "system", "content": system}] if system else []
    blocks = _list(system, "system", "a string or a list of text blocks")
    texts = [_text(block, f"system.{index}") for index, block in enumerate(blocks)]
    return [{"role": "system", "content": "\n\n".join(texts)}] if texts else []


def _chat_messages(value: Any) -> list[dict[str, Any]]:
    messages = _list(value, "messages", "a non-empty list of messages")
    if not messages:
        _fail("'messages' must contain at least one message.", "messages")
    chat: list[dict[str, Any]] = []
    for index, message in enumerate(messages):
        chat.extend(_turn(message, f"messages.{index}"))
    return chat


def _turn(value: Any, param: str) -> list[dict[str, Any]]:
    message = _object(value, param)
    role = message.get("role")
    if role not in ("user", "assistant"):
        hint = " Put the system prompt in the top-level 'system' field." if role == "system" else ""
        _fail(f"'{param}.role' must be 'user' or 'assistant'.{hint}", f"{param}.role")
    blocks = _blocks(message.get("content"), f"{param}.content")
    if role == "user":
        return _user_turn(blocks, f"{param}.content")
    return [_assistant_turn(blocks, f"{param}.content")]


def _blocks(content: Any, param: str) -> list[Any]:
    if isinstance(content, str):
        return [{"type": "text", "text": content}]
    return _list(content, param, "a string or a list of content blocks")


def _user_turn(blocks: list[Any], param: str) -> list[dict[str, Any]]:
    # OpenAI wants tool answers as separate messages right after the assistant's calls, and only
    # text in them: images a tool returned move to the user message that follows.
    tool_messages: list[dict[str, Any]] = []
    parts: list[dict[str, Any]] = []
    for index, block in enumerate(blocks):
        path = f"{param}.{index}"
        kind = _block_type(block, path, _USER_BLOCKS)
        if kind == "tool_result":
            tool_message, images = _tool_result(block, path)
            tool_messages.append(tool_message)
            parts.extend(images)
        elif kind == "text":
            parts.append({"type": "text", "text": _text(block, path)})
        elif kind == "image":
            parts.append(_image_part(block, path))
    if tool_messages and not parts:
        return tool_messages
    return [*tool_messages, {"role": "user", "content": _user_content(parts)}]


def _user_content(parts: list[dict[str, Any]]) -> str | list[dict[str, Any]]:
    if not parts:
        return ""
    if len(parts) == 1 and parts[0]["type"] == "text":
        return parts[0]["text"]
    return parts


def _assistant_turn(blocks: list[Any], param: str) -> dict[str, Any]:
    texts: list[str] = []
    tool_calls: list[dict[str, Any]] = []
    for index, block in enumerate(blocks):
        path = f"{param}.{index}"
        kind = _block_type(block, path, _ASSISTANT_BLOCKS)
        if kind == "text":
            texts.append(_text(block, path))
        elif kind == "tool_use":
            tool_calls.append(_tool_call(block, path))
    message: dict[str, Any] = {"role": "assistant", "content": "\n\n".join(texts)}
    if tool_calls:
        message["content"] = message["content"] or None
        message["tool_calls"] = tool_calls
    return message


def _tool_call(block: dict[str, Any], path: str) -> dict[str, Any]:
    arguments = _object(block.get("input"), f"{path}.input")
    return {
        "id": _string(block.get("id"), f"{path}.id"),
        "type": "function",
        "function": {
            "name": _string(block.get("name"), f"{path}.name"),
            "arguments": json.dumps(arguments, ensure_ascii=False),
        },
    }


def _tool_result(block: dict[str, Any], path: str) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    tool_use_id = _string(block.get("tool_use_id"), f"{path}.tool_use_id")
    texts, images = _tool_result_content(block.get("content"), f"{path}.content")
    text = "\n".join(texts)
    if block.get("is_error") is True:
        text = f"Error: {text}" if text else "Error"
    return {"role": "tool", "tool_call_id": tool_use_id, "content": text}, images


def _tool_result_content(content: Any, param: str) -> tuple[list[str], list[dict[str, Any]]]:
    if content is None:
        return [], []
    if isinstance(content, str):
        return [content], []
    texts: list[str] = []
    images: list[dict[str, Any]] = []
    for index, block in enumerate(_list(content, param, "a string or a list of content blocks")):
        path = f"{param}.{index}"
        if _block_type(block, path, _TOOL_RESULT_BLOCKS) == "text":
            texts.append(_text(block, path))
        else:
            images.append(_image_part(block, path))
    return texts, images


def _image_part(block: dict[str, Any], path: str) -> dict[str, Any]:
    source = _object(block.get("source"), f"{path}.source")
    kind = source.get("type")
    if kind == "base64":
        media_type = _string(source.get("media_type"), f"{path}.source.media_type")
        data = _string(source.get("data"), f"{path}.source.data")
        url = f"data:{media_type};base64,{data}"
    elif kind == "url":
        url = _string(source.get("url"), f"{path}.source.url")
    else:
        _fail(f"'{path}.source.type' must be 'base64' or 'url'.", f"{path}.source.type")
    return {"type": "image_url", "image_url": {"url": url}}


def _block_type(block: Any, path: str, allowed: tuple[str, ...]) -> str:
    kind = _object(block, path).get("type")
    if kind not in allowed:
        shown = kind if isinstance(kind, str) else repr(kind)
        _fail(
            f"'{path}.type' is '{shown}', which is not supported here; "
            f"use one of: {', '.join(allowed)}.",
            f"{path}.type",
        )
    return kind


def _text(block: Any, path: str) -> str:
    _block_type(block, path, ("text",))
    return _string(block.get("text"), f"{path}.text")


def _sampling(body: dict[str, Any]) -> dict[str, Any]:
    fields: dict[str, Any] = {}
    for name in ("temperature", "top_p"):
        if body.get(name) is not None:
            fields[name] = _number(body[name], name)
    stop = body.get("stop_sequences")
    if stop is not None:
        sequences = _list(stop, "stop_sequences", "a list of strings")
        strings = [_string(s, f"stop_sequences.{i}") for i, s in enumerate(sequences)]
        if strings:
            fields["stop"] = strings
    return fields


def _tooling(tools: Any, tool_choice: Any) -> dict[str, Any]:
    functions = _function_tools(tools)
    choice = None if tool_choice is None else _tool_choice(tool_choice)
    if not functions:
        if choice and choice.get("tool_choice") not in ("auto", "none"):
            _fail("'tool_choice' asks for a tool but 'tools' is empty.", "tool_choice")
        return {}
    return {"tools": functions, **(choice or {})}


def _function_tools(tools: Any) -> list[dict[str, Any]]:
    if tools is None:
        return []
    return [
        _function_tool(tool, f"tools.{index}")
        for index, tool in enumerate(_list(tools, "tools", "a list of tools"))
    ]


def _function_tool(value: Any, param: str) -> dict[str, Any]:
    tool = _object(value, param)
    kind = tool.get("type")
    if kind not in (None, "custom"):
        _fail(
            f"'{param}.type' is '{kind}', an Anthropic-defined tool other providers cannot run; "
            "declare it as a custom tool with 'name', 'description' and 'input_schema'.",
            f"{param}.type",
        )
    function: dict[str, Any] = {"name": _string(tool.get("name"), f"{param}.name")}
    if tool.get("description") is not None:
        function["description"] = _string(tool["description"], f"{param}.description")
    function["parameters"] = _object(tool.get("input_schema"), f"{param}.input_schema")
    if isinstance(tool.get("strict"), bool):
        function["strict"] = tool["strict"]
    return {"type": "function", "function": function}


def _tool_choice(value: Any) -> dict[str, Any]:
    choice = _object(value, "tool_choice")
    kind = choice.get("type")
    if kind == "tool":
        name = _string(choice.get("name"), "tool_choice.name")
        fields: dict[str, Any] = {"tool_choice": {"type": "function", "function": {"name": name}}}
    elif kind in _TOOL_CHOICES:
        fields = {"tool_choice": _TOOL_CHOICES[kind]}
    else:
        _fail("'tool_choice.type' must be one of: auto, any, tool, none.", "tool_choice.type")
    if choice.get("disable_parallel_tool_use") is True and kind != "none":
        fields["parallel_tool_calls"] = False
    return fields


def _stream(value: Any) -> dict[str, Any]:
    if value is None:
        return {}
    if not isinstance(value, bool):
        _fail("'stream' must be a boolean.", "stream")
    # A Messages stream always ends with usage, so the upstream must be asked for it.
    return (
        {"stream": True, "stream_options": {"include_usage": True}} if value else {"stream": False}
    )


def _user(metadata: Any) -> dict[str, Any]:
    if metadata is None:
        return {}
    user_id = _object(metadata, "metadata").get("user_id")
    if user_id is None:
        return {}
    return {"user": _string(user_id, "metadata.user_id")}


def _response_format(body: dict[str, Any]) -> dict[str, Any]:
    # Structured outputs: ``output_config.format`` (GA) or the older beta ``output_format``.
    config = body.get("output_config")
    if config is not None and _object(config, "output_config").get("format"):
        return {"response_format": _json_schema_format(config["format"], "output_config.format")}
    if body.get("output_format") is not None:
        return {"response_format": _json_schema_format(body["output_format"], "output_format")}
    return {}


def _json_schema_format(value: Any, param: str) -> dict[str, Any]:
    output_format = _object(value, param)
    if output_format.get("type") != "json_schema":
        _fail(f"'{param}.type' must be 'json_schema'.", f"{param}.type")
    schema = _object(output_format.get("schema"), f"{param}.schema")
    return {"type": "json_schema", "json_schema": {"name": "output", "schema": schema}}


def _object(value: Any, param: str | None) -> dict[str, Any]:
    if not isinstance(value, dict):
        what = f"'{param}'" if param else "The request body"
        _fail(f"{what} must be a JSON object.", param)
    return value


# --- response: OpenAI chat.completion -> Anthropic message ----------------------------------


def from_chat_completion(completion: dict[str, Any], *, model: str) -> dict[str, Any]:
    """An OpenAI ``chat.completion`` as an Anthropic ``message`` naming the model asked for."""
    choices = completion.get("choices") or [{}]
    choice = choices[0]
    message = choice.get("message") or {}
    tool_uses = [_tool_use_block(call) for call in message.get("tool_calls") or []]
    content = _text_blocks(message) + tool_uses
    stop_sequence = _matched_stop_sequence(choice)
    stop_reason = _stop_reason(choice.get("finish_reason"), stop_sequence, bool(tool_uses))
    return {
        "id": _message_id(completion.get("id")),
        "type": "message",
        "role": "assistant",
        "model": model,
        "content": content,
        "stop_reason": stop_reason,
        "stop_sequence": stop_sequence if stop_reason == "stop_sequence" else None,
        "usage": _anthropic_usage(completion.get("usage")),
    }


def _text_blocks(message: dict[str, Any]) -> list[dict[str, Any]]:
    content = message.get("content")
    if isinstance(content, list):
        content = "".join(part.get("text") or "" for part in content if isinstance(part, dict))
    text = content or message.get("refusal") or ""
    return [{"type": "text", "text": text}] if text else []


def _tool_use_block(call: dict[str, Any]) -> dict[str, Any]:
    function = call.get("function") or {}
    return {
        "type": "tool_use",
        "id": call.get("id") or _new_tool_use_id(),
        "name": function.get("name") or "",
        "input": _tool_input(function.get("arguments")),
    }


def _tool_input(arguments: Any) -> dict[str, Any]:
    # Models sometimes emit broken JSON; the answer is still worth returning.
    try:
        parsed = json.loads(arguments) if isinstance(arguments, str) and arguments else {}
    except ValueError:
        return {}
    return parsed if isinstance(parsed, dict) else {}


def _matched_stop_sequence(choice: dict[str, Any]) -> str | None:
    # OpenAI does not say which stop sequence matched; vLLM puts it in ``stop_reason`` and
    # Tollgate's adapters may set ``stop_sequence`` on the choice.
    for key in ("stop_sequence", "stop_reason"):
        if isinstance(choice.get(key), str) and choice[key]:
            return choice[key]
    return None


def _stop_reason(finish_reason: Any, stop_sequence: str | None, has_tool_use: bool) -> str:
    if finish_reason in _STOP_REASONS:
        return _STOP_REASONS[finish_reason]
    if finish_reason == "stop" and stop_sequence:
        return "stop_sequence"
    # Some providers finish tool calls with "stop"; Anthropic clients loop on "tool_use".
    return "tool_use" if has_tool_use else "end_turn"


def _anthropic_usage(usage: dict[str, Any] | None) -> dict[str, Any]:
    usage = usage or {}
    cached = int((usage.get("prompt_tokens_details") or {}).get("cached_tokens") or 0)
    anthropic = {
        "input_tokens": max(int(usage.get("prompt_tokens") or 0) - cached, 0),
        "output_tokens": int(usage.get("completion_tokens") or 0),
        "cache_read_input_tokens": cached,
        "cache_creation_input_tokens": 0,
    }
    if usage.get("cost") is not None:
        anthropic["cost"] = usage["cost"]
    return anthropic


def _message_id(completion_id: Any) -> str:
    core = completion_id.removeprefix("chatcmpl-") if isinstance(completion_id, str) else ""
    return "msg_" + (_ID_UNSAFE.sub("", core) or os.urandom(12).hex())


def _new_tool_use_id() -> str:
    return "toolu_" + os.urandom(12).hex()


# --- streaming: OpenAI chat.completion.chunk -> Anthropic Messages events --------------------


class MessagesStreamEncoder:
    """Turns OpenAI chunks, fed in order, into the Anthropic Messages event stream.

    Text and each tool call become content blocks numbered in order; a block is closed before
    the next opens (argument pieces that arrive late for an earlier tool call still name that
    call's block, which is how the SDKs accumulate them). The last finish reason and usage seen
    in the chunks are remembered, so ``finish`` works with or without them being passed again.
    """

    def __init__(self, model: str) -> None:
        self._model = model
        self._started = False
        self._ended = False
        self._open_index: int | None = None
        self._open_is_text = False
        self._block_count = 0
        self._tool_blocks: dict[int, int] = {}
        self._finish_reason: str | None = None
        self._stop_sequence: str | None = None
        self._usage: dict[str, Any] | None = None

    def encode(self, chunk: dict[str, Any]) -> bytes:
        if self._ended:
            return b""
        events = [] if self._started else [self._message_start(chunk)]
        if chunk.get("usage"):
            self._usage = chunk["usage"]
        for choice in chunk.get("choices") or []:
            if choice.get("index", 0) == 0:
                events.append(self._choice(choice))
        return b"".join(events)

    def finish(
        self, usage: dict[str, Any] | None = None, finish_reason: str | None = None
    ) -> bytes:
        if self._ended:
            return b""
        events = [] if self._started else [self._message_start({})]
        events.append(self._close_block())
        self._ended = True
        usage = usage or self._usage
        stop_reason = _stop_reason(
            finish_reason or self._finish_reason, self._stop_sequence, bool(self._tool_blocks)
        )
        stop_sequence = self._stop_sequence if stop_reason == "stop_sequence" else None
        delta = {
            "type": "message_delta",
            "delta": {"stop_reason": stop_reason, "stop_sequence": stop_sequence},
            "usage": _delta_usage(usage),
        }
        events.append(encode(delta, "message_delta"))
        events.append(encode({"type": "message_stop"}, "message_stop"))
        return b"".join(events)

    def usage_before_error(self, usage: dict[str, Any]) -> bytes:
        """The usage (and cost) of a stream that broke: the open block closed, then a
        ``message_delta`` without a stop reason; ``error`` follows it and ends the stream."""
        if self._ended:
            return b""
        events = [] if self._started else [self._message_start({})]
        events.append(self._close_block())
        delta = {
            "type": "message_delta",
            "delta": {"stop_reason": None, "stop_sequence": None},
            "usage": _delta_usage(usage),
        }
        events.append(encode(delta, "message_delta"))
        return b"".join(events)

    def error(self, body: dict[str, Any]) -> bytes:
        """An ``error`` event for an upstream failure after the stream began; it ends the stream."""
        self._ended = True
        if body.get("type") != "error":
            body = {"type": "error", "error": body.get("error", body)}
        return encode(body, "error")

    def _message_start(self, chunk: dict[str, Any]) -> bytes:
        self._started = True
        message: dict[str, Any] = {
            "id": _message_id(chunk.get("id")),
            "type": "message",
            "role": "assistant",
            "model": self._model,
            "content": [],
            "stop_reason": None,
            "stop_sequence": None,
            "usage": _anthropic_usage(chunk.get("usage")),
        }
        start = encode({"type": "message_start", "message": message}, "message_start")
        return start + encode({"type": "ping"}, "ping")

    def _choice(self, choice: dict[str, Any]) -> bytes:
        delta = choice.get("delta") or {}
        events = []
        text = delta.get("content") or delta.get("refusal")
        if isinstance(text, str) and text:
            events.append(self._text_delta(text))
        for call in delta.get("tool_calls") or []:
            events.append(self._tool_call_delta(call))
        if choice.get("finish_reason"):
            self._finish_reason = choice["finish_reason"]
            self._stop_sequence = _matched_stop_sequence(choice)
        return b"".join(events)

    def _text_delta(self, text: str) -> bytes:
        events = []
        if not self._open_is_text:
            events.append(self._close_block())
            events.append(self._open_block({"type": "text", "text": ""}, is_text=True))
        events.append(self._block_delta(self._open_index, {"type": "text_delta", "text": text}))
        return b"".join(events)

    def _tool_call_delta(self, call: dict[str, Any]) -> bytes:
        position = call.get("index", 0)
        function = call.get("function") or {}
        events = []
        if position not in self._tool_blocks:
            events.append(self._close_block())
            block: dict[str, Any] = {
                "type": "tool_use",
                "id": call.get("id") or _new_tool_use_id(),
                "name": function.get("name") or "",
                "input": {},
            }
            events.append(self._open_block(block, is_text=False))
            self._tool_blocks[position] = self._block_count - 1
        arguments = function.get("arguments")
        if arguments:
            partial = {"type": "input_json_delta", "partial_json": arguments}
            events.append(self._block_delta(self._tool_blocks[position], partial))
        return b"".join(events)

    def _open_block(self, block: dict[str, Any], *, is_text: bool) -> bytes:
        index = self._block_count
        self._block_count += 1
        self._open_index, self._open_is_text = index, is_text
        event = {"type": "content_block_start", "index": index, "content_block": block}
        return encode(event, "content_block_start")

    def _block_delta(self, index: int | None, delta: dict[str, Any]) -> bytes:
        event = {"type": "content_block_delta", "index": index, "delta": delta}
        return encode(event, "content_block_delta")

    def _close_block(self) -> bytes:
        if self._open_index is None:
            return b""
        event = {"type": "content_block_stop", "index": self._open_index}
        self._open_index, self._open_is_text = None, False
        return encode(event, "content_block_stop")


def _delta_usage(usage: dict[str, Any] | None) -> dict[str, Any]:
    if not usage:
        return {"output_tokens": 0}
    anthropic = _anthropic_usage(usage)
    del anthropic["cache_creation_input_tokens"]
    return anthropic
