"""A deterministic instance of a schema: what the mock models answer for structured output
and tool arguments.

Reads JSON Schema (as OpenAI, Anthropic and Pydantic write it: ``$ref`` to ``$defs`` or
``definitions``, ``anyOf``/``oneOf`` with ``null``, type lists) and Gemini's OpenAPI subset
(upper-case types, ``nullable``). The rules: ``const``, then the first ``enum`` value; the
first branch of ``anyOf``/``oneOf`` that is not ``null``; ``allOf`` merged; an object gets
its required properties (every property when ``required`` is absent); an array gets
``minItems`` items (at least one, at most ``maxItems``); numbers lie inside their bounds;
strings follow their ``format`` and length bounds. Deeper than ``MAX_DEPTH``, a value is
``null`` where the schema allows it and an array empty where it may be, so recursive
schemas end.
"""

from __future__ import annotations

import math
from typing import Any

MAX_DEPTH = 8
_FORMATS = {
    "date": "2026-01-01",
    "date-time": "2026-01-01T12:00:00Z",
    "time": "12:00:00",
    "email": "user@example.com",
    "uuid": "00000000-0000-4000-8000-000000000000",
    "uri": "https://example.com/",
    "hostname": "example.com",
    "ipv4": "192.0.2.1",
}
_NOTHING = object()


def instance_of(schema: Any, name: str = "value") -> Any:
    """A value valid against ``schema`` (``name`` flavours plain strings)."""
    if not isinstance(schema, dict):
        return {}
    return _Generator(schema).value(schema, name, 0)


class _Generator:
    def __init__(self, root: dict[str, Any]) -> None:
        self.root = root

    def value(self, schema: Any, name: str, depth: int) -> Any:
        schema = self._resolved(schema)
        if "const" in schema:
            return schema["const"]
        if isinstance(schema.get("enum"), list) and schema["enum"]:
            return schema["enum"][0]
        branch = self._branch(schema, deep=depth > MAX_DEPTH)
        if branch is not _NOTHING:
            return self.value(branch, name, depth + 1)
        kind = _kind(schema)
        if (depth > MAX_DEPTH and _nullable(schema)) or depth > 4 * MAX_DEPTH:
            return None
        if kind == "object":
            return self._object(schema, depth)
        if kind == "array":
            return self._array(schema, name, depth)
        if kind in ("integer", "number"):
            return _number(schema, integer=kind == "integer")
        if kind == "boolean":
            return True
        if kind == "null":
            return None
        return _string(schema, name)

    def _resolved(self, schema: Any) -> dict[str, Any]:
        seen = 0
        while isinstance(schema, dict) and isinstance(schema.get("$ref"), str) and seen < 32:
            target = self._pointer(schema["$ref"])
            rest = {k: v for k, v in schema.items() if k != "$ref"}
            schema = {**target, **rest}
            seen += 1
        return schema if isinstance(schema, dict) else {}

    def _pointer(self, ref: str) -> dict[str, Any]:
        if not ref.startswith("#"):
            return {}
        node: Any = self.root
        for token in filter(None, ref[1:].split("/")):
            token = token.replace("~1", "/").replace("~0", "~")
            node = node.get(token) if isinstance(node, dict) else None
        return node if isinstance(node, dict) else {}

    def _branch(self, schema: dict[str, Any], *, deep: bool) -> Any:
        for key in ("anyOf", "oneOf"):
            options = schema.get(key)
            if isinstance(options, list) and options:
                null = [o for o in options if _kind(self._resolved(o)) == "null"]
                solid = [o for o in options if o not in null]
                return (null if deep and null else solid or options)[0]
        parts = schema.get("allOf")
        if isinstance(parts, list) and parts:
            merged: dict[str, Any] = {k: v for k, v in schema.items() if k != "allOf"}
            for part in map(self._resolved, parts):
                joined = {**part, **merged}
                for key in ("properties", "required"):
                    if key in part and key in merged:
                        joined[key] = _joined(merged[key], part[key])
                merged = joined
            return merged
        return _NOTHING

    def _object(self, schema: dict[str, Any], depth: int) -> dict[str, Any]:
        properties = schema.get("properties")
        properties = properties if isinstance(properties, dict) else {}
        required = schema.get("required")
        if not isinstance(required, list):
            return {key: self.value(value, key, depth + 1) for key, value in properties.items()}
        names = [n for n in required if isinstance(n, str) and n in properties]
        return {key: self.value(properties[key], key, depth + 1) for key in names}

    def _array(self, schema: dict[str, Any], name: str, depth: int) -> list[Any]:
        least, most = _count(schema.get("minItems"), 1), _count(schema.get("maxItems"), 10**4)
        count = min(max(least, 0 if depth > MAX_DEPTH else 1), most, 10**4)
        prefix = schema.get("prefixItems")
        prefix = prefix if isinstance(prefix, list) else []
        items = schema.get("items") if isinstance(schema.get("items"), dict) else {}
        return [
            self.value(prefix[i] if i < len(prefix) else items, name, depth + 1)
            for i in range(count)
        ]


def _count(value: Any, default: int) -> int:
    return value if isinstance(value, int) and not isinstance(value, bool) else default


def _joined(first: Any, second: Any) -> Any:
    if isinstance(first, dict) and isinstance(second, dict):
        return {**first, **second}
    return [*first, *second] if isinstance(first, list) and isinstance(second, list) else second


def _kind(schema: dict[str, Any]) -> str:
    kind = schema.get("type")
    if isinstance(kind, list):
        solid = [k for k in kind if str(k).lower() != "null"]
        kind = solid[0] if solid else "null"
    if kind is None:
        if "properties" in schema or "additionalProperties" in schema:
            return "object"
        return "array" if "items" in schema or "prefixItems" in schema else "string"
    return str(kind).lower()


def _nullable(schema: dict[str, Any]) -> bool:
    kind = schema.get("type")
    return bool(schema.get("nullable")) or (isinstance(kind, list) and "null" in kind)


def _number(schema: dict[str, Any], *, integer: bool) -> int | float:
    low, high = schema.get("minimum"), schema.get("maximum")
    above, below = schema.get("exclusiveMinimum"), schema.get("exclusiveMaximum")
    step = 1 if integer else 0.5
    if isinstance(above, int | float) and not isinstance(above, bool):
        low = max(low, above + step) if low is not None else above + step
    if isinstance(below, int | float) and not isinstance(below, bool):
        high = min(high, below - step) if high is not None else below - step
    value: float = 1 if integer else 1.5
    if low is not None:
        value = max(value, low)
    if high is not None:
        value = min(value, high)
    if low is not None and high is not None and low > high:  # a narrow exclusive range
        value = (schema.get("exclusiveMinimum", low) + schema.get("exclusiveMaximum", high)) / 2
    return math.ceil(value) if integer else value


def _string(schema: dict[str, Any], name: str) -> str:
    text = _FORMATS.get(str(schema.get("format", "")))
    if text is None:
        lowered = name.lower()
        text = "Paris" if "city" in lowered or "location" in lowered else f"example {name}"
    shortest, longest = schema.get("minLength"), schema.get("maxLength")
    if isinstance(shortest, int) and len(text) < shortest:
        text += "x" * (shortest - len(text))
    if isinstance(longest, int) and len(text) > longest:
        text = text[:longest]
    return text
