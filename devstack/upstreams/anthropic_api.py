"""Anthropic Messages under ``/anthropic/v1/messages`` (and ``/v1/messages/count_tokens``).

Auth is ``x-api-key`` (or ``Authorization: Bearer <key>``, which the Anthropic SDK 2.x
sends for an API key); the ``anthropic-version`` header is required. Errors are
``{"type": "error", "error": {"type", "message"}, "request_id"}``. A stream is the real
event sequence (``event:`` and ``data:`` lines): ``message_start`` (usage with the input
tokens and ``output_tokens: 1``), ``content_block_start``, ``ping``, one
``content_block_delta`` per token (``text_delta``) or per slice of the tool input
(``input_json_delta``, the first one empty), ``content_block_stop``, ``message_delta`` with
the stop reason and the cumulative ``output_tokens``, ``message_stop``. Tool use follows
``common.choose_tool``; ``tool_choice`` ``{"type": "any"}`` or ``{"type": "tool"}`` forces
one, ``{"type": "none"}`` forbids it. The text is ``common.json_reply`` of the schema of
structured outputs (``output_config.format`` or the beta ``output_format``), or of a schema
the system prompt gives after "JSON schema: ", or an object when it asks for a "valid JSON
object" (the gateway's translation of a chat ``response_format``).
"""

from __future__ import annotations

import json
import re
from typing import Any

from devstack.upstreams import common
from devstack.upstreams.app import Exchange, Route, answer, dumps, new_id, prelude, stream
from devstack.upstreams.controls import ControlError, Controls, parse_controls, strip_markers

KIND = "anthropic"
_SCHEMA_MARKER = "JSON schema: "
_JSON_ASKED = "valid JSON object"
_STOP = {"stop": "end_turn", "length": "max_tokens", "tool": "tool_use"}
_FAULTS = {
    "500": (500, "api_error", "Internal server error"),
    "429": (
        429,
        "rate_limit_error",
        "This request would exceed the rate limit for your organization. Please retry later.",
    ),
    "overloaded": (529, "overloaded_error", "Overloaded"),
}


async def send_error(
    exchange: Exchange,
    status: int,
    type_: str,
    message: str,
    headers: list[tuple[str, str]] | None = None,
) -> None:
    request_id = new_id("req_")
    body = {"type": "error", "error": {"type": type_, "message": message}, "request_id": request_id}
    await exchange.send_json(status, body, [("request-id", request_id), *(headers or [])])


async def send_fault(exchange: Exchange, fault: str) -> None:
    status, type_, message = _FAULTS[fault]
    headers = [("retry-after", "1")] if status == 429 else []
    await send_error(exchange, status, type_, message, headers)


async def send_not_found(exchange: Exchange, what: str) -> None:
    if what == "method":
        await send_error(exchange, 405, "invalid_request_error", "Method not allowed")
    else:
        await send_error(exchange, 404, "not_found_error", "Not found")


async def _accepted(exchange: Exchange) -> dict[str, Any] | None:
    """The JSON body of an authorised, versioned request, or None once answered."""
    key = exchange.headers.get("x-api-key")
    scheme, _, token = exchange.headers.get("authorization", "").partition(" ")
    if not key and scheme.lower() == "bearer":
        key = token.strip()  # what the Anthropic SDK (2.x) sends for an API key
    if not key or key != exchange.app.api_keys.get(KIND):
        await send_error(exchange, 401, "authentication_error", "invalid x-api-key")
        return None
    if not exchange.headers.get("anthropic-version"):
        await send_error(
            exchange, 400, "invalid_request_error", "anthropic-version: header is required"
        )
        return None
    body = exchange.json_object()
    if body is None:
        await send_error(exchange, 400, "invalid_request_error", "Request body is not valid JSON")
        return None
    model, messages = body.get("model"), body.get("messages")
    if not isinstance(model, str) or not model:
        await send_error(exchange, 400, "invalid_request_error", "model: Field required")
        return None
    if not isinstance(messages, list) or not messages:
        await send_error(exchange, 400, "invalid_request_error", "messages: Field required")
        return None
    return body


def _block_text(block: Any) -> str:
    if isinstance(block, str):
        return block
    if not isinstance(block, dict):
        return ""
    kind = block.get("type")
    if kind == "text":
        return str(block.get("text", ""))
    if kind == "tool_use":
        return common.json_text(block.get("input", {}))
    if kind == "tool_result":
        return _content_text(block.get("content", ""))
    return ""


def _content_text(content: Any) -> str:
    if isinstance(content, list):
        return "\n".join(_block_text(block) for block in content)
    return _block_text(content)


def _prompt_tokens(body: dict[str, Any]) -> int:
    texts = [_content_text(body.get("system", ""))]
    texts += [_content_text(m.get("content")) for m in body["messages"] if isinstance(m, dict)]
    return common.count_tokens("\n".join(texts))


def _last_user(messages: list[Any]) -> tuple[str, bool]:
    """The last user message's text, and whether the conversation ends with a tool result."""
    for message in reversed(messages):
        if isinstance(message, dict) and message.get("role") == "user":
            content = message.get("content")
            blocks = content if isinstance(content, list) else []
            has_result = any(isinstance(b, dict) and b.get("type") == "tool_result" for b in blocks)
            return _content_text(content), has_result and message is messages[-1]
    return "", False


def _tools(body: dict[str, Any]) -> dict[str, Any]:
    return {
        tool["name"]: tool.get("input_schema") or {}
        for tool in body.get("tools") or []
        if isinstance(tool, dict) and isinstance(tool.get("name"), str)
    }


def _tool_choice(body: dict[str, Any]) -> tuple[str, str | None]:
    choice = body.get("tool_choice") or {}
    kind = choice.get("type") if isinstance(choice, dict) else None
    if kind == "none":
        return "none", None
    if kind == "any":
        return "required", None
    if kind == "tool" and isinstance(choice.get("name"), str):
        return "required", choice["name"]
    return "auto", None


def _reply(body: dict[str, Any], last_text: str) -> str | None:
    """The JSON text asked for by structured outputs, or by a system instruction (as a model
    would follow it: what the gateway sends for a chat ``response_format``); else None."""
    config = body.get("output_config")
    output_format = (config.get("format") if isinstance(config, dict) else None) or body.get(
        "output_format"
    )
    if isinstance(output_format, dict) and output_format.get("type") == "json_schema":
        return common.json_reply(output_format.get("schema"), last_text)
    system = _content_text(body.get("system", ""))
    marker = system.find(_SCHEMA_MARKER)
    if marker >= 0:
        try:
            schema, _ = json.JSONDecoder().raw_decode(system, marker + len(_SCHEMA_MARKER))
        except ValueError:
            schema = None
        return common.json_reply(schema, last_text)
    return common.json_reply(None, last_text) if _JSON_ASKED in system else None


def _usage(prompt: int, output: int, controls: Controls) -> dict[str, Any]:
    cached = min(controls.cached_tokens, prompt)
    written = min(controls.cache_write_tokens, prompt - cached)
    return {
        "input_tokens": prompt - cached - written,
        "cache_creation_input_tokens": written,
        "cache_read_input_tokens": cached,
        "output_tokens": output,
        "service_tier": "standard",
    }


async def messages(exchange: Exchange) -> None:
    body = await _accepted(exchange)
    if body is None:
        return
    max_tokens = body.get("max_tokens")
    if not isinstance(max_tokens, int) or isinstance(max_tokens, bool) or max_tokens < 1:
        await send_error(exchange, 400, "invalid_request_error", "max_tokens: Field required")
        return
    exchange.record_model(KIND, body["model"])
    last_text, ends_with_result = _last_user(body["messages"])
    try:
        controls = parse_controls(exchange.headers, last_text, model=exchange.model)
    except ControlError as err:
        await send_error(exchange, 400, "invalid_request_error", str(err))
        return
    if not await prelude(exchange, controls, send_fault):
        return

    mode, forced = _tool_choice(body)
    tool_call = common.choose_tool(
        _tools(body),
        mode=mode,
        forced=forced,
        last_user_text=last_text,
        ends_with_tool_result=ends_with_result,
    )
    reply = _reply(body, strip_markers(last_text))
    completion = common.complete(strip_markers(last_text), max_tokens, tool_call, reply)
    prompt = _prompt_tokens(body)
    output = completion.output_tokens + controls.reasoning_tokens
    stop_reason = _STOP[completion.finish]
    message_id = new_id("msg_")
    tool_id = new_id("toolu_")
    headers = [("request-id", new_id("req_"))]

    if not body.get("stream"):
        content: list[dict[str, Any]]
        if tool_call is None:
            content = [{"type": "text", "text": completion.text}]
        else:
            content = [
                {
                    "type": "tool_use",
                    "id": tool_id,
                    "name": tool_call.name,
                    "input": tool_call.arguments,
                }
            ]
        response = {
            "id": message_id,
            "type": "message",
            "role": "assistant",
            "model": body["model"],
            "content": content,
            "stop_reason": stop_reason,
            "stop_sequence": None,
            "usage": _usage(prompt, output, controls),
        }
        await answer(exchange, response, controls, headers)
        return

    start_message = {
        "id": message_id,
        "type": "message",
        "role": "assistant",
        "model": body["model"],
        "content": [],
        "stop_reason": None,
        "stop_sequence": None,
        "usage": _usage(prompt, 1, controls),
    }
    frames = [event("message_start", {"type": "message_start", "message": start_message})]
    if tool_call is None:
        block: dict[str, Any] = {"type": "text", "text": ""}
        deltas = [{"type": "text_delta", "text": piece} for piece in completion.pieces]
    else:
        block = {"type": "tool_use", "id": tool_id, "name": tool_call.name, "input": {}}
        parts = common.split_text(tool_call.arguments_json, 12)
        deltas = [{"type": "input_json_delta", "partial_json": p} for p in ["", *parts]]
    frames.append(
        event(
            "content_block_start",
            {"type": "content_block_start", "index": 0, "content_block": block},
        )
    )
    frames.append(event("ping", {"type": "ping"}))
    frames += [
        event("content_block_delta", {"type": "content_block_delta", "index": 0, "delta": d})
        for d in deltas
    ]
    frames.append(event("content_block_stop", {"type": "content_block_stop", "index": 0}))
    frames.append(
        event(
            "message_delta",
            {
                "type": "message_delta",
                "delta": {"stop_reason": stop_reason, "stop_sequence": None},
                "usage": {"output_tokens": output},
            },
        )
    )
    frames.append(event("message_stop", {"type": "message_stop"}))
    await stream(
        exchange,
        frames,
        controls,
        content_type="text/event-stream; charset=utf-8",
        tail=3,
        terminator=b"\n\n",
        headers=headers,
    )


def event(name: str, data: dict[str, Any]) -> bytes:
    return b"event: " + name.encode("ascii") + b"\ndata: " + dumps(data) + b"\n\n"


async def count_tokens(exchange: Exchange) -> None:
    body = await _accepted(exchange)
    if body is not None:
        await exchange.send_json(200, {"input_tokens": _prompt_tokens(body)})


ROUTES = [
    Route(KIND, "POST", re.compile(r"/anthropic/v1/messages"), messages),
    Route(KIND, "POST", re.compile(r"/anthropic/v1/messages/count_tokens"), count_tokens),
]
