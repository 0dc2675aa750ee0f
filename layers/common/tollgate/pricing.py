"""What a request may cost (the hold) and what it did cost (the charge), in nano-USD.

The hold is an upper bound: every input token is at least one UTF-8 byte of the request's
billed text (messages, system prompt, tools, tool choice, response format: the whole body but
its controls and image data), each input image counts as the most its model bills one image,
any other input medium (a document, a file, audio) as the model's whole context, and the
output is bounded by the request's max tokens or, failing that, the model's maximum. The
charge prices real usage: cache reads at the cached-input price, cache writes at the
cache-write price, the rest of the prompt at the input price, every output token (reasoning
included) at the output price; prompts above a model's long-context threshold use its
long-context prices. Rounded up once (money.charge_nanos).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

from tollgate.catalog import Model
from tollgate.money import charge_nanos

# The most one input image bills, by upstream model id prefix (first match wins), erring high.
# OpenAI tile models: base + 8 high-detail 512 px tiles (the most a 2048 x 768 image makes);
# patch models: 1,536 patches times the model's multiplier. Anthropic: about 1,600 tokens
# (images are scaled to ~1.15 MP). Gemini: 258 per 768 px tile; nine tiles allowed.
IMAGE_TOKENS: tuple[tuple[str, int], ...] = (
    ("gpt-4o-mini", 2_833 + 8 * 5_667),
    ("gpt-4.1-mini", 2_489),
    ("gpt-4.1-nano", 3_779),
    ("gpt-5-mini", 2_489),
    ("gpt-5-nano", 3_779),
    ("o4-mini", 2_642),
    ("gpt-5", 70 + 8 * 140),
    ("o1", 75 + 8 * 150),
    ("o3", 75 + 8 * 150),
    ("gpt-4", 85 + 8 * 170),
    ("claude", 2_000),
    ("gemini", 9 * 258),
)
UNKNOWN_IMAGE_TOKENS = max(tokens for _, tokens in IMAGE_TOKENS)  # a model not listed above


@dataclass(frozen=True, slots=True)
class ChatInput:
    """What a chat request bills as input, as far as the gateway can bound it."""

    text_bytes: int = 0  # UTF-8 bytes of the billed text: the body but controls and images
    images: int = 0
    other_media: int = 0  # documents, files, audio: bounded by the model's context only


@dataclass(frozen=True, slots=True)
class TokenBound:
    """The most tokens a request can use, input and output."""

    input: int
    output: int

    @property
    def total(self) -> int:
        return self.input + self.output


class TokenUsage(Protocol):
    input_tokens: int
    output_tokens: int
    cached_tokens: int
    cache_write_tokens: int


def image_tokens(model: Model) -> int:
    """The most one input image can bill on ``model``."""
    for prefix, tokens in IMAGE_TOKENS:
        if model.upstream_id.startswith(prefix):
            return tokens
    return UNKNOWN_IMAGE_TOKENS


def chat_bound(
    model: Model, prompt: ChatInput, *, max_output: int | None, choices: int = 1
) -> TokenBound:
    """The most tokens a chat request can bill: its input (never more than the context) and
    ``choices`` answers of at most ``max_output`` tokens each (the model's own maximum when
    unset or larger)."""
    limit = model.max_output_tokens or 0
    output = min(max_output or limit, limit) * max(1, choices)
    if prompt.other_media:
        return TokenBound(model.context_length, output)
    text_and_images = prompt.text_bytes + prompt.images * image_tokens(model)
    return TokenBound(min(text_and_images, model.context_length), output)


def chat_hold(model: Model, prompt: ChatInput, *, max_output: int | None, choices: int = 1) -> int:
    """The most a chat request can cost."""
    bound = chat_bound(model, prompt, max_output=max_output, choices=choices)
    input_price, output_price = _token_prices(model, bound.input)
    return charge_nanos(per_million=[(bound.input, input_price), (bound.output, output_price)])


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


def video_cost(model: Model, resolution: str, seconds: int) -> int:
    """Seconds of video at the model's per-second price for the resolution (exact: no
    rounding, the price is whole nano-USD per second)."""
    assert model.video is not None, "only video models are priced per second"
    return model.video.prices[resolution] * seconds


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
