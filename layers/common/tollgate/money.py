"""Money as integer nano-USD (1 USD = 10**9 nano-USD), parsed and formatted exactly.

Rounding rule: a request's charge is the exact sum of all its components (tokens at a price per
1M tokens, images, video seconds), rounded up once to a whole nano-USD, so it is never less than
the exact cost and never more than 1 nano-USD above it.
"""

import re
from collections.abc import Iterable

NANOS_PER_USD = 10**9
TOKENS_PER_PRICE_UNIT = 1_000_000  # catalog token prices are per 1M tokens

_DECIMALS = 9
_MAX_INTEGER_DIGITS = 15  # under a quadrillion USD; also keeps int() far from its digit limit
_DECIMAL_USD = re.compile(r"(-?)(0|[1-9][0-9]*)(?:\.([0-9]+))?")


class MoneyError(ValueError):
    """An amount that is not exact decimal USD, or arithmetic on invalid quantities."""


def parse_usd(text: str, *, allow_negative: bool = False) -> int:
    """Parse a decimal USD string ("20", "2.50", "0.000000001") into nano-USD, exactly."""
    if not isinstance(text, str):
        raise MoneyError(f"{text!r} is not a decimal USD amount: expected a string")
    match = _DECIMAL_USD.fullmatch(text)
    if match is None:
        raise MoneyError(f"{text!r} is not a decimal USD amount")
    sign, whole, fraction = match.groups()
    fraction = fraction or ""
    if sign and not allow_negative:
        raise MoneyError(f"{text!r} is negative; a non-negative USD amount is required")
    if len(fraction) > _DECIMALS:
        raise MoneyError(f"{text!r} has more than {_DECIMALS} decimal places (1 nano-USD)")
    if len(whole) > _MAX_INTEGER_DIGITS:
        raise MoneyError(f"{text!r} is too large")
    nanos = int(whole) * NANOS_PER_USD + int(fraction.ljust(_DECIMALS, "0"))
    return -nanos if sign else nanos


def format_usd(nanos: int) -> str:
    """Format nano-USD as decimal USD: at least 2 decimals, trailing zeros trimmed beyond that."""
    if not isinstance(nanos, int) or isinstance(nanos, bool):
        raise MoneyError(f"{nanos!r} is not an integer amount of nano-USD")
    whole, fraction = divmod(abs(nanos), NANOS_PER_USD)
    digits = f"{fraction:09d}".rstrip("0").ljust(2, "0")
    sign = "-" if nanos < 0 else ""
    return f"{sign}{whole}.{digits}"


def ceil_div(numerator: int, denominator: int) -> int:
    """Exact integer ceiling of numerator / denominator, for a positive denominator."""
    if denominator <= 0:
        raise MoneyError(f"denominator must be positive, got {denominator}")
    return -(-numerator // denominator)


def charge_nanos(
    per_million: Iterable[tuple[int, int]] = (),
    per_unit: Iterable[tuple[int, int]] = (),
) -> int:
    """The charge of one request in nano-USD, rounded up once on the exact total.

    ``per_million``: ``(units, nanos_per_million_units)`` pairs, e.g. tokens at a price per 1M.
    ``per_unit``: ``(units, nanos_per_unit)`` pairs, e.g. images or video seconds.
    """
    # Everything is summed in millionths of a nano-USD, so no component is rounded on its own.
    total = 0
    for units, price in per_million:
        _check_component(units, price)
        total += units * price
    for units, price in per_unit:
        _check_component(units, price)
        total += units * price * TOKENS_PER_PRICE_UNIT
    return ceil_div(total, TOKENS_PER_PRICE_UNIT)


def _check_component(units: int, price: int) -> None:
    for name, value in (("units", units), ("price", price)):
        if not isinstance(value, int) or isinstance(value, bool):
            raise MoneyError(f"{name} must be an integer, got {value!r}")
        if value < 0:
            raise MoneyError(f"{name} must not be negative, got {value}")
