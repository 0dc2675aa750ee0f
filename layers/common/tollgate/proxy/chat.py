"""POST /v1/chat/completions and POST /v1/messages.

One pipeline serves both client formats: an Anthropic Messages request is translated into the
OpenAI chat request every adapter understands, and the answer is translated back. A stream
cut before the upstream reported usage is charged an estimate and marked so.
"""

from __future__ import annotations

import math
from typing import Any

from tollgate import pricing
from tollgate.catalog import Model
from tollgate.errors import (
    BadRequest,
    InternalError,
    TollgateError,
    UpstreamError,
    anthropic_body,
    openai_body,
)
from tollgate.observability import logger
from tollgate.providers.base import ProviderError, Usage
from tollgate.proxy.http import Request, Send, dumps, send_chunk, send_json, start
from tollgate.proxy.pipeline import ProxyCall, usd_number
from tollgate.proxy.runtime import Runtime
from tollgate.sse import encode
from tollgate.store.hotpath import Hold, KeyRecord
from tollgate.wire import anthropic_messages

CHARS_PER_TOKEN = 4  # for estimates only, when an upstream never reported usage
MAX_CHOICES = 128  # OpenAI's own bound on 'n'; the hold multiplies by it


async def chat_completions(runtime: Runtime, request: Request, key: KeyRecord, send: Send) -> None:
    body = await request.json()
    await ChatCall(runtime, request, key, body, wire="openai", requested=body.get("model")).run(
        send
    )


async def messages(runtime: Runtime, request: Request, key: KeyRecord, send: Send) -> None:
    body = await request.json()
    chat_body = anthropic_messages.to_chat_request(body)
    await ChatCall(runtime, request, key, chat_body, wire="anthropic", requested=body["model"]).run(
        send
    )


class ChatCall(ProxyCall):
    endpoint = "chat"

    def __init__(
        self,
        runtime: Runtime,
        request: Request,
        key: KeyRecord,
        body: dict[str, Any],
        *,
        wire: str,
        requested: Any,
    ) -> None:
        super().__init__(runtime, request, key, body)
        self.wire = wire
        self.requested = requested
        self.record_endpoint = "messages" if wire == "anthropic" else "chat.completions"
        self.stream = bool(body.get("stream"))

    async def run(self, send: Send) -> None:
        model = self._validate()
        routes = self.routes(model)
        prompt_bytes, images = prompt_size(self.body["messages"])
        max_output = self.body.get("max_completion_tokens") or self.body.get("max_tokens")
        n = self.body.get("n")
        choices = n if isinstance(n, int) else 1
        amount = max(
            pricing.chat_hold(
                m, prompt_bytes=prompt_bytes, images=images, max_output=max_output, choices=choices
            )
            for m in routes
        )

        async def work(hold: Hold) -> None:
            if self.stream:
                await self._stream(routes, hold, send)
            else:
                await self._complete(routes, hold, send)

        await self.held(model, amount, work)

    def _build(self, adapter, model: Model, provider, api_key: str):
        return adapter.build_chat(
            self.body, model=model, provider=provider, api_key=api_key, stream=self.stream
        )

    async def _complete(self, routes: list[Model], hold: Hold, send: Send) -> None:
        model, adapter, response = await self.open_upstream(routes, self._build)
        completion, usage = await self.read_answer(
            response, lambda status, raw: adapter.parse_chat(status, raw, model_id=model.id)
        )
        self.outcome.usage = usage
        charge = await self.settle(hold, pricing.chat_charge(model, usage))
        completion.setdefault("usage", usage.openai())["cost"] = usd_number(charge)
        if self.wire == "anthropic":
            completion = anthropic_messages.from_chat_completion(completion, model=self.requested)
        await send_json(send, 200, completion, self.headers(charge))

    async def _stream(self, routes: list[Model], hold: Hold, send: Send) -> None:
        model, adapter, response = await self.open_upstream(routes, self._build)
        translator = adapter.chat_stream(model_id=model.id)
        client = _ClientStream(self.wire, send, self.requested)
        await start(send, 200, {**self.headers(None), "content-type": "text/event-stream"})
        failure: TollgateError | None = None
        try:
            async for data in response.chunks():
                if not await client.send_chunks(translator.feed(data)):
                    break
            else:
                await client.send_chunks(translator.close())
        except ProviderError as error:
            message = f"The upstream stream broke: {error.message}"
            failure = UpstreamError(message, code="stream_cut")
        except OSError as error:
            failure = UpstreamError(f"The upstream stream was cut: {error}", code="stream_cut")
        except Exception:
            logger.exception("stream failed", extra={"request_id": self.request.request_id})
            failure = InternalError("The stream failed inside the gateway.")
        finally:
            response.close()
            self.upstream_done()
        if not translator.completed and failure is None and not client.gone:
            failure = UpstreamError("The upstream stream ended early.", code="stream_cut")
        usage = translator.usage if translator.completed else None
        if usage is None:
            usage = self._estimate(translator.output_chars)
        self.outcome.usage = usage
        if failure is not None or client.gone:
            self.outcome.status = "cut"
            self.outcome.error_type = (
                "client_disconnected" if client.gone or failure is None else failure.code
            )
        charge = await self.settle(hold, pricing.chat_charge(model, usage), stream=True)
        if failure is not None:
            await client.fail(failure)
        else:
            await client.finish(usage, charge, translator.finish_reason, self._include_usage())

    def _estimate(self, output_chars: int) -> Usage:
        self.outcome.usage_estimated = True
        prompt_bytes, _ = prompt_size(self.body["messages"])
        return Usage(
            input_tokens=math.ceil(prompt_bytes / CHARS_PER_TOKEN),
            output_tokens=math.ceil(output_chars / CHARS_PER_TOKEN),
        )

    def _validate(self) -> Model:
        messages_ = self.body.get("messages")
        if not isinstance(messages_, list) or not messages_:
            raise BadRequest("'messages' must be a non-empty list.", param="messages")
        if not all(isinstance(m, dict) and isinstance(m.get("role"), str) for m in messages_):
            raise BadRequest("Every message needs a 'role'.", param="messages")
        for name in ("max_tokens", "max_completion_tokens", "n"):
            value = self.body.get(name)
            if value is not None and (
                isinstance(value, bool) or not isinstance(value, int) or value < 1
            ):
                raise BadRequest(f"'{name}' must be a positive integer.", param=name)
        if self.body.get("n", 1) > MAX_CHOICES:
            raise BadRequest(f"'n' must be at most {MAX_CHOICES}.", param="n")
        return self.model_for(self.body.get("model"))

    def _include_usage(self) -> bool:
        options = self.body.get("stream_options") or {}
        return bool(options.get("include_usage")) if isinstance(options, dict) else False


class _ClientStream:
    """Writes translated chunks to the client in its wire format and notices it leaving."""

    def __init__(self, wire: str, send: Send, requested: Any) -> None:
        self.send = send
        self.gone = False
        self.last: dict[str, Any] | None = None
        self.encoder = (
            anthropic_messages.MessagesStreamEncoder(requested) if wire == "anthropic" else None
        )

    async def send_chunks(self, chunks: list[dict[str, Any]]) -> bool:
        for chunk in chunks:
            self.last = chunk
            data = self.encoder.encode(chunk) if self.encoder else encode(chunk)
            if not await self._write(data):
                return False
        return True

    async def finish(self, usage: Usage, charge: int, finish_reason: Any, include: bool) -> None:
        usage_body = {**usage.openai(), "cost": usd_number(charge)}
        if self.encoder is not None:
            await self._write(self.encoder.finish(usage_body, finish_reason), more=False)
            return
        if include and self.last is not None:
            final = {key: self.last[key] for key in ("id", "object", "created", "model")}
            await self._write(encode({**final, "choices": [], "usage": usage_body}))
        await self._write(encode("[DONE]"), more=False)

    async def fail(self, error: TollgateError) -> None:
        if self.encoder is not None:
            await self._write(self.encoder.error(anthropic_body(error)), more=False)
        else:
            await self._write(encode(openai_body(error)), more=False)

    async def _write(self, data: bytes, *, more: bool = True) -> bool:
        if self.gone:
            return False
        try:
            await send_chunk(self.send, data, more=more)
        except OSError:
            self.gone = True
        return not self.gone


def prompt_size(messages: list[Any]) -> tuple[int, int]:
    """UTF-8 bytes of the messages (an upper bound on their tokens) and their image count."""
    images = sum(
        1
        for message in messages
        if isinstance(message.get("content"), list)
        for part in message["content"]
        if isinstance(part, dict) and part.get("type") in ("image_url", "input_image")
    )
    return len(dumps(messages)), images
