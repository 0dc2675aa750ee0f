"""Field checks the wire translations share: each refusal is a 400 naming the field."""

from __future__ import annotations

from typing import Any, NoReturn

from tollgate.errors import BadRequest


def expect_list(value: Any, param: str, expected: str) -> list[Any]:
    if not isinstance(value, list):
        fail(f"'{param}' must be {expected}.", param)
    return value


def expect_string(value: Any, param: str) -> str:
    if not isinstance(value, str):
        fail(f"'{param}' is required and must be a string.", param)
    return value


def expect_number(value: Any, param: str) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float):
        fail(f"'{param}' must be a number.", param)
    return value


def fail(message: str, param: str | None) -> NoReturn:
    raise BadRequest(message, param=param)
