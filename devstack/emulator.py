"""The API emulator: serves every route of template.yaml the way API Gateway's REST API does.

Each request becomes the REST (payload 1.0) event API Gateway would send, the route's function
handles it with a Lambda-like context, and its proxy response becomes the HTTP response. Like a
Lambda container, a function handles one event at a time.
"""

from __future__ import annotations

import asyncio
import base64
import json
import re
import threading
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qsl

from devstack.lambda_runtime import Handler, LambdaContext, load_handler, rest_event
from devstack.template import ApiCors, Function, Route, Template

MAX_BODY_BYTES = 10 * 1024 * 1024  # API Gateway's payload limit


@dataclass
class CompiledRoute:
    route: Route
    pattern: re.Pattern[str]


def compile_route(route: Route) -> CompiledRoute:
    regex = ""
    for part in re.split(r"(\{[^}]+\})", route.path):
        if part.startswith("{") and part.endswith("+}"):
            regex += f"(?P<{part[1:-2]}>.+)"
        elif part.startswith("{"):
            regex += f"(?P<{part[1:-1]}>[^/]+)"
        else:
            regex += re.escape(part)
    return CompiledRoute(route, re.compile(f"^{regex}/?$"))


class FunctionPool:
    """Loads each function's handler on first use and runs one event at a time per function."""

    def __init__(self, functions: dict[str, Function], region: str) -> None:
        self.functions = functions
        self.region = region
        self._handlers: dict[str, Handler] = {}
        self._locks = {name: threading.Lock() for name in functions}

    def asgi_app(self, logical_id: str) -> Any:
        """A web-adapter function's ASGI app, imported on first use like a cold start."""
        with self._locks[logical_id]:
            if logical_id not in self._handlers:
                self._handlers[logical_id] = load_handler(self.functions[logical_id])
            return self._handlers[logical_id]

    def invoke(self, logical_id: str, event: dict[str, Any]) -> Any:
        with self._locks[logical_id]:
            handler = self._handlers.get(logical_id)
            if handler is None:
                handler = self._handlers[logical_id] = load_handler(self.functions[logical_id])
            name = f"tollgate-local-{logical_id}"
            return handler(event, LambdaContext(function_name=name, region=self.region))


class ApiEmulator:
    def __init__(
        self, template: Template, pool: FunctionPool, *, stage: str, cors: ApiCors | None = None
    ) -> None:
        # API Gateway prefers a literal path segment to a {parameter}: /v1/usage/summary wins
        # over /v1/usage/{request_id}, whatever the template's order.
        self.routes = sorted(
            (compile_route(route) for route in template.routes()),
            key=lambda compiled: compiled.route.path.count("{"),
        )
        self.pool = pool
        self.stage = stage
        self.cors = cors

    def match(self, method: str, path: str) -> tuple[Route, dict[str, str]] | None:
        for compiled in self.routes:
            found = compiled.pattern.match(path)
            if found and compiled.route.method in (method, "ANY"):
                return compiled.route, found.groupdict()
        return None

    def methods_at(self, path: str) -> set[str]:
        """The methods of the API resource ``path`` falls on (the most specific that matches)."""
        for compiled in self.routes:
            if compiled.pattern.match(path):
                resource = compiled.route.path
                return {each.route.method for each in self.routes if each.route.path == resource}
        return set()

    async def __call__(self, scope: dict[str, Any], receive: Callable, send: Callable) -> None:
        if scope["type"] != "http":
            return
        if scope["method"] == "OPTIONS" and self.cors is not None:
            methods = self.methods_at(scope["path"])
            if methods and "OPTIONS" not in methods:  # SAM's mock: paths without their own
                await _send(send, 200, {}, self.cors.headers(methods))
                return
        found = self.match(scope["method"], scope["path"])
        if found is None:
            await _send(send, 404, _missing_route(scope))
            return
        route, path_parameters = found
        if self.pool.functions[route.function].web_adapter:
            app = await asyncio.to_thread(self.pool.asgi_app, route.function)
            await app(self._as_web_adapter(scope, route), receive, send)
            return
        body = await _read_body(receive)
        if body is None:
            await _send(send, 413, {"message": "Request Too Long"})
            return
        event = rest_event(
            method=scope["method"],
            path=scope["path"],
            resource=route.path,
            stage=self.stage,
            path_parameters=path_parameters,
            headers=[(k.decode("latin-1"), v.decode("latin-1")) for k, v in scope["headers"]],
            query=_query(scope),
            body=body,
            source_ip=(scope.get("client") or ("127.0.0.1", 0))[0],
        )
        result = await asyncio.to_thread(self.pool.invoke, route.function, event)
        await _send_proxy_result(send, result)

    def _as_web_adapter(self, scope: dict[str, Any], route: Route) -> dict[str, Any]:
        """The request as the Lambda Web Adapter hands it to the app: the same HTTP request
        plus API Gateway's request context in the x-amzn-request-context header and the Lambda
        context in x-amzn-lambda-context."""
        client = (scope.get("client") or ("127.0.0.1", 0))[0]
        context = {
            "requestId": str(uuid.uuid4()),
            "resourcePath": route.path,
            "httpMethod": scope["method"],
            "path": f"/{self.stage}{scope['path']}",
            "stage": self.stage,
            "identity": {"sourceIp": client},
        }
        name = f"tollgate-local-{route.function}"
        invocation = LambdaContext(function_name=name, region=self.pool.region)
        lambda_context = {
            "request_id": invocation.aws_request_id,
            "invoked_function_arn": invocation.invoked_function_arn,
            "env_config": {
                "function_name": name,
                "memory": invocation.memory_limit_in_mb,
                "version": invocation.function_version,
                "log_group": invocation.log_group_name,
                "log_stream": invocation.log_stream_name,
            },
        }
        extra = [
            (b"x-amzn-request-context", json.dumps(context).encode()),
            (b"x-amzn-lambda-context", json.dumps(lambda_context).encode()),
        ]
        return {**scope, "headers": [*scope.get("headers", []), *extra]}


async def _read_body(receive: Callable) -> bytes | None:
    chunks, size = [], 0
    while True:
        message = await receive()
        chunk = message.get("body", b"")
        size += len(chunk)
        if size > MAX_BODY_BYTES:
            return None
        chunks.append(chunk)
        if not message.get("more_body"):
            return b"".join(chunks)


def _query(scope: dict[str, Any]) -> list[tuple[str, str]]:
    return parse_qsl(scope.get("query_string", b"").decode("latin-1"), keep_blank_values=True)


def _missing_route(scope: dict[str, Any]) -> dict[str, Any]:
    message = f"No route {scope['method']} {scope['path']}."
    return {"error": {"type": "not_found_error", "code": "route_not_found", "message": message}}


async def _send_proxy_result(send: Callable, result: Any) -> None:
    if not isinstance(result, dict) or "statusCode" not in result:
        await _send(send, 502, {"message": "Internal server error"})
        return
    headers: list[tuple[str, str]] = []
    for name, value in (result.get("headers") or {}).items():
        headers.append((name, str(value)))
    for name, values in (result.get("multiValueHeaders") or {}).items():
        if name not in (result.get("headers") or {}):
            headers.extend((name, str(value)) for value in values)
    body = result.get("body") or ""
    raw = base64.b64decode(body) if result.get("isBase64Encoded") else body.encode()
    await send(
        {
            "type": "http.response.start",
            "status": int(result["statusCode"]),
            "headers": [(k.lower().encode(), v.encode()) for k, v in headers],
        }
    )
    await send({"type": "http.response.body", "body": raw})


async def _send(
    send: Callable, status: int, body: dict[str, Any], headers: dict[str, str] | None = None
) -> None:
    raw = json.dumps(body).encode()
    extra = [(name.encode(), value.encode()) for name, value in (headers or {}).items()]
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [(b"content-type", b"application/json"), *extra],
        }
    )
    await send({"type": "http.response.body", "body": raw})
