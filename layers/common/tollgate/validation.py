"""Small, strict checks for management API request bodies; each error names its field."""

from __future__ import annotations

import json
import re
from collections.abc import Collection, Mapping
from typing import Any

from tollgate.errors import BadRequest

_EMAIL = re.compile(r"^[^@\s]{1,64}@[^@\s]+\.[^@\s]{2,}$")


def json_object(raw: str | bytes) -> dict[str, Any]:
    """A request body that must be a JSON object, or a 400 saying what is wrong with it."""
    try:
        body = json.loads(raw)
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
