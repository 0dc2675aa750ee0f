"""Small, strict checks for management API request bodies; each error names its field."""

from __future__ import annotations

import json
import math
import re
from collections.abc import Collection, Mapping
from typing import Any

from tollgate.errors import BadRequest

_EMAIL = re.compile(r"^[^@\s]{1,64}@[^@\s]+\.[^@\s]{2,}$")
MAX_JSON_DEPTH = 64  # far above any real body; keeps recursive code far from Python's limit


def strict_json(raw: str | bytes) -> Any:
    """``json.loads`` without Python's extensions: NaN, Infinity and numbers that overflow a
    float are refused, and so is nesting deeper than MAX_JSON_DEPTH (json.loads itself dies
    with RecursionError near 1,000 levels). ValueError (or UnicodeDecodeError) says why."""
    try:
        value = json.loads(raw, parse_constant=_no_constant, parse_float=_finite_float)
    except RecursionError:
        raise ValueError(f"nested deeper than {MAX_JSON_DEPTH} levels") from None
    if _deeper_than(value, MAX_JSON_DEPTH):
        raise ValueError(f"nested deeper than {MAX_JSON_DEPTH} levels")
    return value


def _no_constant(name: str) -> Any:
    raise ValueError(f"{name} is not a JSON number")


def _finite_float(text: str) -> float:
    value = float(text)
    if not math.isfinite(value):
        raise ValueError(f"{text} does not fit a 64-bit float")
    return value


def _deeper_than(value: Any, limit: int) -> bool:
    pending = [(value, 1)]
    while pending:
        item, depth = pending.pop()
        if isinstance(item, dict):
            children = list(item.values())
        elif isinstance(item, list):
            children = item
        else:
            continue
        if depth > limit:
            return True
        pending.extend((child, depth + 1) for child in children)
    return False


def json_object(raw: str | bytes) -> dict[str, Any]:
    """A request body that must be a JSON object, or a 400 saying what is wrong with it."""
    try:
        body = strict_json(raw)
    except ValueError as error:
        raise BadRequest(
            f"The request body is not valid JSON: {error}.", code="invalid_json"
        ) from None
    if not isinstance(body, dict):
        raise BadRequest("The request body must be a JSON object.", code="invalid_json")
    return body


def reject_unknown_fields(body: Mapping[str, Any], allowed: Collection[str]) -> None:
    unknown = sorted(set(body) - set(allowed))
    if unknown:
        raise BadRequest(
            f"Unknown field(s): {', '.join(unknown)}. Allowed: {', '.join(sorted(allowed))}.",
            param=unknown[0],
        )


def text_field(
    body: Mapping[str, Any],
    name: str,
    *,
    required: bool = False,
    default: str = "",
    max_length: int = 200,
) -> str:
    if name not in body or body[name] is None:
        if required:
            raise BadRequest(f"'{name}' is required.", param=name)
        return default
    value = body[name]
    if not isinstance(value, str):
        raise BadRequest(f"'{name}' must be a string.", param=name)
    value = value.strip()
    if required and not value:
        raise BadRequest(f"'{name}' must not be empty.", param=name)
    if len(value) > max_length:
        raise BadRequest(f"'{name}' must be at most {max_length} characters.", param=name)
    return value


def choice_field(body: Mapping[str, Any], name: str, choices: Collection[str], default: str) -> str:
    value = body.get(name, default)
    if value not in choices:
        raise BadRequest(
            f"'{name}' must be one of: {', '.join(sorted(choices))}.",
            param=name,
        )
    return value


def email_field(body: Mapping[str, Any], name: str = "email") -> str:
    value = text_field(body, name, required=True, max_length=254)
    if not _EMAIL.match(value):
        raise BadRequest(f"'{name}' is not a valid email address.", param=name)
    return value
