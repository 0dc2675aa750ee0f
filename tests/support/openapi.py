"""Validate OpenAI-format answers against OpenAI's published OpenAPI document.

The document (a copy in ``tests/support/specs/``, with its license, so the suite needs
nothing outside the repository) declares
OpenAPI 3.1 but marks nullable fields the 3.0 way (``"nullable": true``), which a JSON
Schema validator ignores; ``_with_nulls`` rewrites those into ``"type": [X, "null"]`` (and
adds ``null`` to enums, or wraps a ``$ref`` in ``anyOf [..., {"type": "null"}]``). The
document is loaded and converted once; ``$ref``s into ``#/components/schemas/...`` are
resolved through a ``referencing`` registry.

    validate_openai("CreateChatCompletionResponse", body)   # raises ValidationError
"""

from __future__ import annotations

import json
from functools import cache
from pathlib import Path
from typing import Any

from jsonschema import Draft202012Validator
from referencing import Registry, Resource
from referencing.jsonschema import DRAFT202012

SPEC_PATH = Path(__file__).resolve().parent / "specs" / "openai-openapi.json"
_SPEC_URI = "urn:tollgate:openai-openapi"


def validate_openai(schema_name: str, instance: Any) -> None:
    """Raise ``jsonschema.ValidationError`` unless ``instance`` is a valid ``schema_name``
    (a name under ``components.schemas``, e.g. ``CreateEmbeddingResponse``)."""
    _validator(schema_name).validate(instance)


@cache
def _validator(schema_name: str) -> Draft202012Validator:
    document = _document()
    if schema_name not in document["components"]["schemas"]:
        raise KeyError(f"no schema {schema_name!r} in {SPEC_PATH.name}")
    schema = {"$ref": f"{_SPEC_URI}#/components/schemas/{schema_name}"}
    return Draft202012Validator(schema, registry=_registry())


@cache
def _document() -> dict[str, Any]:
    if not SPEC_PATH.is_file():
        raise FileNotFoundError(f"OpenAI's OpenAPI document is expected at {SPEC_PATH}")
    return _with_nulls(json.loads(SPEC_PATH.read_text(encoding="utf-8")))


@cache
def _registry() -> Registry:
    resource = Resource(contents=_document(), specification=DRAFT202012)
    return Registry().with_resource(_SPEC_URI, resource)


def _with_nulls(node: Any) -> Any:
    """The document with OpenAPI 3.0 ``nullable: true`` turned into JSON Schema nulls."""
    if isinstance(node, list):
        return [_with_nulls(item) for item in node]
    if not isinstance(node, dict):
        return node
    converted = {key: _with_nulls(value) for key, value in node.items()}
    nullable = converted.get("nullable")
    if not isinstance(nullable, bool):  # a property that happens to be named "nullable"
        return converted
    del converted["nullable"]
    if not nullable:
        return converted
    if "enum" in converted and None not in converted["enum"]:
        converted["enum"] = [*converted["enum"], None]
    kind = converted.get("type")
    if isinstance(kind, str):
        converted["type"] = [kind, "null"]
    elif isinstance(kind, list):
        if "null" not in kind:
            converted["type"] = [*kind, "null"]
    else:  # "$ref", "allOf", "anyOf"...: the value may also be null
        return {"anyOf": [converted, {"type": "null"}]}
    return converted
