"""DynamoDB attribute values <-> Python values, for the types Tollgate stores.

Numbers are integers only: money is integer nano-USD, and a float would silently lose
precision, so floats (and Decimals) are rejected and fractional numbers fail to read.
"""

from __future__ import annotations

from collections.abc import Mapping

TYPE_CHECKING = False  # typing costs ~4 ms of import; it is only needed by type checkers
if TYPE_CHECKING:
    from typing import Any


def serialize(value: Any) -> dict[str, Any]:
    # bool before int: bool is a subclass of int.
    if isinstance(value, bool):
        return {"BOOL": value}
    if value is None:
        return {"NULL": True}
    if isinstance(value, str):
        return {"S": value}
    if isinstance(value, int):
        return {"N": str(value)}
    if isinstance(value, Mapping):
        return {"M": serialize_item(value)}
    if isinstance(value, list | tuple):
        return {"L": [serialize(v) for v in value]}
    if isinstance(value, set | frozenset):
        return _serialize_set(value)
    raise TypeError(f"cannot store {type(value).__name__} in DynamoDB (numbers must be int)")


def deserialize(attr: Mapping[str, Any]) -> Any:
    ((kind, raw),) = attr.items()
    if kind == "S":
        return raw
    if kind == "N":
        return _number(raw)
    if kind == "BOOL":
        return raw
    if kind == "NULL":
        return None
    if kind == "M":
        return deserialize_item(raw)
    if kind == "L":
        return [deserialize(v) for v in raw]
    if kind == "SS":
        return set(raw)
    if kind == "NS":
        return {_number(v) for v in raw}
    raise TypeError(f"unsupported DynamoDB type {kind!r}")


def serialize_item(item: Mapping[str, Any]) -> dict[str, dict[str, Any]]:
    return {_key(name): serialize(value) for name, value in item.items()}


def deserialize_item(item: Mapping[str, Mapping[str, Any]]) -> dict[str, Any]:
    return {name: deserialize(attr) for name, attr in item.items()}


def _serialize_set(values: set[Any] | frozenset[Any]) -> dict[str, list[str]]:
    if not values:
        raise ValueError("DynamoDB rejects empty sets")
    if all(isinstance(v, str) for v in values):
        return {"SS": sorted(values)}
    if all(isinstance(v, int) and not isinstance(v, bool) for v in values):
        return {"NS": [str(v) for v in sorted(values)]}
    raise TypeError("a set must hold only str or only int")


def _number(raw: str) -> int:
    try:
        return int(raw)
    except ValueError:
        raise ValueError(f"non-integer DynamoDB number {raw!r}") from None


def _key(name: Any) -> str:
    if not isinstance(name, str):
        raise TypeError(f"map keys must be str, not {type(name).__name__}")
    return name
