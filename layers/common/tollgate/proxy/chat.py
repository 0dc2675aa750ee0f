"""POST /v1/chat/completions, POST /v1/messages and POST /v1/responses.

One pipeline serves every client format: an Anthropic Messages request, or an OpenAI Responses
request, is translated into the OpenAI chat request every adapter understands, and the answer
is translated back; a Responses request bound for an OpenAI route goes there as it came
(``providers.openai_responses``), the chat request serving for its hold. A stream
announces its hold (``x-tollgate-hold``) and ends with its cost in its last event; the settle
runs after that event and before the response ends. A stream cut before the upstream reported
usage, or left by its client, is charged an estimate of what was delivered and marked so
(``cut``, ``client_closed``).
"""

from __future__ import annotations

import asyncio
import dataclasses
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
from tollgate.providers import openai_responses as native
from tollgate.providers.base import ChatStream, ProviderError, Usage
from tollgate.proxy.http import Request, Send, dumps, send_chunk, start
from tollgate.proxy.pipeline import ProxyCall, usd_number
from tollgate.proxy.runtime import Runtime
from tollgate.proxy.upstream import UpstreamResponse
from tollgate.sse import encode
from tollgate.store.hotpath import Hold, KeyRecord
from tollgate.wire import anthropic_messages, openai_responses

CHARS_PER_TOKEN = 4  # for estimates only, when an upstream never reported usage
MAX_CHOICES = 128  # OpenAI's own bound on 'n'; the hold multiplies by it


async def chat_completions(runtime: Runtime, request: Request, key: KeyRecord, send: Send) -> None:
    body = await request.json()
    await ChatCall(runtime, request, key, body, wire="openai").run(send)


async def messages(runtime: Runtime, request: Request, key: KeyRecord, send: Send) -> None:
    body = await request.json()
    chat_body = anthropic_messages.to_chat_request(body)
    await ChatCall(runtime, request, key, chat_body, wire="anthropic").run(send)


async def responses(runtime: Runtime, request: Request, key: KeyRecord, send: Send) -> None:
    body = await request.json()
    chat_body, echo = openai_responses.to_chat_request(body)
    call = ChatCall(runtime, request, key, chat_body, wire="responses", echo=echo, native=body)
    await call.run(send)


RECORD_ENDPOINTS = {"openai": "chat.completions", "anthropic": "messages", "responses": "responses"}


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
        echo: openai_responses.Echo | None = None,
        native: dict[str, Any] | None = None,
    ) -> None:
        super().__init__(runtime, request, key, body)
        self.wire = wire
        self.echo = echo or openai_responses.Echo()  # what a Response repeats of its request
        self.native = native  # the client's Responses request, as it came, for OpenAI routes
        self.record_endpoint = RECORD_ENDPOINTS[wire]
        self.stream = bool(body.get("stream"))

    async def run(self, send: Send) -> None:
        model = self._validate()
        routes = self.routes(model)
        prompt = chat_input(self.body)
        if self.native is not None:
            prompt = native_input(prompt, self.native)
        max_output = self.body.get("max_completion_tokens") or self.body.get("max_tokens")
        n = self.body.get("n")
        choices = n if isinstance(n, int) else 1
        amount = max(
            pricing.chat_hold(m, prompt, max_output=max_output, choices=choices) for m in routes
        )
        tokens = max(
            pricing.chat_bound(m, prompt, max_output=max_output, choices=choices).total
            for m in routes
        )

        async def work(hold: Hold) -> None:
            if self.stream:
                await self._stream(routes, hold, send)
            else:
                await self._complete(routes, hold, send)

        await self.held(model, amount, work, tokens=tokens)

    def _passes_through(self, model: Model) -> bool:
        provider = self.runtime.catalog.provider_of(model)
        return self.native is not None and native.passes_through(provider)

    def _build(self, adapter, model: Model, provider, api_key: str):
        if self.native is not None and native.passes_through(provider):
            return native.build_responses(
                self.native, model=model, provider=provider, api_key=api_key, stream=self.stream
            )
        return adapter.build_chat(
            self.body, model=model, provider=provider, api_key=api_key, stream=self.stream
        )

    async def _complete(self, routes: list[Model], hold: Hold, send: Send) -> None:
        model, adapter, response = await self.open_upstream(routes, self._build)
        if self._passes_through(model):
            answer, usage = await self.read_answer(
                response,
                lambda status, raw: native.parse_response(
                    status, raw, model_id=model.id, echo=self.echo
                ),
            )
        else:
            completion, usage = await self.read_answer(
                response, lambda status, raw: adapter.parse_chat(status, raw, model_id=model.id)
            )
            completion.setdefault("usage", usage.openai())
            answer = self._translated(completion, model)  # first: nothing may fail once charged
        self.outcome.usage = usage
        record = self.charge_for(hold, pricing.chat_charge(model, usage))
        answer["usage"]["cost"] = usd_number(record.charge)
        await self.answer_then_settle(send, hold, answer, record)

    def _translated(self, completion: dict[str, Any], model: Model) -> dict[str, Any]:
        if self.wire == "anthropic":
            return anthropic_messages.from_chat_completion(completion, model=model.id)
        if self.wire == "responses":
            return openai_responses.from_chat_completion(completion, model=model.id, echo=self.echo)
        return completion

    async def _stream(self, routes: list[Model], hold: Hold, send: Send) -> None:
        """Relay the stream, then tell the client what was delivered costs (its last event
        before [DONE], or before the error that ends a broken stream), settle it, and end
        the response."""
        model, adapter, response = await self.open_upstream(routes, self._build)
        translator, encoder = self._stream_codec(model, adapter)
        client = _ClientStream(self.wire, send, translator, encoder)
        headers = {**self.headers(hold=hold), "content-type": "text/event-stream"}
        await start(send, 200, headers)
        failure = await self._relay(response, translator, client)
        if not translator.completed and failure is None and not client.gone:
            failure = UpstreamError("The upstream stream ended early.", code="stream_cut")
        usage = translator.usage if translator.completed and not client.gone else None
        if usage is None:
            usage = self._estimate(translator.output_chars)
        self.outcome.usage = usage
        if client.gone:
            self.outcome.status = self.outcome.error_type = "client_closed"
        elif failure is not None:
            self.outcome.status, self.outcome.error_type = "cut", failure.code
        record = self.charge_for(hold, pricing.chat_charge(model, usage), stream=True)
        try:
            await client.finish(usage, record.charge, translator.finish_reason, failure)
        finally:
            await self.settle_after_answer(hold, record)
            await client.end()

    def _stream_codec(self, model: Model, adapter) -> tuple[ChatStream, _Encoder | None]:
        """What reads the upstream's stream, and what writes the client's events."""
        if self._passes_through(model):
            relayed = native.ResponsesEventStream(model_id=model.id, echo=self.echo)
            return relayed, native.RelayEncoder(relayed)
        return adapter.chat_stream(model_id=model.id), _encoder(self.wire, model.id, self.echo)

    async def _relay(
        self, response: UpstreamResponse, translator: ChatStream, client: _ClientStream
    ) -> TollgateError | None:
        """Upstream chunks to the client until the upstream ends or fails (returned) or the
        client hangs up (``client.gone``): then the upstream read stops and its connection
        is closed, so nothing more is read, nor charged."""
        hang_up = asyncio.ensure_future(self.request.disconnected())
        chunks = response.chunks()
        try:
            while True:
                read = asyncio.ensure_future(anext(chunks))
                await asyncio.wait((read, hang_up), return_when=asyncio.FIRST_COMPLETED)
                if hang_up.done():
                    client.gone = True
                    response.close()  # wakes the read blocked in its worker thread
                    read.cancel()
                    await asyncio.gather(read, return_exceptions=True)
                    return None
                try:
                    data = read.result()
                except StopAsyncIteration:
                    await client.send_chunks(translator.close())
                    return None
                if not await client.send_chunks(translator.feed(data)):
                    return None
        except ProviderError as error:
            return UpstreamError(f"The upstream stream broke: {error.message}", code="stream_cut")
        except OSError as error:
            return UpstreamError(f"The upstream stream was cut: {error}", code="stream_cut")
        except Exception:
            logger.exception("stream failed", extra={"request_id": self.request.request_id})
            return InternalError("The stream failed inside the gateway.")
        finally:
            hang_up.cancel()
            response.close()
            self.upstream_done()

    def _estimate(self, output_chars: int) -> Usage:
        self.outcome.usage_estimated = True
        return Usage(
            input_tokens=math.ceil(chat_input(self.body).text_bytes / CHARS_PER_TOKEN),
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


_Encoder = (
    anthropic_messages.MessagesStreamEncoder
    | openai_responses.ResponsesStreamEncoder
    | native.RelayEncoder
)


def _encoder(wire: str, model_id: str, echo: openai_responses.Echo) -> _Encoder | None:
    """What turns chat chunks into the client's events (None: chat chunks as they are)."""
    if wire == "anthropic":
        return anthropic_messages.MessagesStreamEncoder(model_id)
    if wire == "responses":
        return openai_responses.ResponsesStreamEncoder(model_id, echo)
    return None


class _ClientStream:
    """Writes translated chunks to the client in its wire format, and the stream's end: the
    usage with its cost, then [DONE] (OpenAI), message_stop (Anthropic) or an error event."""

    def __init__(
        self, wire: str, send: Send, translator: ChatStream, encoder: _Encoder | None
    ) -> None:
        self.send = send
        self.gone = False
        self.translator = translator
        self.encoder = encoder
        self.error_body = anthropic_body if wire == "anthropic" else openai_body

    async def send_chunks(self, chunks: list[dict[str, Any]]) -> bool:
        for chunk in chunks:
            data = self.encoder.encode(chunk) if self.encoder else encode(chunk)
            if not await self._write(data):
                return False
        return True

    async def finish(
        self, usage: Usage, charge: int, finish_reason: Any, failure: TollgateError | None
    ) -> None:
        """The stream's last events; the response stays open for the settle (``end``)."""
        usage_body = {**usage.openai(), "cost": usd_number(charge)}
        if self.encoder is not None:
            if failure is None:
                await self._write(self.encoder.finish(usage_body, finish_reason))
                return
            await self._write(self.encoder.usage_before_error(usage_body))
            await self._write(self.encoder.error(self.error_body(failure)))
            return
        # always, asked for with stream_options.include_usage or not: the cost is here
        await self._write(encode({**self._chunk_fields(), "choices": [], "usage": usage_body}))
        await self._write(encode("[DONE]") if failure is None else encode(openai_body(failure)))

    async def end(self) -> None:
        await self._write(b"", more=False)

    def _chunk_fields(self) -> dict[str, Any]:
        return {
            "id": self.translator.id,
            "object": "chat.completion.chunk",
            "created": self.translator.created,
            "model": self.translator.model_id,
        }

    async def _write(self, data: bytes, *, more: bool = True) -> bool:
        if self.gone:
            return False
        try:
            await send_chunk(self.send, data, more=more)
        except OSError:
            self.gone = True
        return not self.gone


IMAGE_PARTS = ("image_url", "input_image")
TEXT_PARTS = ("text", "input_text", "output_text", "refusal")
# Settings of a chat request that are not billed as input; every other field is (erring high).
CONTROLS = frozenset(
    {
        "model", "max_tokens", "max_completion_tokens", "n", "stream", "stream_options",
        "temperature", "top_p", "seed", "user", "store", "logprobs", "top_logprobs",
        "presence_penalty", "frequency_penalty", "parallel_tool_calls", "service_tier",
        "reasoning_effort",
    }
)  # fmt: skip

NATIVE_UNBILLED = CONTROLS | {"metadata", "max_output_tokens", "include", "truncation"}


def chat_input(body: dict[str, Any]) -> pricing.ChatInput:
    """What a chat request bills as input: the UTF-8 bytes of the whole body but its controls
    (``CONTROLS``) and images (messages, tools, tool choice, response format...: an upper
    bound on their tokens), its images by count, and the number of parts of any other kind
    (documents, files, audio)."""
    images = other = 0
    messages = []
    for message in body.get("messages") or []:
        content = message.get("content") if isinstance(message, dict) else None
        if not isinstance(content, list):
            messages.append(message)
            continue
        parts = []
        for part in content:
            kind = part.get("type") if isinstance(part, dict) else None
            if kind in IMAGE_PARTS:
                images += 1
                continue  # billed as an image, not as the bytes of its URL or data
            if kind not in TEXT_PARTS:
                other += 1
            parts.append(part)
        messages.append({**message, "content": parts})
    billed = {name: value for name, value in body.items() if name not in CONTROLS}
    text_bytes = len(dumps({**billed, "messages": messages}))
    return pricing.ChatInput(text_bytes=text_bytes, images=images, other_media=other)


def native_input(translated: pricing.ChatInput, request: dict[str, Any]) -> pricing.ChatInput:
    """The billed input of a Responses request that may go to OpenAI as it came: at least the
    bytes of the whole request (but its controls and the metadata that never goes upstream),
    since what the translation drops (reasoning items) still reaches OpenAI there."""
    billed = {name: value for name, value in request.items() if name not in NATIVE_UNBILLED}
    text_bytes = max(translated.text_bytes, len(dumps(billed)))
    return dataclasses.replace(translated, text_bytes=text_bytes)
