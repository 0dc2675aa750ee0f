"""Small JSON Schema (2020-12, as OpenAPI 3.1 uses it) builders for the management API's
description, so that area modules read like the objects they describe."""

from __future__ import annotations

from typing import Any

Schema = dict[str, Any]


def obj(required: dict[str, Schema], optional: dict[str, Schema] | None = None) -> Schema:
    """An object with exactly these properties (``required`` always present)."""
    properties = {**required, **(optional or {})}
    return {
        "type": "object",
        "properties": properties,
        "required": sorted(required),
        "additionalProperties": False,
    }


def open_obj(description: str = "") -> Schema:
    """An object whose keys are free (tags, metadata)."""
    schema: Schema = {"type": "object"}
    if description:
        schema["description"] = description
    return schema


def string(description: str = "", *, enum: list[str] | None = None, fmt: str = "") -> Schema:
    schema: Schema = {"type": "string"}
    if enum is not None:
        schema["enum"] = enum
    if fmt:
        schema["format"] = fmt
    if description:
        schema["description"] = description
    return schema


def integer(description: str = "", *, minimum: int | None = None) -> Schema:
    schema: Schema = {"type": "integer"}
    if minimum is not None:
        schema["minimum"] = minimum
    if description:
        schema["description"] = description
    return schema


def boolean(description: str = "") -> Schema:
    return {"type": "boolean", "description": description} if description else {"type": "boolean"}


def const(value: str) -> Schema:
    return {"const": value}


def usd(description: str = "") -> Schema:
    """An amount of US dollars as a decimal string, exact to the nano-dollar."""
    return string(description or "US dollars, a decimal string exact to 9 places")


def unix_time(description: str = "") -> Schema:
    return integer(description or "seconds since the Unix epoch")


def array(items: Schema) -> Schema:
    return {"type": "array", "items": items}


def nullable(schema: Schema) -> Schema:
    """The schema or null."""
    kind = schema.get("type")
    if isinstance(kind, str) and "enum" not in schema:
        return {**schema, "type": [kind, "null"]}
    return {"anyOf": [schema, {"type": "null"}]}


def ref(name: str) -> Schema:
    """A schema under ``components.schemas``."""
    return {"$ref": f"#/components/schemas/{name}"}


def page_of(item: Schema) -> Schema:
    """A cursor-paginated listing (``tollgate.api.page``)."""
    return obj(
        {
            "object": const("list"),
            "data": array(item),
            "has_more": boolean(),
            "next_cursor": nullable(string("pass as `cursor` for the next page")),
        }
    )
