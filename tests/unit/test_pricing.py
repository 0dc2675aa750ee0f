"""Holds bound the cost from above; charges price real usage exactly."""

from __future__ import annotations

from dataclasses import dataclass

from tollgate import pricing
from tollgate.catalog import load_catalog
from tollgate.pricing import ChatInput

CATALOG = load_catalog()


@dataclass
class Usage:
    input_tokens: int = 0
    output_tokens: int = 0
    cached_tokens: int = 0
    cache_write_tokens: int = 0


def test_the_charge_prices_input_and_output_at_list_price():
    gpt4o = CATALOG.model("openai/gpt-4o")  # $2.50 in, $10.00 out per 1M

    charge = pricing.chat_charge(gpt4o, Usage(input_tokens=1000, output_tokens=500))

    assert charge == 1000 * 2_500 + 500 * 10_000  # nano-USD per token: 2500 and 10000


def test_cache_reads_and_writes_have_their_own_prices():
    sonnet = CATALOG.model("anthropic/claude-sonnet-4-5")  # 3.00 in, 0.30 read, 3.75 write

    charge = pricing.chat_charge(
        sonnet, Usage(input_tokens=1000, cached_tokens=600, cache_write_tokens=100)
    )

    assert charge == 300 * 3_000 + 600 * 300 + 100 * 3_750


def test_a_prompt_above_the_long_context_threshold_uses_long_context_prices():
    pro = CATALOG.model("gemini/gemini-2.5-pro")
    long = pro.pricing.long_context
    big = long.threshold_tokens + 1

    charge = pricing.chat_charge(pro, Usage(input_tokens=big, output_tokens=10))

    assert charge == -(-(big * long.input + 10 * long.output) // 1_000_000)


def test_one_token_costs_the_per_token_price():
    mini = CATALOG.model("openai/gpt-4o-mini")  # $0.15 per 1M: 150 nano-USD per token

    assert pricing.chat_charge(mini, Usage(input_tokens=1)) == 150


def test_the_hold_covers_the_worst_case_of_the_request():
    gpt4o = CATALOG.model("openai/gpt-4o")

    hold = pricing.chat_hold(gpt4o, ChatInput(text_bytes=400), max_output=100)

    assert hold == 400 * 2_500 + 100 * 10_000
    assert hold >= pricing.chat_charge(gpt4o, Usage(input_tokens=400, output_tokens=100))


def test_without_max_tokens_the_hold_assumes_the_models_maximum_output():
    gpt4o = CATALOG.model("openai/gpt-4o")

    hold = pricing.chat_hold(gpt4o, ChatInput(), max_output=None)

    assert hold == gpt4o.max_output_tokens * 10_000


def test_an_input_image_holds_the_most_its_model_bills_one_image():
    gpt4o, mini = CATALOG.model("openai/gpt-4o"), CATALOG.model("openai/gpt-4o-mini")
    haiku, flash = (
        CATALOG.model("anthropic/claude-haiku-4-5"),
        CATALOG.model("gemini/gemini-2.5-flash"),
    )

    def image_tokens(model):
        bound = pricing.chat_bound(model, ChatInput(images=1), max_output=1)
        return bound.input

    assert image_tokens(gpt4o) >= 85 + 8 * 170  # eight high-detail tiles
    assert image_tokens(mini) >= 2_833 + 8 * 5_667  # gpt-4o-mini bills images ~33x
    assert image_tokens(haiku) >= 1_600
    assert image_tokens(flash) >= 258


def test_a_document_in_the_prompt_holds_the_models_whole_context():
    gpt4o = CATALOG.model("openai/gpt-4o")

    bound = pricing.chat_bound(gpt4o, ChatInput(text_bytes=10, other_media=1), max_output=1)

    assert bound.input == gpt4o.context_length


def test_several_choices_hold_room_for_each_answer():
    gpt4o = CATALOG.model("openai/gpt-4o")

    one = pricing.chat_hold(gpt4o, ChatInput(), max_output=100)
    three = pricing.chat_hold(gpt4o, ChatInput(), max_output=100, choices=3)

    assert three == 3 * one
