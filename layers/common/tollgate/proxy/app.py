"""The proxy's ASGI application: routing, authentication and the error mapping per format.

Errors are answered in the client's wire format: Anthropic's for /v1/messages, OpenAI's for
everything else; both come from the one hierarchy in tollgate.errors.
"""

from __future__ import annotations

import contextlib
import re
from collections.abc import Awaitable, Callable
from functools import partial
from typing import Any, NamedTuple
from urllib.parse import unquote

from tollgate import key_policy
from tollgate.errors import (
    InternalError,
    NotFound,
    TollgateError,
    anthropic_body,
    openai_body,
)
from tollgate.observability import log_request, logger, metrics
from tollgate.proxy import chat, cors, count_tokens, media, models_view, videos
from tollgate.proxy.http import Receive, Request, Send, send_json, start
from tollgate.proxy.lambda_extension import FinishedRequests
from tollgate.proxy.runtime import Runtime
from tollgate.proxy.threads import blocking
from tollgate.secret_keys import presented_key
from tollgate.store.hotpath import KeyChanged, KeyRecord

Handler = Callable[[Runtime, Request, KeyRecord, Send], Awaitable[None]]


class Route(NamedTuple):
    handler: Handler
    wire: str  # the format of its errors: openai or anthropic
    endpoint: str  # its name in key policies
    held: bool = True  # takes a hold, which proves a cached key current; else read anew


async def list_models(runtime: Runtime, request: Request, key: KeyRecord, send: Send) -> None:
    headers = {"x-request-id": request.request_id, "x-tollgate-cost": "0.00"}
    await send_json(send, 200, models_view.model_list(runtime.catalog), headers)


async def retrieve_model(runtime: Runtime, request: Request, key: KeyRecord, send: Send) -> None:
    """One model by its public id or an alias (the SDK may send the id's slash as %2F)."""
    model_id = unquote(request.path_params["model_id"])
    model = runtime.catalog.model(model_id)
    if model is None:
        raise NotFound(
            f"The model '{model_id}' does not exist.", code="model_not_found", param="model"
        )
    headers = {"x-request-id": request.request_id, "x-tollgate-cost": "0.00"}
    await send_json(send, 200, models_view.model_view(model), headers)


async def legacy_completions(
    runtime: Runtime, request: Request, key: KeyRecord, send: Send
) -> None:
    raise NotFound(
        "POST /v1/completions (legacy text completions) is served by no model of this "
        "gateway: use POST /v1/chat/completions.",
        code="unsupported_endpoint",
    )


ROUTES: dict[tuple[str, str], Route] = {
    ("GET", "/v1/models"): Route(list_models, "openai", "models", held=False),
    ("POST", "/v1/chat/completions"): Route(chat.chat_completions, "openai", "chat.completions"),
    ("POST", "/v1/messages"): Route(chat.messages, "anthropic", "messages"),
    ("POST", "/v1/embeddings"): Route(media.embeddings, "openai", "embeddings"),
    ("POST", "/v1/images/generations"): Route(media.images, "openai", "images.generations"),
    ("POST", "/v1/videos"): Route(videos.create, "openai", "videos"),
    ("GET", "/v1/videos"): Route(videos.list_jobs, "openai", "videos", held=False),
    ("POST", "/v1/messages/count_tokens"): Route(
        count_tokens.count_tokens, "anthropic", "messages", held=False
    ),
    ("POST", "/v1/completions"): Route(
        legacy_completions, "openai", "chat.completions", held=False
    ),
    ("POST", "/v1/responses"): Route(chat.responses, "openai", "responses"),
}
# Routes with a path parameter: (method, pattern) -> route
_VIDEO = r"/v1/videos/(?P<video_id>[^/]+)"
PATTERNS: list[tuple[str, re.Pattern[str], Route]] = [
    ("GET", re.compile(_VIDEO), Route(videos.retrieve, "openai", "videos", held=False)),
    ("DELETE", re.compile(_VIDEO), Route(videos.delete, "openai", "videos", held=False)),
    (
        "GET",
        re.compile(_VIDEO + "/content"),
        Route(videos.download, "openai", "videos", held=False),
    ),
    (
        "GET",
        re.compile(r"/v1/models/(?P<model_id>.+)"),
        Route(retrieve_model, "openai", "models", held=False),
    ),
]


def find_route(request: Request) -> Route | None:
    """The route of the request's method and path; a path parameter goes on the request."""
    path = request.path.rstrip("/") or "/"
    route = ROUTES.get((request.method, path))
    if route is not None:
        return route
    for method, pattern, candidate in PATTERNS:
        found = pattern.fullmatch(path)
        if found is not None and method == request.method:
            request.path_params = found.groupdict()
            return candidate
    return None


def methods_for(path: str) -> list[str]:
    """The methods the path is served with (what a preflight may ask for)."""
    path = path.rstrip("/") or "/"
    exact = [method for method, route_path in ROUTES if route_path == path]
    return exact + [method for method, pattern, _ in PATTERNS if pattern.fullmatch(path)]


def wire_of(path: str) -> str:
    """The error format of the routes at a path (a preflight's has no route of its own)."""
    path = path.rstrip("/") or "/"
    wires = [route.wire for (_, route_path), route in ROUTES.items() if route_path == path]
    return wires[0] if wires else "openai"


class ProxyApp:
    """``finished``, on Lambda, learns each request's Lambda request id once the request is
    over, its settle included (``lambda_extension``: the sandbox stays awake until then)."""

    def __init__(self, runtime: Runtime, *, finished: FinishedRequests | None = None) -> None:
        self.runtime = runtime
        self.finished = finished

    async def __call__(self, scope: dict[str, Any], receive: Receive, send: Send) -> None:
        if scope["type"] == "lifespan":
            await _lifespan(receive, send)
            return
        if scope["type"] != "http":
            return
        request = Request(scope, receive)
        try:
            await self._respond(request, send)
        finally:
            if self.finished is not None and request.invocation_id is not None:
                self.finished.add(request.invocation_id)

    async def _respond(self, request: Request, send: Send) -> None:
        log_request(function_name=request.function_name, request_id=request.request_id)
        if request.path == "/healthz":
            await send_json(send, 200, {"status": "ok"}, {})
            return
        if request.method == "OPTIONS":
            await self._preflight(request, send)
            return
        route = find_route(request)
        wire = route.wire if route else "openai"
        send = cors.CorsSend(send)
        try:
            if route is None:
                raise NotFound(f"No route {request.method} {request.path}.", code="unknown_route")
            await self._serve(request, route, send)
        except TollgateError as error:
            await _send_error(send, request, error, wire)
        except Exception:
            logger.exception("unexpected error", extra={"request_id": request.request_id})
            await _send_error(send, request, InternalError("Internal error."), wire)
        finally:
            metrics.flush_metrics()  # no Lambda handler decorator flushes for an ASGI app

    async def _preflight(self, request: Request, send: Send) -> None:
        """A browser's CORS preflight: 204 for an origin some active key allows, asking for a
        method the path serves and headers the SDKs send; else 403 without CORS headers."""
        origin = request.headers.get("origin", "")
        methods = methods_for(request.path)
        try:
            if not methods:
                raise NotFound(f"No route {request.path}.", code="unknown_route")
            headers = cors.preflight_headers(request, methods)
            if headers is None or not await blocking(
                partial(self.runtime.hotpath.origin_allowed, origin.lower())
            ):
                raise cors.origin_not_allowed(origin)
            await start(send, 204, {"x-request-id": request.request_id, **headers})
            await send({"type": "http.response.body", "body": b""})
        except TollgateError as error:
            await _send_error(send, request, error, wire_of(request.path))
        except Exception:
            logger.exception("unexpected error", extra={"request_id": request.request_id})
            await _send_error(send, request, InternalError("Internal error."), "openai")
        finally:
            metrics.flush_metrics()

    async def _serve(self, request: Request, route: Route, send: cors.CorsSend) -> None:
        """Authorise the request and run its route. A cached key record is never trusted
        alone: the hold proves it current, and when the hold finds it stale (a revocation, a
        change, an expiry, the secret rotated out) the key is read anew and the request
        authorised and run once more, so the change acts on this very request. A route
        without a hold reads the key anew every time."""
        handler, _, endpoint, held = route
        secret = presented_key(request.headers)
        fresh = not held
        while True:
            key = await blocking(partial(self.runtime.authenticate, secret, fresh=fresh))
            key_policy.check_source_ip(key.policy, request.source_ip)
            key_policy.check_endpoint(key.policy, endpoint)
            send.authorise(key.policy, request.headers.get("origin"))
            try:
                await handler(self.runtime, request, key, send)
                return
            except KeyChanged:
                if fresh:
                    raise
                fresh = True


async def _send_error(send: Send, request: Request, error: TollgateError, wire: str) -> None:
    body = anthropic_body(error) if wire == "anthropic" else openai_body(error)
    headers = {"x-request-id": request.request_id, "x-tollgate-cost": "0.00", **error.headers}
    # A stream that already started reports its own failure; the client may also be gone.
    with contextlib.suppress(RuntimeError, OSError):
        await send_json(send, error.status, body, headers)


async def _lifespan(receive: Receive, send: Send) -> None:
    while True:
        message = await receive()
        if message["type"] == "lifespan.startup":
            await send({"type": "lifespan.startup.complete"})
        elif message["type"] == "lifespan.shutdown":
            await send({"type": "lifespan.shutdown.complete"})
            return
