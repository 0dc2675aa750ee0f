"""Hold the management API's handlers to their OpenAPI description (tollgate.openapi).

``check_exchange`` is called with every API Gateway event an integration test hands a
management function and the function's proxy response: a described route's answer must be
one the document declares for its status (any error is the ``Error`` object), and a request
body the handler accepted (2xx) must fit the declared request body. Undescribed routes (the
proxy, the console) pass through unchecked; tests/unit/test_openapi_document.py makes sure
every management route is described.
"""

from __future__ import annotations

import base64
import json
from functools import cache
from typing import Any

from jsonschema import Draft202012Validator
from referencing import Registry, Resource
from referencing.jsonschema import DRAFT202012

from tollgate.openapi.document import document, operations

_URI = "urn:tollgate:management-openapi"


def check_exchange(event: dict[str, Any], result: dict[str, Any]) -> None:
    method, path = event.get("httpMethod", ""), event.get("resource", "")
    if (method, path) not in operations():
        return
    status = int(result["statusCode"])
    described = document()["paths"][path][method.lower()]
    answer = described["responses"].get(str(status), described["responses"]["default"])
    _check_content(
        answer,
        result,
        f"{method} {path} answered {status}",
        pointer_of(
            path,
            method,
            "responses",
            str(status) if str(status) in described["responses"] else "default",
        ),
    )
    if 200 <= status < 300 and "requestBody" in described:
        _check_request(event, described, method, path)


def _check_content(answer: dict[str, Any], result: dict[str, Any], what: str, pointer: str) -> None:
    content = answer.get("content")
    body = result.get("body") or ""
    headers = _headers(result)
    for name, header in answer.get("headers", {}).items():
        assert name.lower() in headers or not header.get("required"), f"{what} without {name}"
    if content is None:
        assert not body, f"{what} with a body the document does not declare"
        assert "content-type" not in headers, f"{what} naming a type for no body"
        return
    media_type = headers.get("content-type", "application/json").split(";")[0].strip()
    assert media_type in content, f"{what} as {media_type!r}; the document says {sorted(content)}"
    if media_type == "application/json":
        escaped = media_type.replace("/", "~1")
        _validator(f"{pointer}/content/{escaped}/schema").validate(json.loads(body))


def _check_request(
    event: dict[str, Any], described: dict[str, Any], method: str, path: str
) -> None:
    content = described["requestBody"]["content"]
    if "application/json" not in content or not event.get("body"):
        return
    raw = event["body"]
    body = json.loads(base64.b64decode(raw) if event.get("isBase64Encoded") else raw)
    pointer = pointer_of(path, method, "requestBody", "content", "application~1json", "schema")
    _validator(pointer).validate(body)


def pointer_of(path: str, method: str, *rest: str) -> str:
    escaped = path.replace("~", "~0").replace("/", "~1")
    return "/".join(("#/paths", escaped, method.lower(), *rest))


def _headers(result: dict[str, Any]) -> dict[str, str]:
    """The answer's headers by lower-cased name (single and multi-value alike)."""
    merged = {name.lower(): value for name, value in (result.get("headers") or {}).items()}
    for name, values in (result.get("multiValueHeaders") or {}).items():
        merged.setdefault(name.lower(), values[-1])
    return merged


@cache
def _validator(pointer: str) -> Draft202012Validator:
    return Draft202012Validator({"$ref": _URI + pointer}, registry=_registry())


@cache
def _registry() -> Registry:
    return Registry().with_resource(_URI, Resource(contents=document(), specification=DRAFT202012))
