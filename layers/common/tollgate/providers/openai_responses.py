"""OpenAI's Responses API passed through to OpenAI itself.

A client's ``POST /v1/responses``, once ``wire.openai_responses`` has checked it (and refused
what needs state), goes to an OpenAI route's ``/responses`` as it came, but for the data
controls chat gets (``store: false``, no ``metadata``) and the upstream model id. The
Response, or its events, come back naming the public model id, with ``store: false`` and the
client's own ``metadata``; usage is read from the Response (streamed: from its last event,
``response.completed``, ``.incomplete`` or ``.failed``, which is held back until its cost is
known: ``RelayEncoder``). Other routes, ``openai_compatible`` ones included, are translated
through chat: most compatible servers have no ``/responses``.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from tollgate.providers.base import ChatStream, UpstreamCall, Usage, json_call, malformed
from tollgate.providers.openai import auth_headers, data_controls, stream_error, success_body
from tollgate.sse import Event, encode
from tollgate.wire.openai_responses import Echo, new_id, response_object, responses_usage

if TYPE_CHECKING:
    from tollgate.catalog import Model, Provider

NATIVE_KINDS = frozenset({"openai"})
_TERMINAL = frozenset({"response.completed", "response.incomplete", "response.failed"})
_DELTAS = frozenset(
    {
        "response.output_text.delta",
        "response.refusal.delta",
        "response.function_call_arguments.delta",
        "response.reasoning_summary_text.delta",
    }
)


def passes_through(provider: Provider) -> bool:
    return provider.kind in NATIVE_KINDS


def build_responses(
    request: dict[str, Any], *, model: Model, provider: Provider, api_key: str, stream: bool
) -> UpstreamCall:
    body = {**data_controls(request, provider.kind), "model": model.upstream_id}
    if not stream:
        body.pop("stream", None)
        body.pop("stream_options", None)
    url = f"{provider.base_url}/responses"
    return json_call(url, auth_headers(api_key), body, stream=stream)


def parse_response(
    status: int,
    body: bytes,
    *,
    model_id: str,
    echo: Echo,
    headers: Mapping[str, str] | None = None,
) -> tuple[dict[str, Any], Usage]:
    response = success_body(status, body, headers)
    if response.get("object") != "response" or not isinstance(response.get("output"), list):
        raise malformed("not a Response")
    usage = usage_from(response.get("usage"))
    _relabel(response, model_id, echo)
    if not isinstance(response.get("usage"), dict):
        response["usage"] = responses_usage(usage.openai())
    return response, usage


def usage_from(raw: Any) -> Usage:
    if not isinstance(raw, dict):
        return Usage()
    details = raw.get("input_tokens_details") or {}
    output = raw.get("output_tokens_details") or {}
    return Usage(
        input_tokens=int(raw.get("input_tokens") or 0),
        output_tokens=int(raw.get("output_tokens") or 0),
        cached_tokens=int(details.get("cached_tokens") or 0),
        reasoning_tokens=int(output.get("reasoning_tokens") or 0),
    )


def _relabel(response: dict[str, Any], model_id: str, echo: Echo) -> None:
    response.update(model=model_id, store=False, metadata=echo.metadata)


class ResponsesEventStream(ChatStream):
    """The upstream's Responses events, relabelled, as dicts (not chat chunks: its encoder
    is ``RelayEncoder``). The last event is kept (``terminal``) for ``RelayEncoder.finish``;
    the items done so far are kept for a broken stream's ``response.failed``."""

    def __init__(self, *, model_id: str, echo: Echo) -> None:
        super().__init__(model_id=model_id)
        self.echo = echo
        self.response_id: str | None = None
        self.terminal: dict[str, Any] | None = None
        self.done_items: list[dict[str, Any]] = []
        self.sequence = -1  # the last sequence number sent

    def _on_event(self, event: Event) -> list[dict[str, Any]]:
        if self.terminal is not None:
            return []
        payload = self._payload(event)
        kind = payload.get("type")
        if kind == "error":
            raise stream_error(payload)
        if not isinstance(kind, str):
            raise malformed("an event without a type")
        number = payload.get("sequence_number")
        self.sequence = number if isinstance(number, int) else self.sequence + 1
        response = payload.get("response")
        if isinstance(response, dict):
            _relabel(response, self.model_id, self.echo)
            self.response_id = response.get("id") or self.response_id
        if kind in _TERMINAL:
            if not isinstance(response, dict):
                raise malformed(f"{kind} without its response")
            self.usage = usage_from(response.get("usage"))
            self.finish_reason = response.get("status")
            self.terminal, self.completed = payload, True
            return []
        if kind == "response.output_item.done" and isinstance(payload.get("item"), dict):
            self.done_items.append(payload["item"])
        if kind in _DELTAS and isinstance(payload.get("delta"), str):
            self.output_chars += len(payload["delta"])
        return [payload]


class RelayEncoder:
    """Writes the relayed events, then the held last one with its cost, or, for a broken
    stream, a ``response.failed`` of what was delivered (its usage and cost) and ``error``,
    numbered after the upstream's events (the client's side of ``ResponsesEventStream``)."""

    def __init__(self, stream: ResponsesEventStream) -> None:
        self.stream = stream

    def encode(self, event: dict[str, Any]) -> bytes:
        return encode(event, event["type"])

    def finish(self, usage: dict[str, Any], finish_reason: str | None = None) -> bytes:
        terminal = self.stream.terminal
        if terminal is None:  # the client left before the end: nothing reaches it
            return b""
        response = terminal["response"]
        if not isinstance(response.get("usage"), dict):
            response["usage"] = responses_usage(usage)
        response["usage"]["cost"] = usage["cost"]
        return encode(terminal, terminal["type"])

    def usage_before_error(self, usage: dict[str, Any]) -> bytes:
        stream = self.stream
        response_id = stream.response_id or new_id("resp_")
        response = response_object(
            response_id, stream.model_id, stream.echo, status="failed", output=stream.done_items
        )
        response["error"] = {"code": "server_error", "message": "The stream broke."}
        response["usage"] = responses_usage(usage)
        return self._event("response.failed", response=response)

    def error(self, body: dict[str, Any]) -> bytes:
        error = body.get("error", body)
        return self._event(
            "error", code=error.get("code"), message=error.get("message"), param=error.get("param")
        )

    def _event(self, kind: str, **fields: Any) -> bytes:
        self.stream.sequence += 1
        return encode({"type": kind, "sequence_number": self.stream.sequence, **fields}, kind)
