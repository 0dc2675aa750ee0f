import random
from decimal import Decimal
from fractions import Fraction

import pytest

from tollgate.money import (
    NANOS_PER_USD,
    MoneyError,
    ceil_div,
    charge_nanos,
    format_usd,
    parse_usd,
)

# --- parse_usd -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "nanos"),
    [
        ("20", 20 * NANOS_PER_USD),
        ("20.5", 20_500_000_000),
        ("2.50", 2_500_000_000),
        ("0.075", 75_000_000),
        ("0.000000001", 1),
        ("0", 0),
        ("0.0", 0),
        ("123456789012345.999999999", 123_456_789_012_345_999_999_999),
    ],
)
def test_parse_usd_converts_decimal_usd_to_nanos_exactly(text, nanos):
    assert parse_usd(text) == nanos


def test_parse_usd_accepts_a_negative_amount_only_when_allowed():
    assert parse_usd("-1.50", allow_negative=True) == -1_500_000_000

    with pytest.raises(MoneyError, match="negative"):
        parse_usd("-1.50")


@pytest.mark.parametrize(
    "text",
    [
        "",
        " 1",
        "1 ",
        "1\n",
        "1e3",
        "1E-3",
        "+1",
        "nan",
        "NaN",
        "inf",
        "-Infinity",
        "1.",
        ".5",
        "1.2.3",
        "1,000",
        "1_000",
        "0x10",
        "01",
        "--1",
        "$1",
        "\u0663",  # ARABIC-INDIC DIGIT THREE: a digit to str.isdigit, not to us
    ],
)
def test_parse_usd_rejects_anything_but_a_plain_decimal(text):
    with pytest.raises(MoneyError, match="is not a decimal USD amount"):
        parse_usd(text, allow_negative=True)


def test_parse_usd_rejects_more_than_nine_decimal_places():
    with pytest.raises(MoneyError, match="more than 9 decimal places"):
        parse_usd("0.0000000001")


def test_parse_usd_rejects_absurdly_large_amounts():
    with pytest.raises(MoneyError, match="too large"):
        parse_usd("1" * 5000)


@pytest.mark.parametrize("value", [1, 2.5, None, Decimal("2.50"), b"2.50"])
def test_parse_usd_rejects_non_string_input(value):
    with pytest.raises(MoneyError, match="expected a string"):
        parse_usd(value)


def test_money_error_is_a_value_error():
    with pytest.raises(ValueError):
        parse_usd("abc")


# --- format_usd ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("nanos", "text"),
    [
        (10_000_000_000, "10.00"),
        (123_000, "0.000123"),
        (1, "0.000000001"),
        (-1_500_000_000, "-1.50"),
        (0, "0.00"),
        (1_230_000_000, "1.23"),
        (1_234_000_000, "1.234"),
        (100_000_000, "0.10"),
        (-1, "-0.000000001"),
    ],
)
def test_format_usd_shows_at_least_two_decimals_and_no_trailing_zeros_beyond(nanos, text):
    assert format_usd(nanos) == text


@pytest.mark.parametrize("nanos", [0, 1, 999_999_999, 10**9, 12_345_678_901, -987_654_321])
def test_format_usd_round_trips_through_parse_usd(nanos):
    assert parse_usd(format_usd(nanos), allow_negative=True) == nanos


@pytest.mark.parametrize("value", [1.5, True, "1", None])
def test_format_usd_rejects_anything_but_an_int(value):
    with pytest.raises(MoneyError):
        format_usd(value)


# --- ceil_div --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("numerator", "denominator", "result"),
    [(7, 2, 4), (6, 2, 3), (0, 5, 0), (1, 10**6, 1), (-7, 2, -3), (10**30 + 1, 10**15, 10**15 + 1)],
)
def test_ceil_div_is_the_exact_integer_ceiling(numerator, denominator, result):
    assert ceil_div(numerator, denominator) == result


@pytest.mark.parametrize("denominator", [0, -3])
def test_ceil_div_requires_a_positive_denominator(denominator):
    with pytest.raises(MoneyError, match="denominator"):
        ceil_div(1, denominator)


# --- charge_nanos ----------------------------------------------------------------------------


def test_a_real_token_price_charges_whole_nanos_per_token():
    per_million = parse_usd("0.075")  # USD per 1M tokens = 75 nano-USD per token

    assert charge_nanos(per_million=[(1, per_million)]) == 75
    assert charge_nanos(per_million=[(1000, per_million)]) == 75_000


def test_a_sub_nano_cost_is_rounded_up_to_one_nano():
    per_million = parse_usd("0.000075")  # 0.075 nano-USD per token

    assert charge_nanos(per_million=[(1, per_million)]) == 1


def test_many_sub_nano_tokens_are_summed_before_rounding():
    per_million = parse_usd("0.000075")  # 0.075 nano-USD per token

    assert charge_nanos(per_million=[(1000, per_million)]) == 75
    assert charge_nanos(per_million=[(1001, per_million)]) == 76  # 75.075 rounds up once


def test_mixed_components_are_summed_before_the_single_rounding():
    input_price = parse_usd("0.0004")  # 0.4 nano-USD per token
    output_price = parse_usd("0.0004")

    # 0.4 + 0.4 = 0.8 nano-USD: one nano, not the two that rounding each part would give
    assert charge_nanos(per_million=[(1, input_price), (1, output_price)]) == 1


def test_per_unit_components_add_to_token_components_exactly():
    per_image = parse_usd("0.04")
    input_price = parse_usd("0.0005")  # 0.5 nano-USD per token

    charge = charge_nanos(per_million=[(1, input_price)], per_unit=[(2, per_image)])

    assert charge == 80_000_001  # 2 images at 40M nanos + 0.5 nano, rounded up once


def test_video_seconds_are_priced_per_unit():
    assert charge_nanos(per_unit=[(8, parse_usd("0.40"))]) == 3_200_000_000


def test_charge_is_never_below_the_exact_cost_nor_more_than_one_nano_above():
    rng = random.Random(20261101)
    for _ in range(500):
        per_million = [
            (rng.randrange(0, 2_000_000), rng.randrange(0, 80 * NANOS_PER_USD)) for _ in range(4)
        ]
        per_unit = [(rng.randrange(0, 20), rng.randrange(0, NANOS_PER_USD)) for _ in range(2)]
        exact = sum(Fraction(units * price, 10**6) for units, price in per_million) + sum(
            units * price for units, price in per_unit
        )

        charge = charge_nanos(per_million=per_million, per_unit=per_unit)

        assert exact <= charge < exact + 1


def test_nothing_used_costs_nothing():
    assert charge_nanos() == 0
    assert charge_nanos(per_million=[(0, parse_usd("10.00"))]) == 0


def test_components_may_be_any_iterable():
    pairs = ((units, parse_usd("1.00")) for units in (1, 2))

    assert charge_nanos(per_million=pairs) == 3_000


@pytest.mark.parametrize(
    ("per_million", "per_unit"),
    [
        ([(-1, 1_000)], []),
        ([], [(-1, 1_000)]),
        ([(1, -1_000)], []),
    ],
)
def test_negative_units_or_prices_are_refused(per_million, per_unit):
    with pytest.raises(MoneyError, match="must not be negative"):
        charge_nanos(per_million=per_million, per_unit=per_unit)


@pytest.mark.parametrize("units", [1.5, "3", True])
def test_units_must_be_integers(units):
    with pytest.raises(MoneyError, match="must be an integer"):
        charge_nanos(per_million=[(units, 1_000)])
