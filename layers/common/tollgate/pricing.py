"""What a request may cost (the hold) and what it did cost (the charge), in nano-USD.

The hold is an upper bound: every prompt token is at least one UTF-8 byte of the prompt's text
(images are counted at a fixed allowance each), and the output is bounded by the request's
max tokens or, failing that, the model's maximum. The charge prices real usage: cache reads at
the cached-input price, cache writes at the cache-write price, the rest of the prompt at the
input price, every output token (reasoning included) at the output price; prompts above a
model's long-context threshold use its long-context prices. Rounded up once (money.charge_nanos).
"""

from __future__ import annotations

from typing import Protocol

from tollgate.catalog import Model
from tollgate.money import charge_nanos

IMAGE_TOKEN_ALLOWANCE = 2_000  # above what any provider bills one input image at


class TokenUsage(Protocol):
    input_tokens: int
    output_tokens: int
    cached_tokens: int
    cache_write_tokens: int


def chat_hold(
    model: Model, *, prompt_bytes: int, images: int, max_output: int | None, choices: int = 1
) -> int:
    """The most a chat request can cost: ``choices`` answers of at most ``max_output`` tokens
    each (the model's own maximum when unset or larger)."""
    limit = model.max_output_tokens or 0
    output = min(max_output or limit, limit) * max(1, choices)
    prompt = min(prompt_bytes + images * IMAGE_TOKEN_ALLOWANCE, model.context_length)
    input_price, output_price = _token_prices(model, prompt)
    return charge_nanos(per_million=[(prompt, input_price), (output, output_price)])


def chat_charge(model: Model, usage: TokenUsage) -> int:
    input_price, output_price = _token_prices(model, usage.input_tokens)
    cached_price, write_price = _cache_prices(model, usage.input_tokens)
    uncached = max(0, usage.input_tokens - usage.cached_tokens - usage.cache_write_tokens)
    return charge_nanos(
        per_million=[
            (uncached, input_price),
            (usage.cached_tokens, cached_price),
            (usage.cache_write_tokens, write_price),
            (usage.output_tokens, output_price),
        ]
    )


def embeddings_cost(model: Model, input_tokens: int) -> int:
    return charge_nanos(per_million=[(input_tokens, model.pricing.input or 0)])


def images_cost(model: Model, count: int) -> int:
    return charge_nanos(per_unit=[(count, model.pricing.per_image or 0)])


def _token_prices(model: Model, prompt_tokens: int) -> tuple[int, int]:
    pricing, long = model.pricing, model.pricing.long_context
    if long is not None and prompt_tokens > long.threshold_tokens:
        return long.input, long.output
    return pricing.input or 0, pricing.output or 0


def _cache_prices(model: Model, prompt_tokens: int) -> tuple[int, int]:
    pricing, long = model.pricing, model.pricing.long_context
    input_price, _ = _token_prices(model, prompt_tokens)
    cached = pricing.cached_input
    if long is not None and prompt_tokens > long.threshold_tokens and long.cached_input:
        cached = long.cached_input
    return (cached if cached is not None else input_price), (pricing.cache_write or input_price)
