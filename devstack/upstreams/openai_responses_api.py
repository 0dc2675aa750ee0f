"""OpenAI's Responses API under ``/openai/v1/responses`` (and, without a key,
``/openai_compatible/v1/responses``), stateless like a request with ``store: false``.

The answer follows the chat mock's rules (``common``): the reply is picked by the last user
message's text, a function tool is called as ``common.choose_tool`` decides (a
``function_call`` item; ``tool_choice`` "required" or ``{"type": "function", "name"}``
forces one, "none" forbids it, a conversation ending with a ``function_call_output``
gets words), ``text.format`` ``json_schema`` or ``json_object`` makes the text
``common.json_reply``, and ``max_output_tokens`` cuts it (status ``incomplete``, reason
``max_output_tokens``). Streams send the real event sequence, each event named and
numbered: ``response.created``, ``response.in_progress``, then per item
``response.output_item.added``, (text) ``response.content_part.added``,
``response.output_text.delta``..., ``response.output_text.done``,
``response.content_part.done`` or (call) ``response.function_call_arguments.delta``...,
``response.function_call_arguments.done``, then ``response.output_item.done`` and last
``response.completed`` (or ``response.incomplete``) with the usage. Faults and usage
markers work as on the chat route. ``previous_response_id`` and ``conversation`` answer 400:
the mock keeps nothing.
"""

from __future__ import annotations

import re
import time
from collections.abc import Iterator
from typing import Any

from devstack.upstreams import common
from devstack.upstreams.app import Exchange, Route, answer, dumps, new_id, prelude, stream
from devstack.upstreams.controls import Controls, strip_markers
from devstack.upstreams.openai_api import (
    COMPATIBLE_KIND,
    KIND,
    authorised,
    json_object,
    kind_of,
    request_controls,
    send_error,
    send_fault,
)

_TOOL_CHOICES = ("none", "auto", "required")


def _text_of(content: Any) -> str:
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        return "\n".join(
            part["text"]
            for part in content
            if isinstance(part, dict) and isinstance(part.get("text"), str)
        )
    return ""


def _items(body: dict[str, Any]) -> list[dict[str, Any]]:
    raw = body.get("input")
    if isinstance(raw, str):
        return [{"type": "message", "role": "user", "content": raw}]
    return [item for item in raw if isinstance(item, dict)] if isinstance(raw, list) else []


def _last_user_text(items: list[dict[str, Any]]) -> str:
    for item in reversed(items):
        if item.get("type", "message") == "message" and item.get("role") == "user":
            return _text_of(item.get("content"))
    return ""


def _prompt_tokens(body: dict[str, Any], items: list[dict[str, Any]]) -> int:
    """Instructions, message texts, call arguments and call outputs; tool definitions too,
    as OpenAI bills them."""
    texts = [body["instructions"]] if isinstance(body.get("instructions"), str) else []
    for item in items:
        kind = item.get("type", "message")
        if kind == "message":
            texts.append(_text_of(item.get("content")))
        elif kind == "function_call":
            texts.append(str(item.get("arguments", "")))
        elif kind == "function_call_output":
            texts.append(_text_of(item.get("output")))
    if body.get("tools"):
        texts.append(common.json_text(body["tools"]))
    return common.count_tokens("\n".join(texts))


def _tools(body: dict[str, Any]) -> dict[str, Any]:
    return {
        tool["name"]: tool.get("parameters") or {}
        for tool in body.get("tools") or []
        if isinstance(tool, dict) and tool.get("type") == "function"
        if isinstance(tool.get("name"), str)
    }


def _tool_choice(body: dict[str, Any]) -> tuple[str, str | None]:
    choice = body.get("tool_choice", "auto")
    if isinstance(choice, dict):
        name = choice.get("name")
        return ("required", name) if isinstance(name, str) else ("auto", None)
    return (choice if choice in _TOOL_CHOICES else "auto"), None


def _reply(body: dict[str, Any], last_text: str) -> str | None:
    """The JSON text ``text.format`` asks for, or None for free text."""
    text = body.get("text")
    spec = text.get("format") if isinstance(text, dict) else None
    if not isinstance(spec, dict):
        return None
    if spec.get("type") == "json_schema":
        return common.json_reply(spec.get("schema"), last_text)
    if spec.get("type") == "json_object":
        return common.json_reply(None, last_text)
    return None


def _usage(prompt: int, completion: common.Completion, controls: Controls) -> dict[str, Any]:
    output = completion.output_tokens + controls.reasoning_tokens
    return {
        "input_tokens": prompt,
        "input_tokens_details": {
            "cached_tokens": min(controls.cached_tokens, prompt),
            "cache_write_tokens": 0,
        },
        "output_tokens": output,
        "output_tokens_details": {"reasoning_tokens": controls.reasoning_tokens},
        "total_tokens": prompt + output,
    }


async def _refusal(exchange: Exchange, body: dict[str, Any]) -> bool:
    """True after answering 400 for a request the mock cannot serve."""
    if not isinstance(body.get("model"), str) or not body["model"]:
        await send_error(exchange, 400, "Missing required parameter: 'model'.", param="model")
        return True
    if not _items(body):
        await send_error(exchange, 400, "Missing required parameter: 'input'.", param="input")
        return True
    limit = body.get("max_output_tokens")
    if limit is not None and (isinstance(limit, bool) or not isinstance(limit, int) or limit < 1):
        message = "max_output_tokens must be a positive integer."
        await send_error(exchange, 400, message, param="max_output_tokens")
        return True
    for name in ("previous_response_id", "conversation"):
        if body.get(name) is not None:
            await send_error(exchange, 400, f"The mock keeps no state: '{name}'.", param=name)
            return True
    return False


async def create_response(exchange: Exchange) -> None:
    if not await authorised(exchange):
        return
    body = await json_object(exchange)
    if body is None or await _refusal(exchange, body):
        return
    exchange.record_model(kind_of(exchange), body["model"])
    items = _items(body)
    last_text = _last_user_text(items)
    controls = await request_controls(exchange, last_text)
    if controls is None or not await prelude(exchange, controls, send_fault):
        return
    mode, forced = _tool_choice(body)
    call = common.choose_tool(
        _tools(body),
        mode=mode,
        forced=forced,
        last_user_text=last_text,
        ends_with_tool_result=items[-1].get("type") == "function_call_output",
    )
    clean = strip_markers(last_text)
    completion = common.complete(clean, body.get("max_output_tokens"), call, _reply(body, clean))
    usage = _usage(_prompt_tokens(body, items), completion, controls)
    events = _Events(body, completion)
    headers = [("x-request-id", new_id("req_")), ("openai-processing-ms", "1")]
    if not body.get("stream"):
        await answer(exchange, events.response(events.status, usage), controls, headers)
        return
    frames = list(events.frames(usage))
    await stream(
        exchange,
        frames,
        controls,
        content_type="text/event-stream; charset=utf-8",
        tail=4,  # the done events and the last one: never reached by a cut stream
        terminator=b"\n\n",
        headers=headers,
    )


class _Events:
    """One Response and its stream of events."""

    def __init__(self, body: dict[str, Any], completion: common.Completion) -> None:
        self.body = body
        self.completion = completion
        self.id = new_id("resp_")
        self.created = int(time.time())
        self.status = "incomplete" if completion.finish == "length" else "completed"
        self.sequence = 0
        self.item = self._item()

    def _item(self) -> dict[str, Any]:
        call = self.completion.tool_call
        if call is not None:
            return {
                "id": new_id("fc_"),
                "type": "function_call",
                "status": "completed",
                "arguments": call.arguments_json,
                "call_id": new_id("call_"),
                "name": call.name,
            }
        text = {"type": "output_text", "annotations": [], "logprobs": [], "text": ""}
        return {
            "id": new_id("msg_"),
            "type": "message",
            "status": self.status,
            "content": [{**text, "text": self.completion.text}],
            "role": "assistant",
        }

    def response(self, status: str, usage: dict[str, Any] | None) -> dict[str, Any]:
        body = self.body
        done = status in ("completed", "incomplete")
        text = body.get("text")
        text_format = text.get("format") if isinstance(text, dict) else None
        response = {
            "id": self.id,
            "object": "response",
            "created_at": self.created,
            "status": status,
            "background": False,
            "completed_at": int(time.time()) if status == "completed" else None,
            "error": None,
            "incomplete_details": (
                {"reason": "max_output_tokens"} if status == "incomplete" else None
            ),
            "instructions": body.get("instructions"),
            "max_output_tokens": body.get("max_output_tokens"),
            "model": body["model"],
            "output": [self.item] if done else [],
            "parallel_tool_calls": body.get("parallel_tool_calls", True),
            "previous_response_id": None,
            "reasoning": {"effort": (body.get("reasoning") or {}).get("effort"), "summary": None},
            "store": body.get("store", True),
            "temperature": body.get("temperature", 1.0),
            "text": {"format": text_format or {"type": "text"}},
            "tool_choice": body.get("tool_choice", "auto"),
            "tools": [{"description": None, "strict": True, **t} for t in body.get("tools") or []],
            "top_p": body.get("top_p", 1.0),
            "truncation": "disabled",
            "metadata": body.get("metadata") or {},
        } | ({"user": body["user"]} if isinstance(body.get("user"), str) else {})
        if usage is not None:
            response["usage"] = usage
        return response

    def frames(self, usage: dict[str, Any]) -> Iterator[bytes]:
        yield self._event("response.created", response=self.response("in_progress", None))
        yield self._event("response.in_progress", response=self.response("in_progress", None))
        item, at = self.item, {"output_index": 0}
        if item["type"] == "function_call":
            yield self._event("response.output_item.added", **at, item={**item, "arguments": ""})
            arguments = item["arguments"]
            for piece in common.split_text(arguments, max(4, -(-len(arguments) // 4))):
                yield self._event("response.function_call_arguments.delta", **at, delta=piece)
            done = {"name": item["name"], "arguments": arguments}
            yield self._event("response.function_call_arguments.done", **at, **done)
        else:
            part = {**item["content"][0], "text": ""}
            in_progress = {**item, "status": "in_progress", "content": []}
            yield self._event("response.output_item.added", **at, item=in_progress)
            at = {**at, "item_id": item["id"], "content_index": 0}
            yield self._event("response.content_part.added", **at, part=part)
            for piece in self.completion.pieces:
                yield self._event("response.output_text.delta", **at, delta=piece, logprobs=[])
            text = self.completion.text
            yield self._event("response.output_text.done", **at, text=text, logprobs=[])
            yield self._event("response.content_part.done", **at, part={**part, "text": text})
            at = {"output_index": 0}
        yield self._event("response.output_item.done", **at, item=item)
        yield self._event(f"response.{self.status}", response=self.response(self.status, usage))

    def _event(self, kind: str, **fields: Any) -> bytes:
        if "item_id" not in fields and kind.startswith("response.function_call_arguments"):
            fields = {"item_id": self.item["id"], **fields}
        data = dumps({"type": kind, "sequence_number": self.sequence, **fields})
        self.sequence += 1
        return b"event: " + kind.encode() + b"\ndata: " + data + b"\n\n"


ROUTES = [
    Route(kind, "POST", re.compile(f"/{kind}/v1/responses"), create_response)
    for kind in (KIND, COMPATIBLE_KIND)
]
