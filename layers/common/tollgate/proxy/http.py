"""Just enough ASGI for the proxy: requests with a body limit, JSON and streamed responses.

Under the Lambda Web Adapter each invocation arrives as a plain HTTP request; the adapter puts
API Gateway's request context (request id, source IP) in the ``x-amzn-request-context`` header
and the Lambda context (function name, ...) in ``x-amzn-lambda-context``.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Awaitable, Callable
from typing import Any
from urllib.parse import parse_qsl

from tollgate.errors import PayloadTooLarge
from tollgate.validation import json_object

Receive = Callable[[], Awaitable[dict[str, Any]]]
Send = Callable[[dict[str, Any]], Awaitable[None]]

MAX_BODY_BYTES = 6 * 1024 * 1024  # Lambda's request payload limit


class Request:
    def __init__(self, scope: dict[str, Any], receive: Receive) -> None:
        self.method: str = scope["method"]
        self.path: str = scope["path"]
        self.query = dict(parse_qsl(scope.get("query_string", b"").decode("latin-1")))
        self.path_params: dict[str, str] = {}  # set by the router
        self.headers = {
            name.decode("latin-1").lower(): value.decode("latin-1")
            for name, value in scope.get("headers", [])
        }
        self._receive = receive
        self._body: bytes | None = None  # kept: a request re-run after a stale key reads it again
        context = _json_header(self.headers, "x-amzn-request-context")
        self.request_id: str = context.get("requestId") or str(uuid.uuid4())
        lambda_context = _json_header(self.headers, "x-amzn-lambda-context")
        lambda_config = lambda_context.get("env_config")
        self.function_name: str | None = (
            lambda_config.get("function_name") if isinstance(lambda_config, dict) else None
        )
        invocation = lambda_context.get("request_id")  # the Lambda invocation's request id
        self.invocation_id: str | None = invocation if isinstance(invocation, str) else None
        identity = context.get("identity") or {}
        client = scope.get("client") or ("127.0.0.1", 0)
        self.source_ip: str = identity.get("sourceIp") or client[0]

    async def body(self) -> bytes:
        if self._body is None:
            self._body = await self._read_body()
        return self._body

    async def _read_body(self) -> bytes:
        declared = self.headers.get("content-length", "")
        if declared.isdigit() and int(declared) > MAX_BODY_BYTES:
            raise _too_large()
        chunks, size = [], 0
        while True:
            message = await self._receive()
            chunk = message.get("body", b"")
            size += len(chunk)
            if size > MAX_BODY_BYTES:
                raise _too_large()
            chunks.append(chunk)
            if not message.get("more_body"):
                return b"".join(chunks)

    async def json(self) -> dict[str, Any]:
        return json_object(await self.body() or b"null")

    async def disconnected(self) -> None:
        """Returns once the client has hung up (ASGI ``http.disconnect``); only after the body
        was read, and only while the response is not complete (then the server says so too)."""
        while (await self._receive())["type"] != "http.disconnect":
            pass


def _json_header(headers: dict[str, str], name: str) -> dict[str, Any]:
    raw = headers.get(name)
    if not raw:
        return {}
    try:
        context = json.loads(raw)
    except ValueError:
        return {}
    return context if isinstance(context, dict) else {}


def _too_large() -> PayloadTooLarge:
    limit_mb = MAX_BODY_BYTES // (1024 * 1024)
    return PayloadTooLarge(f"The request body is larger than {limit_mb} MB.")


def dumps(body: Any) -> bytes:
    return json.dumps(body, separators=(",", ":"), ensure_ascii=False).encode()


async def send_json(send: Send, status: int, body: Any, headers: dict[str, str]) -> None:
    await start(send, status, {"content-type": "application/json", **headers})
    await send({"type": "http.response.body", "body": dumps(body)})


async def start(send: Send, status: int, headers: dict[str, str]) -> None:
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [(k.encode("latin-1"), v.encode("latin-1")) for k, v in headers.items()],
        }
    )


async def send_chunk(send: Send, data: bytes, *, more: bool = True) -> None:
    await send({"type": "http.response.body", "body": data, "more_body": more})
