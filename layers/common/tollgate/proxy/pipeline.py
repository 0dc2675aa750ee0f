"""What every proxied call shares: the hold, the upstream with retries and fallback, the
settle and the usage record. Endpoints (chat, embeddings, images) subclass ``ProxyCall``.

Whatever happens after the hold, the settle runs: a failure before output charges nothing.
An answer goes out before its settle, so that the client waits for one DynamoDB round trip
(the hold), not two: the charge is computed first (``charge_for``), the complete answer sent
with it, and the settle then runs in the same request (``settle_after_answer``). An error
answer settles first: no latency is at stake there.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

from tollgate import clock, key_policy
from tollgate.catalog import Model, Provider
from tollgate.errors import (
    BadRequest,
    NotFound,
    RateLimited,
    TollgateError,
    UpstreamError,
    UpstreamTimeout,
)
from tollgate.money import format_usd
from tollgate.observability import logger, metrics
from tollgate.providers import Adapter, adapter_for
from tollgate.providers.base import ProviderError, UpstreamCall, Usage
from tollgate.proxy.http import Request, Send, dumps, send_chunk, start
from tollgate.proxy.runtime import Runtime
from tollgate.proxy.threads import blocking
from tollgate.proxy.upstream import UpstreamResponse, UpstreamUnreachable
from tollgate.store.hotpath import Hold, KeyRecord, OutcomeUnknown, UsageRecord

ATTEMPTS_PER_ROUTE = 2
HOLD_LIFETIME = timedelta(seconds=300 + 60)  # the function's timeout plus a margin

BuildCall = Callable[[Adapter, Model, Provider, str], UpstreamCall]


@dataclass
class Outcome:
    """What the settle records, filled in as the call goes."""

    status_code: int = 200
    status: str = "settled"
    error_type: str | None = None
    route: int = 0
    model: Model | None = None
    usage: Usage = field(default_factory=Usage)
    usage_estimated: bool = False
    upstream_started: float | None = None
    upstream_ms: int = 0


class ProxyCall:
    endpoint = ""  # the capability in the catalog: chat, embeddings, images
    record_endpoint = ""  # the endpoint name in usage records

    def __init__(
        self, runtime: Runtime, request: Request, key: KeyRecord, body: dict[str, Any]
    ) -> None:
        self.runtime = runtime
        self.request = request
        self.key = key
        self.body = body
        self.started = time.monotonic()
        self.outcome = Outcome()
        self.settled = False

    def model_for(self, model_id: Any) -> Model:
        if not isinstance(model_id, str) or not model_id:
            raise BadRequest("'model' is required.", param="model")
        model = self.runtime.catalog.model(model_id)
        if model is None:
            raise NotFound(
                f"The model '{model_id}' does not exist.", code="model_not_found", param="model"
            )
        key_policy.check_model(self.key.policy, model.id)
        no_training = self.runtime.catalog.provider_of(model).no_training
        key_policy.check_provider(self.key.policy, model.id, no_training=no_training)
        if not model.supports(self.endpoint):
            raise BadRequest(
                f"The model '{model_id}' does not support the {self.endpoint} endpoint.",
                code="unsupported_endpoint",
                param="model",
            )
        return model

    def routes(self, model: Model) -> list[Model]:
        """The model, then those of its fallbacks that serve the endpoint and that the key
        allows (model and provider): a request never reaches a model its key excludes, and is
        held for these only."""
        catalog, policy = self.runtime.catalog, self.key.policy
        return [
            m
            for m in catalog.routes(model)
            if m.supports(self.endpoint)
            and key_policy.allows_model(policy, m.id)
            and key_policy.allows_provider(policy, no_training=catalog.provider_of(m).no_training)
        ]

    async def held(
        self,
        model: Model,
        amount: int,
        work: Callable[[Hold], Awaitable[None]],
        *,
        tokens: int = 0,
    ):
        """Take the hold of ``amount`` (and, for a key with a token rate limit, ``tokens``, the
        most tokens the request can bill), run ``work``, and settle whatever ``work`` did or
        failed to do."""
        now = clock.utcnow()
        hold = Hold(
            request_id=self.request.request_id,
            account_id=self.key.account_id,
            key_id=self.key.key_id,
            model=model.id,
            amount=amount,
            created_at=now,
            expires_at=now + HOLD_LIFETIME,
            endpoint=self.record_endpoint,
            tokens=tokens,
        )
        self.outcome.model = model
        try:
            await blocking(self.runtime.hotpath.hold, hold, self.key.policy, self.key)
        except OutcomeUnknown:  # the hold may be taken: give it back with the error's record
            self._failed(500, "internal_error")
            await self._settle(hold, self.charge_for(hold, 0))
            raise
        try:
            await work(hold)
        except TollgateError as error:
            if not self.settled:
                self._failed(error.status, error.code)
                await self._settle(hold, self.charge_for(hold, 0))
            raise
        except BaseException:
            if not self.settled:
                self._failed(500, "internal_error")
                await self._settle(hold, self.charge_for(hold, 0))
            raise

    def _failed(self, status_code: int, error_type: str) -> None:
        if self.outcome.status == "settled":
            self.outcome.status_code, self.outcome.status = status_code, "error"
            self.outcome.error_type = error_type
            self.outcome.usage = Usage()

    async def open_upstream(
        self, routes: list[Model], build: BuildCall
    ) -> tuple[Model, Adapter, UpstreamResponse]:
        """The first route that answers 2xx. 429, 5xx and connection errors are retried before
        any byte reached the client, then the next route is tried; a timeout ends the call
        (the upstream may still be working on it: trying again could bill twice)."""
        last: TollgateError = UpstreamError("No upstream answered.")
        for index, model in enumerate(routes):
            provider = self.runtime.catalog.provider_of(model)
            adapter = adapter_for(provider.kind)
            api_key = await blocking(self.runtime.provider_keys.for_provider, provider)
            call = build(adapter, model, provider, api_key)
            for attempt in range(ATTEMPTS_PER_ROUTE):
                self.outcome.upstream_started = time.monotonic()
                try:
                    response = await self.runtime.upstream.send(call)
                except UpstreamUnreachable as error:
                    if error.timeout:
                        raise _unreachable(error) from None
                    last = _unreachable(error)
                    continue
                if response.status < 400:
                    self.outcome.route, self.outcome.model = index, model
                    return model, adapter, response
                refusal = adapter.error_from(
                    response.status, await response.read(), response.headers
                )
                if not refusal.retryable:
                    raise _client_error(refusal)
                last = _retry_exhausted(refusal)
                await asyncio.sleep(_backoff(attempt, refusal.retry_after))
            logger.warning("route failed", extra={"route": index, "code": last.code})
        raise last

    async def read_answer(
        self, response: UpstreamResponse, parse: Callable[[int, bytes], Any]
    ) -> Any:
        raw = await response.read()
        self.upstream_done()
        try:
            return parse(response.status, raw)
        except ProviderError as error:
            raise UpstreamError(f"The upstream answer was unusable: {error.message}") from None

    def upstream_done(self) -> None:
        if self.outcome.upstream_started is not None:
            elapsed = time.monotonic() - self.outcome.upstream_started
            self.outcome.upstream_ms = int(elapsed * 1000)

    def charge_for(self, hold: Hold, charge: int, *, stream: bool = False) -> UsageRecord:
        """The call's usage record, charging ``charge`` but never more than the hold (the
        wallet cannot go negative): its ``charge`` is the figure the client is told."""
        if charge > hold.amount:
            metrics.add_metric(name="ChargeCappedAtHold", unit="Count", value=1)
            charge = hold.amount
        outcome, model, usage = self.outcome, self.outcome.model, self.outcome.usage
        assert model is not None, "held() sets the model before anything settles"
        total_ms = int((time.monotonic() - self.started) * 1000)
        return UsageRecord(
            request_id=hold.request_id,
            account_id=hold.account_id,
            key_id=hold.key_id,
            model=model.id,
            requested_model=hold.model,
            provider=model.provider,
            upstream_model=model.upstream_id,
            route=outcome.route,
            endpoint=self.record_endpoint,
            stream=stream,
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

    async def answer_then_settle(
        self, send: Send, hold: Hold, body: dict[str, Any], record: UsageRecord
    ) -> None:
        """Send the complete answer (its cost in ``x-tollgate-cost``, its body's length in
        ``content-length``), then settle ``record``, even when the client has gone."""
        data = dumps(body)
        headers = {
            "content-type": "application/json",
            "content-length": str(len(data)),
            **self.headers(record.charge),
        }
        try:
            await start(send, 200, headers)
            await send_chunk(send, data, more=False)
        except OSError:
            pass  # the client has gone: the upstream's work is charged all the same
        finally:
            await self.settle_after_answer(hold, record)

    async def settle_after_answer(self, hold: Hold, record: UsageRecord) -> None:
        """Settle a call whose answer, with its charge, has gone out: nothing more can be
        said to the client, so a failure is logged and counted, never raised. A settle that
        failed leaves the hold to the reaper (the record says abandoned, nothing charged)."""
        try:
            applied = await self._settle(hold, record)
        except TollgateError:  # InternalError, OutcomeUnknown: after the store's own retries
            self._settle_failed(record)
            return
        except Exception:
            logger.exception("settle broke", extra={"request_id": record.request_id})
            self._settle_failed(record)
            return
        if not applied:
            metrics.add_metric(name="SettleFoundHoldReleased", unit="Count", value=1)

    def _settle_failed(self, record: UsageRecord) -> None:
        logger.warning(
            "settle failed after the answer: the reaper releases the hold",
            extra={"request_id": record.request_id, "charge": record.charge},
        )
        metrics.add_metric(name="SettleFailedAfterAnswer", unit="Count", value=1)

    async def _settle(self, hold: Hold, record: UsageRecord) -> bool:
        """One settle transaction (retried, read back: ``HotPath.settle``); False when the
        reaper had released the hold, and then nothing was written."""
        self.settled = True
        applied = await blocking(self.runtime.hotpath.settle, hold, record, self.key.policy)
        if not applied:
            logger.warning(
                "hold already released: nothing charged",
                extra={"request_id": hold.request_id, "charge": record.charge},
            )
        metrics.add_metric(name="GatewayOverheadMs", unit="Milliseconds", value=record.overhead_ms)
        return applied

    def headers(self, charge: int | None = None, *, hold: Hold | None = None) -> dict[str, str]:
        """The request id, and the cost (a complete answer) or the hold (a stream's start:
        its cost comes in its last event)."""
        headers = {"x-request-id": self.request.request_id}
        if charge is not None:
            headers["x-tollgate-cost"] = format_usd(charge)
        if hold is not None:
            headers["x-tollgate-hold"] = format_usd(hold.amount)
        return headers


def usd_number(nanos: int) -> float:
    """A charge as the JSON number clients read in ``usage.cost``."""
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
    """A non-retryable upstream answer: the request was at fault (4xx) or the upstream was."""
    if error.status in (400, 404, 413, 422):
        return BadRequest(f"The upstream provider refused the request: {error.message}")
    return UpstreamError(f"The upstream provider failed ({error.status}): {error.message}")
