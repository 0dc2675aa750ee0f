"""POST /v1/chat/completions and POST /v1/messages: hold, call upstream, settle, answer.

One pipeline serves both client formats: an Anthropic Messages request is translated into the
OpenAI chat request every adapter understands, and the answer is translated back. Whatever
happens after the hold, the settle runs: a failure before output charges nothing, a stream
cut before usage arrived is charged an estimate and marked so.
"""

from __future__ import annotations

import asyncio
import math
import time
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

from tollgate import clock, pricing
from tollgate.catalog import Model
from tollgate.errors import (
    BadRequest,
    InternalError,
    NotFound,
    RateLimited,
    TollgateError,
    UpstreamError,
    UpstreamTimeout,
    anthropic_body,
    openai_body,
)
from tollgate.money import format_usd
from tollgate.observability import logger, metrics
from tollgate.providers import adapter_for
from tollgate.providers.base import ProviderError, Usage
from tollgate.proxy.http import Request, Send, dumps, send_chunk, send_json, start
from tollgate.proxy.runtime import Runtime
from tollgate.proxy.threads import blocking
from tollgate.proxy.upstream import UpstreamUnreachable
from tollgate.sse import encode
from tollgate.store.hotpath import Hold, KeyRecord, UsageRecord
from tollgate.wire import anthropic_messages

ATTEMPTS_PER_ROUTE = 2
HOLD_LIFETIME = timedelta(seconds=300 + 60)  # the function's timeout plus a margin
CHARS_PER_TOKEN = 4  # for estimates only, when an upstream never reported usage


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


@dataclass
class Outcome:
    """What the settle records: filled in as the call goes."""

    status_code: int = 200
    status: str = "settled"
    error_type: str | None = None
    route: int = 0
    model: Model | None = None
    usage: Usage = field(default_factory=Usage)
    usage_estimated: bool = False
    upstream_started: float | None = None
    upstream_ms: int = 0


class ChatCall:
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
        self.runtime = runtime
        self.request = request
        self.key = key
        self.body = body
        self.wire = wire
        self.requested = requested
        self.started = time.monotonic()
        self.outcome = Outcome()

    # -- the pipeline ----------------------------------------------------------------------
    async def run(self, send: Send) -> None:
        model = self._validate()
        routes = [m for m in self.runtime.catalog.routes(model) if m.supports("chat")]
        prompt_bytes, images = prompt_size(self.body["messages"])
        max_output = _max_output(self.body)
        amount = max(
            pricing.chat_hold(m, prompt_bytes=prompt_bytes, images=images, max_output=max_output)
            for m in routes
        )
        now = clock.utcnow()
        hold = Hold(
            request_id=self.request.request_id,
            account_id=self.key.account_id,
            key_id=self.key.key_id,
            model=model.id,
            amount=amount,
            created_at=now,
            expires_at=now + HOLD_LIFETIME,
        )
        await blocking(self.runtime.hotpath.hold, hold)
        self.outcome.model = model
        try:
            if self.body.get("stream"):
                await self._stream(routes, hold, send)
            else:
                await self._complete(routes, hold, send)
        except TollgateError as error:
            self.outcome.status_code, self.outcome.status = error.status, "error"
            self.outcome.error_type = error.code
            await self._settle(hold)
            raise
        except BaseException:
            self.outcome.status_code, self.outcome.status = 500, "error"
            self.outcome.error_type = "internal_error"
            await self._settle(hold)
            raise

    async def _complete(self, routes: list[Model], hold: Hold, send: Send) -> None:
        model, adapter, response = await self._open(routes, stream=False)
        raw = await response.read()
        self._upstream_done()
        try:
            completion, usage = adapter.parse_chat(response.status, raw, model_id=model.id)
        except ProviderError as error:
            raise UpstreamError(f"The upstream answer was unusable: {error.message}") from None
        self.outcome.usage = usage
        charge = await self._settle(hold)
        completion.setdefault("usage", usage.openai())["cost"] = _usd_number(charge)
        if self.wire == "anthropic":
            completion = anthropic_messages.from_chat_completion(completion, model=self.requested)
        await send_json(send, 200, completion, self._headers(charge))

    async def _stream(self, routes: list[Model], hold: Hold, send: Send) -> None:
        model, adapter, response = await self._open(routes, stream=True)
        translator = adapter.chat_stream(model_id=model.id)
        client = _ClientStream(self.wire, send, self.requested)
        await start(send, 200, {**self._headers(None), "content-type": "text/event-stream"})
        failure: TollgateError | None = None
        try:
            async for data in response.chunks():
                if not await client.send_chunks(translator.feed(data)):
                    break
            else:
                await client.send_chunks(translator.close())
        except ProviderError as error:
            failure = UpstreamError(
                f"The upstream stream broke: {error.message}", code="stream_cut"
            )
        except OSError as error:
            failure = UpstreamError(f"The upstream stream was cut: {error}", code="stream_cut")
        except Exception:
            logger.exception("stream failed", extra={"request_id": self.request.request_id})
            failure = InternalError("The stream failed inside the gateway.")
        finally:
            response.close()
            self._upstream_done()
        if not translator.completed and failure is None and not client.gone:
            failure = UpstreamError("The upstream stream ended early.", code="stream_cut")
        usage = translator.usage if translator.completed else None
        if usage is None:
            usage = self._estimate(translator.output_chars)
        self.outcome.usage = usage
        if failure is not None or client.gone:
            self.outcome.status = "cut"
            self.outcome.error_type = "client_disconnected" if client.gone else failure.code
        charge = await self._settle(hold)
        if failure is not None:
            await client.fail(failure)
        else:
            await client.finish(usage, charge, translator.finish_reason, self._include_usage())

    # -- upstream ---------------------------------------------------------------------------
    async def _open(self, routes: list[Model], *, stream: bool):
        """The first route that answers 2xx, retrying 429, 5xx and connection errors before
        any byte reached the client, then falling back to the next route."""
        last: TollgateError = UpstreamError("No upstream answered.")
        for index, model in enumerate(routes):
            provider = self.runtime.catalog.provider_of(model)
            adapter = adapter_for(provider.kind)
            api_key = await blocking(self.runtime.provider_keys.for_provider, provider)
            call = adapter.build_chat(
                self.body, model=model, provider=provider, api_key=api_key, stream=stream
            )
            for attempt in range(ATTEMPTS_PER_ROUTE):
                self.outcome.upstream_started = time.monotonic()
                try:
                    response = await self.runtime.upstream.send(call)
                except UpstreamUnreachable as error:
                    if error.timeout:  # the upstream may still be working: do not pay twice
                        raise _unreachable(error) from None
                    last = _unreachable(error)
                    continue
                if response.status < 400:
                    self.outcome.route, self.outcome.model = index, model
                    return model, adapter, response
                error = adapter.error_from(response.status, await response.read(), response.headers)
                if not error.retryable:
                    raise _client_error(error)
                last = _retry_exhausted(error)
                await asyncio.sleep(_backoff(attempt, error.retry_after))
            logger.warning("route failed", extra={"route": index, "code": last.code})
        raise last

    def _upstream_done(self) -> None:
        if self.outcome.upstream_started is not None:
            elapsed = time.monotonic() - self.outcome.upstream_started
            self.outcome.upstream_ms = int(elapsed * 1000)

    # -- settle -----------------------------------------------------------------------------
    async def _settle(self, hold: Hold) -> int:
        outcome, model = self.outcome, self.outcome.model
        charge = pricing.chat_charge(model, outcome.usage) if outcome.status != "error" else 0
        if charge > hold.amount:
            metrics.add_metric(name="ChargeCappedAtHold", unit="Count", value=1)
            charge = hold.amount
        total_ms = int((time.monotonic() - self.started) * 1000)
        usage = outcome.usage
        record = UsageRecord(
            request_id=hold.request_id,
            account_id=hold.account_id,
            key_id=hold.key_id,
            model=model.id,
            provider=model.provider,
            upstream_model=model.upstream_id,
            route=outcome.route,
            endpoint="messages" if self.wire == "anthropic" else "chat.completions",
            stream=bool(self.body.get("stream")),
            status_code=outcome.status_code,
            status=outcome.status,
            created_at=hold.created_at,
            input_tokens=usage.input_tokens,
            output_tokens=usage.output_tokens,
            cached_tokens=usage.cached_tokens,
            cache_write_tokens=usage.cache_write_tokens,
            reasoning_tokens=usage.reasoning_tokens,
            error_type=outcome.error_type,
            latency_ms=total_ms,
            upstream_latency_ms=outcome.upstream_ms,
            overhead_ms=max(0, total_ms - outcome.upstream_ms),
            hold=hold.amount,
            charge=charge,
            usage_estimated=outcome.usage_estimated,
        )
        settled = await blocking(self.runtime.hotpath.settle, hold, record)
        if not settled:
            logger.warning("hold already released", extra={"request_id": hold.request_id})
        metrics.add_metric(name="GatewayOverheadMs", unit="Milliseconds", value=record.overhead_ms)
        return charge

    def _estimate(self, output_chars: int) -> Usage:
        self.outcome.usage_estimated = True
        prompt_bytes, _ = prompt_size(self.body["messages"])
        return Usage(
            input_tokens=math.ceil(prompt_bytes / CHARS_PER_TOKEN),
            output_tokens=math.ceil(output_chars / CHARS_PER_TOKEN),
        )

    # -- request checks and response details --------------------------------------------------
    def _validate(self) -> Model:
        model_id = self.body.get("model")
        if not isinstance(model_id, str) or not model_id:
            raise BadRequest("'model' is required.", param="model")
        messages_ = self.body.get("messages")
        if not isinstance(messages_, list) or not messages_:
            raise BadRequest("'messages' must be a non-empty list.", param="messages")
        if not all(isinstance(m, dict) and isinstance(m.get("role"), str) for m in messages_):
            raise BadRequest("Every message needs a 'role'.", param="messages")
        for name in ("max_tokens", "max_completion_tokens"):
            value = self.body.get(name)
            if value is not None and (not isinstance(value, int) or value < 1):
                raise BadRequest(f"'{name}' must be a positive integer.", param=name)
        model = self.runtime.catalog.model(model_id)
        if model is None:
            raise NotFound(
                f"The model '{model_id}' does not exist.", code="model_not_found", param="model"
            )
        if not model.supports("chat"):
            raise BadRequest(
                f"The model '{model_id}' does not support chat completions.",
                code="unsupported_endpoint",
                param="model",
            )
        return model

    def _include_usage(self) -> bool:
        options = self.body.get("stream_options") or {}
        return bool(options.get("include_usage")) if isinstance(options, dict) else False

    def _headers(self, charge: int | None) -> dict[str, str]:
        headers = {"x-request-id": self.request.request_id}
        if charge is not None:
            headers["x-tollgate-cost"] = format_usd(charge)
        return headers


class _ClientStream:
    """Writes translated chunks to the client in its wire format and notices it leaving."""

    def __init__(self, wire: str, send: Send, requested: Any) -> None:
        self.wire = wire
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
        usage_body = {**usage.openai(), "cost": _usd_number(charge)}
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


def _max_output(body: dict[str, Any]) -> int | None:
    value = body.get("max_completion_tokens") or body.get("max_tokens")
    n = body.get("n") or 1
    return value * n if isinstance(value, int) and isinstance(n, int) else value


def _usd_number(nanos: int) -> float:
    return float(format_usd(nanos))


def _backoff(attempt: int, retry_after: float | None) -> float:
    return min(retry_after if retry_after is not None else 0.2 * 2**attempt, 2.0)


def _unreachable(error: UpstreamUnreachable) -> TollgateError:
    if error.timeout:
        return UpstreamTimeout("The upstream provider did not answer in time.")
    return UpstreamError("The upstream provider could not be reached.")


def _retry_exhausted(error: ProviderError) -> TollgateError:
    if error.status == 429:
        return RateLimited(
            "The upstream provider is rate limiting requests; retry shortly.",
            retry_after_seconds=int(error.retry_after or 1),
            code="upstream_rate_limited",
        )
    return UpstreamError(f"The upstream provider failed ({error.status}): {error.message}")


def _client_error(error: ProviderError) -> TollgateError:
    """A non-retryable upstream answer: the client's request was at fault (4xx) or not."""
    if error.status in (400, 404, 413, 422):
        return BadRequest(f"The upstream provider refused the request: {error.message}")
    return UpstreamError(f"The upstream provider failed ({error.status}): {error.message}")
