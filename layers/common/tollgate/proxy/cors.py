"""Browsers on the inference API (CORS).

A key's policy names the browser origins that may use it (``allowed_origins``, exact). An
actual request from a browser is answered with that origin allowed, or refused with 403
``origin_not_allowed``. A preflight carries no key: it succeeds only for an origin that some
active key allows (the origin index, ``HotPath.origin_allowed``); the actual request is then
checked against its own key. Never ``*``, and no Access-Control-Allow-Credentials: the key
is a header, not a cookie.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from tollgate.errors import Forbidden
from tollgate.key_policy import KeyPolicy
from tollgate.proxy.http import Request, Send

EXPOSED = "x-request-id, x-tollgate-cost, x-tollgate-hold, retry-after"
# What the official OpenAI and Anthropic SDKs send from a browser, plus the x-stainless-*
# telemetry headers of both (matched by prefix).
REQUEST_HEADERS = frozenset(
    {
        "accept",
        "authorization",
        "content-type",
        "x-api-key",
        "anthropic-version",
        "anthropic-beta",
        "anthropic-dangerous-direct-browser-access",
        "openai-organization",
        "openai-project",
        "openai-beta",
        "idempotency-key",
        "user-agent",
    }
)
STAINLESS = "x-stainless-"
MAX_AGE = "600"
MAX_ORIGIN = 300  # longer is no origin a key may name (and no DynamoDB key)


def origin_not_allowed(origin: str) -> Forbidden:
    return Forbidden(
        f"This API key may not be used from the browser origin '{origin[:200]}'; "
        "add it to the key's allowed_origins.",
        code="origin_not_allowed",
    )


def check_origin(policy: KeyPolicy, origin: str) -> None:
    """An actual request from a browser: its origin must be one the key allows."""
    if origin.lower() not in (policy.allowed_origins or ()):
        raise origin_not_allowed(origin)


def preflight_headers(request: Request, methods: Iterable[str]) -> dict[str, str] | None:
    """The headers of a successful preflight, once the origin is known to be allowed; None
    without an origin, or for a method the path does not serve or a header not in our list."""
    origin = request.headers.get("origin", "")
    method = request.headers.get("access-control-request-method", "")
    if not 0 < len(origin) <= MAX_ORIGIN:
        return None
    allowed = sorted(methods)
    if method not in allowed:
        return None
    asked = _header_names(request.headers.get("access-control-request-headers", ""))
    if any(name not in REQUEST_HEADERS and not name.startswith(STAINLESS) for name in asked):
        return None
    return {
        "access-control-allow-origin": origin,
        "access-control-allow-methods": ", ".join(allowed),
        "access-control-allow-headers": ", ".join(asked or sorted(REQUEST_HEADERS)),
        "access-control-max-age": MAX_AGE,
        "vary": "Origin",
    }


def _header_names(value: str) -> list[str]:
    return [name.strip().lower() for name in value.split(",") if name.strip()]


class CorsSend:
    """The app's ``send``, adding the allowed origin's headers to the response's start once
    the request's key allowed its origin (so errors after that, and streams, carry them)."""

    def __init__(self, send: Send) -> None:
        self.send = send
        self.headers: dict[str, str] = {}

    def authorise(self, policy: KeyPolicy, origin: str | None) -> None:
        """Refuse a browser origin the key does not allow; answer one it does with CORS
        headers. Anew for each reading of the key: a re-read key may no longer allow it."""
        self.headers = {}
        if origin is None:
            return
        check_origin(policy, origin)
        self.headers = {
            "access-control-allow-origin": origin,
            "access-control-expose-headers": EXPOSED,
            "vary": "Origin",
        }

    async def __call__(self, message: dict[str, Any]) -> None:
        if message["type"] == "http.response.start" and self.headers:
            extra = [(k.encode("latin-1"), v.encode("latin-1")) for k, v in self.headers.items()]
            message = {**message, "headers": [*message.get("headers", []), *extra]}
        await self.send(message)
