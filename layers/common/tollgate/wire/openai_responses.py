"""OpenAI Responses ⇄ the proxy's internal OpenAI chat format, both ways, streaming included.

Clients may call ``POST /v1/responses`` while the proxy runs every request in the Chat
Completions shape the adapters speak. ``to_chat_request`` validates a Responses request and
returns the chat request and the ``Echo`` (the request settings a Response repeats);
``from_chat_completion`` turns a ``chat.completion`` into a ``response`` object and
``ResponsesStreamEncoder`` turns ``chat.completion.chunk`` dicts into Responses events.

Tollgate keeps no conversation state (it never stores content): ``previous_response_id``,
``conversation``, ``background`` and item references are refused, and ``store`` is always
false, upstream and in the answer. Unknown fields are refused by name, so a client never gets
an answer that silently ignored what it asked. ``include`` is accepted and ignored (stateless
clients ask for encrypted reasoning, which no route here returns), ``reasoning`` items in the
input are dropped, ``metadata`` is echoed in the answer and never sent upstream.
"""

from __future__ import annotations

import json
import os
import time
from dataclasses import dataclass, field
from typing import Any

from tollgate.sse import encode
from tollgate.wire.fields import expect_list as _list
from tollgate.wire.fields import expect_number as _number
from tollgate.wire.fields import expect_string as _string
from tollgate.wire.fields import fail as _fail

_KNOWN_FIELDS = frozenset(
    {
        "model", "input", "instructions", "tools", "tool_choice", "parallel_tool_calls", "text",
        "reasoning", "max_output_tokens", "temperature", "top_p", "stream", "stream_options",
        "metadata", "user", "store", "include", "truncation", "background",
        "previous_response_id", "conversation",
    }
)  # fmt: skip
_STATEFUL = ("previous_response_id", "conversation")
_ROLES = {"user": "user", "system": "system", "developer": "system", "assistant": "assistant"}
_TEXT_PARTS = ("input_text", "output_text")
_TOOL_CHOICES = ("none", "auto", "required")
_INCOMPLETE = {"length": "max_output_tokens", "content_filter": "content_filter"}
STATELESS = (
    "Tollgate keeps no conversation state (it never stores content): "
    "send the whole conversation in 'input' each time."
)


@dataclass
class Echo:
    """The request's settings that a Response object repeats."""

    instructions: str | None = None
    tools: list[dict[str, Any]] = field(default_factory=list)
    tool_choice: Any = "auto"
    parallel_tool_calls: bool = True
    text_format: dict[str, Any] = field(default_factory=lambda: {"type": "text"})
    reasoning_effort: str | None = None
    max_output_tokens: int | None = None
    temperature: float | None = None
    top_p: float | None = None
    metadata: dict[str, str] = field(default_factory=dict)
    user: str | None = None


# --- request: Responses -> OpenAI chat -------------------------------------------------------


def to_chat_request(body: Any) -> tuple[dict[str, Any], Echo]:
    """Validate a Responses request; return the equivalent chat request and its echo."""
    body = _object(body, None)
    _refuse_fields(body)
    echo = Echo()
    messages = _instructions(body.get("instructions"), echo) + _input(body.get("input"))
    request: dict[str, Any] = {"model": body.get("model"), "messages": messages, "store": False}
    request.update(_tooling(body, echo))
    request.update(_text_format(body.get("text"), echo))
    request.update(_controls(body, echo))
    echo.metadata = _metadata(body.get("metadata"))
    return request, echo


def _refuse_fields(body: dict[str, Any]) -> None:
    unknown = sorted(name for name in body if name not in _KNOWN_FIELDS)
    if unknown:
        names = ", ".join(f"'{name}'" for name in unknown)
        _fail(f"Unknown or unsupported field(s): {names}.", unknown[0])
    for name in _STATEFUL:
        if body.get(name) is not None:
            _fail(f"'{name}' is not supported. {STATELESS}", name)
    if body.get("background") not in (None, False):
        _fail(f"'background' is not supported. {STATELESS}", "background")
    if body.get("store") not in (None, False, True):
        _fail("'store' must be a boolean.", "store")
    if body.get("truncation") not in (None, "disabled"):
        _fail("'truncation' must be 'disabled': Tollgate never drops input.", "truncation")
    if body.get("include") is not None:
        _list(body["include"], "include", "a list of strings")


def _instructions(value: Any, echo: Echo) -> list[dict[str, Any]]:
    if value is None:
        return []
    echo.instructions = _string(value, "instructions")
    return [{"role": "system", "content": value}] if value else []


def _input(value: Any) -> list[dict[str, Any]]:
    if isinstance(value, str):
        return [{"role": "user", "content": value}]
    items = _list(value, "input", "a string or a non-empty list of input items")
    if not items:
        _fail("'input' must not be empty.", "input")
    messages: list[dict[str, Any]] = []
    for index, item in enumerate(items):
        _item(_object(item, f"input.{index}"), f"input.{index}", messages)
    return messages


def _item(item: dict[str, Any], param: str, messages: list[dict[str, Any]]) -> None:
    kind = item.get("type", "message")
    if kind == "message":
        messages.append(_message(item, param))
    elif kind == "function_call":
        _function_call(item, param, messages)
    elif kind == "function_call_output":
        messages.append(_function_output(item, param))
    elif kind == "reasoning":
        return  # a reasoning item from an earlier answer: only its model could read it
    elif kind == "item_reference":
        _fail(f"'{param}' is an item reference. {STATELESS}", f"{param}.type")
    else:
        shown = kind if isinstance(kind, str) else repr(kind)
        _fail(
            f"'{param}.type' is '{shown}', which is not supported: use message, "
            "function_call or function_call_output items.",
            f"{param}.type",
        )


def _message(item: dict[str, Any], param: str) -> dict[str, Any]:
    role = item.get("role")
    if role not in _ROLES:
        _fail(f"'{param}.role' must be one of: {', '.join(_ROLES)}.", f"{param}.role")
    content = item.get("content")
    if isinstance(content, str):
        return {"role": _ROLES[role], "content": content}
    parts = [
        _part(part, f"{param}.content.{index}")
        for index, part in enumerate(_list(content, f"{param}.content", "a string or parts"))
    ]
    if role == "user":
        return {"role": "user", "content": parts}
    if any(part["type"] != "text" for part in parts):
        _fail(f"'{param}.content' may only hold text for role '{role}'.", f"{param}.content")
    return {"role": _ROLES[role], "content": "".join(part["text"] for part in parts)}


def _part(value: Any, param: str) -> dict[str, Any]:
    part = _object(value, param)
    kind = part.get("type")
    if kind in _TEXT_PARTS:
        return {"type": "text", "text": _string(part.get("text"), f"{param}.text")}
    if kind == "refusal":
        return {"type": "text", "text": _string(part.get("refusal"), f"{param}.refusal")}
    if kind == "input_image":
        if part.get("image_url") is None:
            _fail(
                f"'{param}.image_url' is required: Tollgate stores no files.", f"{param}.image_url"
            )
        image = {"url": _string(part["image_url"], f"{param}.image_url")}
        if part.get("detail") in ("low", "high", "auto"):
            image["detail"] = part["detail"]
        return {"type": "image_url", "image_url": image}
    shown = kind if isinstance(kind, str) else repr(kind)
    _fail(
        f"'{param}.type' is '{shown}', which is not supported: use input_text or input_image.",
        f"{param}.type",
    )


def _function_call(item: dict[str, Any], param: str, messages: list[dict[str, Any]]) -> None:
    call = {
        "id": _string(item.get("call_id"), f"{param}.call_id"),
        "type": "function",
        "function": {
            "name": _string(item.get("name"), f"{param}.name"),
            "arguments": _string(item.get("arguments"), f"{param}.arguments"),
        },
    }
    last = messages[-1] if messages else None
    if last is not None and last["role"] == "assistant":  # the same turn: text, then calls
        last.setdefault("tool_calls", []).append(call)
        last["content"] = last["content"] or None
        return
    messages.append({"role": "assistant", "content": None, "tool_calls": [call]})


def _function_output(item: dict[str, Any], param: str) -> dict[str, Any]:
    call_id = _string(item.get("call_id"), f"{param}.call_id")
    output = item.get("output")
    if not isinstance(output, str):
        parts = _list(output, f"{param}.output", "a string or a list of text parts")
        texts = [_part(p, f"{param}.output.{i}") for i, p in enumerate(parts)]
        if any(part["type"] != "text" for part in texts):
            _fail(f"'{param}.output' may only hold text.", f"{param}.output")
        output = "".join(part["text"] for part in texts)
    return {"role": "tool", "tool_call_id": call_id, "content": output}


def _tooling(body: dict[str, Any], echo: Echo) -> dict[str, Any]:
    fields: dict[str, Any] = {}
    tools = body.get("tools")
    if tools is not None:
        items = _list(tools, "tools", "a list of tools")
        echo.tools = [_function_tool(tool, f"tools.{i}") for i, tool in enumerate(items)]
        if echo.tools:
            fields["tools"] = [_chat_tool(tool) for tool in echo.tools]
    if body.get("tool_choice") is not None:
        echo.tool_choice = body["tool_choice"]
        choice = _tool_choice(body["tool_choice"])
        if not echo.tools and choice not in ("auto", "none"):
            _fail("'tool_choice' asks for a tool but 'tools' is empty.", "tool_choice")
        if echo.tools:
            fields["tool_choice"] = choice
    parallel = body.get("parallel_tool_calls")
    if parallel is not None:
        if not isinstance(parallel, bool):
            _fail("'parallel_tool_calls' must be a boolean.", "parallel_tool_calls")
        echo.parallel_tool_calls = parallel
        if echo.tools:
            fields["parallel_tool_calls"] = parallel
    return fields


def _function_tool(value: Any, param: str) -> dict[str, Any]:
    tool = _object(value, param)
    if tool.get("type") != "function":
        _fail(
            f"'{param}.type' must be 'function': OpenAI's built-in tools run only at OpenAI, "
            "and Tollgate may route this request to any provider.",
            f"{param}.type",
        )
    echoed: dict[str, Any] = {
        "type": "function",
        "name": _string(tool.get("name"), f"{param}.name"),
    }
    echoed["description"] = tool.get("description")
    if echoed["description"] is not None:
        _string(echoed["description"], f"{param}.description")
    echoed["parameters"] = tool.get("parameters")
    if echoed["parameters"] is not None:
        _object(echoed["parameters"], f"{param}.parameters")
    echoed["strict"] = tool.get("strict")
    if echoed["strict"] is not None and not isinstance(echoed["strict"], bool):
        _fail(f"'{param}.strict' must be a boolean.", f"{param}.strict")
    return echoed


def _chat_tool(tool: dict[str, Any]) -> dict[str, Any]:
    function = {"name": tool["name"], "parameters": tool["parameters"] or {"type": "object"}}
    if tool["description"] is not None:
        function["description"] = tool["description"]
    if tool["strict"] is not None:
        function["strict"] = tool["strict"]
    return {"type": "function", "function": function}


def _tool_choice(value: Any) -> Any:
    if value in _TOOL_CHOICES:
        return value
    choice = _object(value, "tool_choice")
    if choice.get("type") != "function":
        _fail(
            "'tool_choice' must be 'none', 'auto', 'required' or a function "
            '({"type": "function", "name": ...}).',
            "tool_choice",
        )
    name = _string(choice.get("name"), "tool_choice.name")
    return {"type": "function", "function": {"name": name}}


def _text_format(value: Any, echo: Echo) -> dict[str, Any]:
    if value is None:
        return {}
    text = _object(value, "text")
    if text.get("format") is None:
        return {}
    spec = _object(text["format"], "text.format")
    kind = spec.get("type")
    if kind == "text":
        return {}
    if kind == "json_object":
        echo.text_format = {"type": "json_object"}
        return {"response_format": {"type": "json_object"}}
    if kind != "json_schema":
        _fail("'text.format.type' must be one of: text, json_object, json_schema.", "text.format")
    schema = {
        "name": _string(spec.get("name"), "text.format.name"),
        "schema": _object(spec.get("schema"), "text.format.schema"),
    }
    for name in ("description", "strict"):
        if spec.get(name) is not None:
            schema[name] = spec[name]
    echo.text_format = {"type": "json_schema", "strict": None, **schema}
    return {"response_format": {"type": "json_schema", "json_schema": schema}}


def _controls(body: dict[str, Any], echo: Echo) -> dict[str, Any]:
    fields: dict[str, Any] = {}
    max_output = body.get("max_output_tokens")
    if max_output is not None:
        if isinstance(max_output, bool) or not isinstance(max_output, int) or max_output < 1:
            _fail("'max_output_tokens' must be a positive integer.", "max_output_tokens")
        fields["max_tokens"] = echo.max_output_tokens = max_output
    for name in ("temperature", "top_p"):
        if body.get(name) is not None:
            fields[name] = _number(body[name], name)
            setattr(echo, name, fields[name])
    if body.get("reasoning") is not None:
        effort = _object(body["reasoning"], "reasoning").get("effort")
        if effort is not None:
            fields["reasoning_effort"] = echo.reasoning_effort = _string(effort, "reasoning.effort")
    if body.get("user") is not None:
        fields["user"] = echo.user = _string(body["user"], "user")
    stream = body.get("stream")
    if stream not in (None, False, True):
        _fail("'stream' must be a boolean.", "stream")
    if stream:  # the stream's last event carries its usage: the upstream must report it
        fields.update(stream=True, stream_options={"include_usage": True})
    return fields


def _metadata(value: Any) -> dict[str, str]:
    if value is None:
        return {}
    metadata = _object(value, "metadata")
    if len(metadata) > 16 or not all(
        isinstance(v, str) and len(k) <= 64 and len(v) <= 512 for k, v in metadata.items()
    ):
        _fail("'metadata' holds at most 16 string values (keys ≤ 64, values ≤ 512).", "metadata")
    return metadata


def _object(value: Any, param: str | None) -> dict[str, Any]:
    if not isinstance(value, dict):
        _fail(
            f"'{param}' must be a JSON object." if param else "The body must be a JSON object.",
            param,
        )
    return value


# --- response: OpenAI chat.completion -> Response ---------------------------------------------


def from_chat_completion(completion: dict[str, Any], *, model: str, echo: Echo) -> dict[str, Any]:
    """A ``chat.completion`` as a completed (or incomplete) Response naming ``model``."""
    choice = (completion.get("choices") or [{}])[0]
    message = choice.get("message") or {}
    incomplete = _INCOMPLETE.get(choice.get("finish_reason"))
    status = "incomplete" if incomplete else "completed"
    output = []
    text, refusal = _message_text(message.get("content")), message.get("refusal")
    if text or refusal:
        parts = [_output_text(text)] if text else []
        if isinstance(refusal, str) and refusal:
            parts.append({"type": "refusal", "refusal": refusal})
        output.append(_message_item(new_id("msg_"), parts, status))
    for call in message.get("tool_calls") or []:
        function = call.get("function") or {}
        output.append(
            _call_item(new_id("fc_"), call.get("id") or new_id("call_"), function, "completed")
        )
    response = response_object(new_id("resp_"), model, echo, status=status, output=output)
    response["incomplete_details"] = {"reason": incomplete} if incomplete else None
    response["usage"] = responses_usage(completion.get("usage"))
    return response


def response_object(
    response_id: str, model: str, echo: Echo, *, status: str, output: list[dict[str, Any]]
) -> dict[str, Any]:
    """A Response with the request's echo; the caller adds its ``usage`` once known."""
    now = int(time.time())
    return {
        "id": response_id,
        "object": "response",
        "created_at": now,
        "completed_at": now if status == "completed" else None,
        "status": status,
        "error": None,
        "incomplete_details": None,
        "instructions": echo.instructions,
        "max_output_tokens": echo.max_output_tokens,
        "model": model,
        "output": output,
        "parallel_tool_calls": echo.parallel_tool_calls,
        "previous_response_id": None,
        "reasoning": {"effort": echo.reasoning_effort, "summary": None},
        "store": False,
        "temperature": echo.temperature,
        "text": {"format": echo.text_format},
        "tool_choice": echo.tool_choice,
        "tools": echo.tools,
        "top_p": echo.top_p,
        "truncation": "disabled",
        "metadata": echo.metadata,
    } | ({"user": echo.user} if echo.user is not None else {})


def responses_usage(usage: dict[str, Any] | None) -> dict[str, Any]:
    """Chat usage (``prompt_tokens``...) as Responses usage; ``cost`` kept when present."""
    usage = usage or {}
    input_tokens = int(usage.get("prompt_tokens") or 0)
    output_tokens = int(usage.get("completion_tokens") or 0)
    prompt = usage.get("prompt_tokens_details") or {}
    completion = usage.get("completion_tokens_details") or {}
    answer: dict[str, Any] = {
        "input_tokens": input_tokens,
        "input_tokens_details": {
            "cached_tokens": int(prompt.get("cached_tokens") or 0),
            "cache_write_tokens": int(prompt.get("cache_write_tokens") or 0),
        },
        "output_tokens": output_tokens,
        "output_tokens_details": {"reasoning_tokens": int(completion.get("reasoning_tokens") or 0)},
        "total_tokens": input_tokens + output_tokens,
    }
    if usage.get("cost") is not None:
        answer["cost"] = usage["cost"]
    return answer


def _message_text(content: Any) -> str:
    if isinstance(content, list):
        return "".join(part.get("text") or "" for part in content if isinstance(part, dict))
    return content if isinstance(content, str) else ""


def _output_text(text: str) -> dict[str, Any]:
    return {"type": "output_text", "text": text, "annotations": [], "logprobs": []}


def _message_item(item_id: str, content: list[dict[str, Any]], status: str) -> dict[str, Any]:
    return {
        "id": item_id,
        "type": "message",
        "role": "assistant",
        "status": status,
        "content": content,
    }


def _call_item(item_id: str, call_id: str, function: dict[str, Any], status: str) -> dict[str, Any]:
    arguments = function.get("arguments")
    return {
        "id": item_id,
        "type": "function_call",
        "call_id": call_id,
        "name": function.get("name") or "",
        "arguments": arguments if isinstance(arguments, str) else json.dumps(arguments or {}),
        "status": status,
    }


def new_id(prefix: str) -> str:
    return prefix + os.urandom(12).hex()


# --- streaming: OpenAI chat.completion.chunk -> Responses events -----------------------------


class ResponsesStreamEncoder:
    """Turns OpenAI chunks, fed in order, into the Responses event stream.

    ``response.created`` and ``response.in_progress`` open it; text becomes a ``message`` item
    with one ``output_text`` part, each tool call a ``function_call`` item (argument pieces
    name their call's item, however late they come). Items stay open until the end, where
    each gets its done events, then ``response.completed`` (or ``response.incomplete``) with
    the whole Response and its usage. A broken stream ends with ``response.failed`` (its usage
    and cost) and then the ``error`` event. Every event has its ``sequence_number``.
    """

    def __init__(self, model: str, echo: Echo) -> None:
        self._model = model
        self._echo = echo
        self._id = new_id("resp_")
        self._created = int(time.time())
        self._sequence = 0
        self._started = False
        self._ended = False
        self._items: list[dict[str, Any]] = []  # the output items, as they grow
        self._text_item: int | None = None  # the output index of the message being written
        self._calls: dict[int, int] = {}  # chat tool call index -> output index
        self._finish_reason: str | None = None

    def encode(self, chunk: dict[str, Any]) -> bytes:
        if self._ended:
            return b""
        events = self._start()
        for choice in chunk.get("choices") or []:
            if choice.get("index", 0) != 0:
                continue
            delta = choice.get("delta") or {}
            text = delta.get("content") or delta.get("refusal")
            if isinstance(text, str) and text:
                events += self._text(text)
            for call in delta.get("tool_calls") or []:
                events += self._call(call)
            if choice.get("finish_reason"):
                self._finish_reason = choice["finish_reason"]
        return b"".join(events)

    def finish(self, usage: dict[str, Any], finish_reason: str | None = None) -> bytes:
        """The done events of every item, then ``response.completed`` or ``.incomplete``."""
        if self._ended:
            return b""
        self._ended = True
        incomplete = _INCOMPLETE.get(finish_reason or self._finish_reason or "stop")
        status = "incomplete" if incomplete else "completed"
        events = self._start() + self._close_items(status)
        response = self._response(status, usage)
        response["incomplete_details"] = {"reason": incomplete} if incomplete else None
        events.append(self._event(f"response.{status}", response=response))
        return b"".join(events)

    def usage_before_error(self, usage: dict[str, Any]) -> bytes:
        """``response.failed``, with what was delivered and its usage and cost."""
        if self._ended:
            return b""
        events = self._start() + self._close_items("incomplete")
        response = self._response("failed", usage)
        response["error"] = {"code": "server_error", "message": "The stream broke."}
        events.append(self._event("response.failed", response=response))
        return b"".join(events)

    def error(self, body: dict[str, Any]) -> bytes:
        """The ``error`` event (OpenAI's error body flattened); it ends the stream."""
        self._ended = True
        error = body.get("error", body)
        return self._event(
            "error", code=error.get("code"), message=error.get("message"), param=error.get("param")
        )

    def _start(self) -> list[bytes]:
        if self._started:
            return []
        self._started = True
        response = self._response("in_progress", None)
        return [
            self._event("response.created", response=response),
            self._event("response.in_progress", response=response),
        ]

    def _text(self, text: str) -> list[bytes]:
        events = []
        if self._text_item is None or self._text_item != len(self._items) - 1:
            self._text_item = len(self._items)
            item = _message_item(new_id("msg_"), [], "in_progress")
            self._items.append(item)
            events.append(self._added(self._text_item))
            item["content"].append(_output_text(""))
            events.append(self._part_event("response.content_part.added", self._text_item))
        item = self._items[self._text_item]
        item["content"][0]["text"] += text
        events.append(
            self._event(
                "response.output_text.delta",
                item_id=item["id"],
                output_index=self._text_item,
                content_index=0,
                delta=text,
                logprobs=[],
            )
        )
        return events

    def _call(self, call: dict[str, Any]) -> list[bytes]:
        position = call.get("index", 0)
        function = call.get("function") or {}
        events = []
        if position not in self._calls:
            self._calls[position] = len(self._items)
            start = {"name": function.get("name"), "arguments": ""}
            item = _call_item(
                new_id("fc_"), call.get("id") or new_id("call_"), start, "in_progress"
            )
            self._items.append(item)
            events.append(self._added(self._calls[position]))
        index = self._calls[position]
        arguments = function.get("arguments")
        if isinstance(arguments, str) and arguments:
            self._items[index]["arguments"] += arguments
            events.append(
                self._event(
                    "response.function_call_arguments.delta",
                    item_id=self._items[index]["id"],
                    output_index=index,
                    delta=arguments,
                )
            )
        return events

    def _close_items(self, status: str) -> list[bytes]:
        events = []
        for index, item in enumerate(self._items):
            if item["status"] != "in_progress":
                continue
            item["status"] = status
            if item["type"] == "message":
                text = item["content"][0]["text"]
                events.append(
                    self._event(
                        "response.output_text.done",
                        item_id=item["id"],
                        output_index=index,
                        content_index=0,
                        text=text,
                        logprobs=[],
                    )
                )
                events.append(self._part_event("response.content_part.done", index))
            else:
                events.append(
                    self._event(
                        "response.function_call_arguments.done",
                        item_id=item["id"],
                        output_index=index,
                        name=item["name"],
                        arguments=item["arguments"],
                    )
                )
            events.append(self._event("response.output_item.done", output_index=index, item=item))
        return events

    def _added(self, index: int) -> bytes:
        item = json.loads(json.dumps(self._items[index]))  # as it is now, not as it grows
        return self._event("response.output_item.added", output_index=index, item=item)

    def _part_event(self, kind: str, index: int) -> bytes:
        item = self._items[index]
        part = dict(item["content"][0])
        return self._event(kind, item_id=item["id"], output_index=index, content_index=0, part=part)

    def _response(self, status: str, usage: dict[str, Any] | None) -> dict[str, Any]:
        output = json.loads(json.dumps(self._items)) if status != "in_progress" else []
        response = response_object(self._id, self._model, self._echo, status=status, output=output)
        response["created_at"] = self._created
        if usage is not None:
            response["usage"] = responses_usage(usage)
        return response

    def _event(self, kind: str, **fields: Any) -> bytes:
        event = {"type": kind, "sequence_number": self._sequence, **fields}
        self._sequence += 1
        return encode(event, kind)
