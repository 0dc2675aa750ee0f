"""POST /v1/embeddings and POST /v1/images/generations: one answer, one charge.

Embeddings hold the input's UTF-8 bytes as tokens (an upper bound) and are charged the tokens
the upstream reports. Images hold ``n`` images and are charged the images returned.
"""

from __future__ import annotations

from typing import Any

from tollgate import pricing
from tollgate.errors import BadRequest
from tollgate.proxy.http import Request, Send, dumps
from tollgate.proxy.pipeline import ProxyCall, usd_number
from tollgate.proxy.runtime import Runtime
from tollgate.store.hotpath import Hold, KeyRecord

MAX_IMAGES = 10


async def embeddings(runtime: Runtime, request: Request, key: KeyRecord, send: Send) -> None:
    await EmbeddingsCall(runtime, request, key, await request.json()).run(send)


async def images(runtime: Runtime, request: Request, key: KeyRecord, send: Send) -> None:
    await ImagesCall(runtime, request, key, await request.json()).run(send)


class EmbeddingsCall(ProxyCall):
    endpoint = "embeddings"
    record_endpoint = "embeddings"

    async def run(self, send: Send) -> None:
        model = self.model_for(self.body.get("model"))
        if self.body.get("input") in (None, "", []):
            raise BadRequest("'input' is required.", param="input")
        tokens = len(dumps(self.body["input"]))  # bytes: an upper bound on the input's tokens
        amount = max(pricing.embeddings_cost(m, tokens) for m in self.routes(model))

        async def work(hold: Hold) -> None:
            chosen, adapter, response = await self.open_upstream(
                self.routes(model),
                lambda adapter, m, provider, api_key: adapter.build_embeddings(
                    self.body, model=m, provider=provider, api_key=api_key
                ),
            )
            answer, usage = await self.read_answer(
                response,
                lambda status, raw: adapter.parse_embeddings(
                    status, raw, model_id=chosen.id, request=self.body
                ),
            )
            self.outcome.usage = usage
            record = self.charge_for(hold, pricing.embeddings_cost(chosen, usage.input_tokens))
            _add_cost(answer, record.charge)
            await self.answer_then_settle(send, hold, answer, record)

        await self.held(model, amount, work, tokens=tokens)


class ImagesCall(ProxyCall):
    endpoint = "images"
    record_endpoint = "images.generations"

    async def run(self, send: Send) -> None:
        model = self.model_for(self.body.get("model"))
        if not isinstance(self.body.get("prompt"), str) or not self.body["prompt"]:
            raise BadRequest("'prompt' is required.", param="prompt")
        count = self.body.get("n", 1)
        if not isinstance(count, int) or not 1 <= count <= MAX_IMAGES:
            raise BadRequest(f"'n' must be between 1 and {MAX_IMAGES}.", param="n")
        amount = max(pricing.images_cost(m, count) for m in self.routes(model))

        async def work(hold: Hold) -> None:
            chosen, adapter, response = await self.open_upstream(
                self.routes(model),
                lambda adapter, m, provider, api_key: adapter.build_images(
                    self.body, model=m, provider=provider, api_key=api_key
                ),
            )
            answer, usage = await self.read_answer(
                response, lambda status, raw: adapter.parse_images(status, raw, model_id=chosen.id)
            )
            self.outcome.usage = usage
            made = len(answer.get("data") or [])
            record = self.charge_for(hold, pricing.images_cost(chosen, made))
            _add_cost(answer, record.charge)
            await self.answer_then_settle(send, hold, answer, record)

        # the prompt's bytes; the tokens of the images made are counted when they are known
        await self.held(model, amount, work, tokens=len(dumps(self.body["prompt"])))


def _add_cost(answer: dict[str, Any], charge: int) -> None:
    usage = answer.get("usage")
    if not isinstance(usage, dict):
        usage = answer["usage"] = {}
    usage["cost"] = usd_number(charge)
