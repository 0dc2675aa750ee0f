"""Build the OpenAPI 3.1 document from the route table and the area modules."""

from __future__ import annotations

import re
from collections.abc import Iterable
from functools import cache
from types import ModuleType
from typing import Any

from tollgate import permissions
from tollgate.openapi import (
    account,
    archives,
    audit,
    auth,
    keys,
    members,
    operator,
    payments,
    tickets,
    usage,
    wallet,
)
from tollgate.openapi.operation import Answer, Content, Operation, Redirect
from tollgate.openapi.schema import Schema, nullable, obj, ref, string

AREAS: tuple[ModuleType, ...] = (
    keys,
    wallet,
    payments,
    usage,
    archives,
    audit,
    account,
    members,
    auth,
    tickets,
    operator,
)

# Not the management API: the proxy (OpenAI's and Anthropic's formats, described by them), the
# console's pages, and this description itself.
_NOT_DESCRIBED = ("/console", "/docs", "/openapi.json")
_PATH_PARAMETER = re.compile(r"{([^}+]+)\+?}")

_ERROR = obj(
    {
        "error": obj(
            {
                "type": string(),
                "code": nullable(string()),
                "message": string(),
                "param": nullable(string()),
                "request_id": nullable(string()),
            }
        )
    }
)

_SECURITY_SCHEMES = {
    "adminKey": {
        "type": "http",
        "scheme": "bearer",
        "description": "An admin key of the account (`Authorization: Bearer tg-...`).",
    },
    "session": {
        "type": "http",
        "scheme": "bearer",
        "bearerFormat": "JWT",
        "description": "A signed-in person's access token (`POST /v1/auth/login`).",
    },
    "account": {
        "type": "apiKey",
        "in": "header",
        "name": "X-Tollgate-Account",
        "description": "With a session: the account acted on (a member's account id).",
    },
    "operatorKey": {
        "type": "http",
        "scheme": "bearer",
        "description": "The platform operator's key.",
    },
}


def described_routes() -> list[tuple[str, str]]:
    """Every management route of the API: what the document must cover."""
    return sorted(
        (method, path)
        for (method, path), needs in permissions.ROUTES.items()
        if needs != permissions.INFERENCE
        and method != "OPTIONS"  # browsers' CORS preflights, not operations
        and not path.startswith(_NOT_DESCRIBED)
    )


def operations() -> dict[tuple[str, str], tuple[str, Operation]]:
    """(method, path) -> (the area's tag, its operation)."""
    return _once(
        ((route, (area.TAG, op)) for area in AREAS for route, op in area.OPERATIONS.items()),
        "operation",
    )


@cache
def document() -> dict[str, Any]:
    paths: dict[str, dict[str, Any]] = {}
    for (method, path), (tag, op) in sorted(operations().items()):
        paths.setdefault(path, {})[method.lower()] = _operation(method, path, tag, op)
    schemas = _once(
        [("Error", _ERROR), *(item for area in AREAS for item in area.SCHEMAS.items())], "schema"
    )
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "Tollgate management API",
            "version": "1",
            "description": (
                "Accounts, members, keys, wallet, payments, usage, archives, audit, support "
                "and the operator's routes. The inference API (`/v1/chat/completions`, "
                "`/v1/messages`, `/v1/responses`...) speaks OpenAI's and Anthropic's formats."
            ),
        },
        "tags": [{"name": area.TAG} for area in AREAS],
        "paths": paths,
        "components": {"schemas": schemas, "securitySchemes": _SECURITY_SCHEMES},
    }


def _once(items: Iterable[tuple[Any, Any]], what: str) -> dict[Any, Any]:
    """The areas' items by name; two areas giving one name would silently overwrite."""
    merged: dict[Any, Any] = {}
    for name, value in items:
        if name in merged:
            raise ValueError(f"two areas describe the {what} {name!r}")
        merged[name] = value
    return merged


def _operation(method: str, path: str, tag: str, op: Operation) -> dict[str, Any]:
    described: dict[str, Any] = {
        "operationId": _operation_id(method, path),
        "summary": op.summary,
        "tags": [tag],
        "security": _security(permissions.route_needs(method, path)),
        "responses": {
            **{str(status): _answer(status, answer) for status, answer in op.answers.items()},
            "default": {"description": "An error", "content": _json(ref("Error"))},
        },
    }
    if op.description:
        described["description"] = op.description
    parameters = [
        {"name": name, "in": "path", "required": True, "schema": {"type": "string"}}
        for name in _PATH_PARAMETER.findall(path)
    ] + [{"name": name, "in": "query", "schema": schema} for name, schema in op.query.items()]
    if parameters:
        described["parameters"] = parameters
    if op.body is not None:
        described["requestBody"] = {"content": {op.body_media_type: {"schema": op.body}}}
    needs = permissions.route_needs(method, path)
    if not set(needs) & permissions.CALLER_KINDS:
        described["x-tollgate-permission"] = list(needs)
    return {**described, **op.extra}


def _answer(status: int, answer: Answer | tuple[Answer, ...] | None) -> dict[str, Any]:
    if isinstance(answer, tuple):
        parts = [_answer(status, one) for one in answer]
        merged: dict[str, Any] = {"description": " or ".join(p["description"] for p in parts)}
        merged["content"] = {k: v for part in parts for k, v in part["content"].items()}
        headers = {k: v for part in parts for k, v in part.get("headers", {}).items()}
        return {**merged, "headers": headers} if headers else merged
    if answer is None:
        return {"description": "No body"}
    if isinstance(answer, Redirect):
        location = {"required": True, "schema": {"type": "string", "format": "uri"}}
        return {
            "description": "Found: no body, fetch `Location`",
            "headers": {"Location": {"description": answer.location, **location}},
        }
    if isinstance(answer, Content):
        described: dict[str, Any] = {
            "description": answer.description,
            "content": {answer.media_type: {"schema": answer.schema}},
        }
        if answer.headers:
            described["headers"] = {
                name: {"description": text, "schema": {"type": "string"}}
                for name, text in answer.headers.items()
            }
        return described
    return {"description": "OK" if status < 300 else "Answer", "content": _json(answer)}


def _json(schema: Schema) -> dict[str, Any]:
    return {"application/json": {"schema": schema}}


def _security(needs: tuple[str, ...]) -> list[dict[str, list[str]]]:
    if needs == (permissions.PUBLIC,):
        return []
    if needs == (permissions.OPERATOR,):
        return [{"operatorKey": []}]
    if needs == (permissions.PERSON,):
        return [{"session": []}]
    return [{"adminKey": []}, {"session": [], "account": []}]


def _operation_id(method: str, path: str) -> str:
    words = re.sub(r"[{}+]", "", path).strip("/").replace("/", "_").replace("-", "_")
    return f"{method.lower()}_{words}"
