"""The mock upstreams as one pure ASGI application, with a tiny router.

Routes (one app, three providers under path prefixes; every ``/openai/v1`` route is also
served without a key under ``/openai_compatible/v1``)::

    POST /openai/v1/chat/completions        GET /openai/v1/models[/{id}]
    POST /openai/v1/responses               (the Responses API, stateless)
    POST /openai/v1/embeddings              POST /openai/v1/images/generations
    GET  /openai/images/{rrggbb}.png        (image URLs, no auth)
    POST /openai/v1/videos                  GET|DELETE /openai/v1/videos/{id}
    GET  /openai/v1/videos/{id}/content?variant=video|thumbnail
    POST /anthropic/v1/messages             POST /anthropic/v1/messages/count_tokens
    POST /gemini/v1beta/models/{model}:generateContent | :streamGenerateContent
         | :embedContent | :batchEmbedContents | :countTokens | :predictLongRunning
    GET  /gemini/v1beta/models/{model}/operations/{id}
    GET  /gemini/v1beta/files/{id}:download?alt=media
    GET  /healthz

Nothing here logs request or response content.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import re
import threading
import uuid
from collections import Counter, deque
from collections.abc import Awaitable, Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qsl

from devstack.upstreams.controls import STATUS_FAULTS, ControlError, Controls, parse_controls
from devstack.upstreams.video_jobs import VideoJobs

Headers = Iterable[tuple[str, str]]
Handler = Callable[["Exchange"], Awaitable[None]]
FaultSender = Callable[["Exchange", str], Awaitable[None]]

_POLL_S = 0.05
# The data-control fields a request's JSON body set, kept for tests with the model it names,
# never any content: a flag's value; for metadata (the client's own words) only that it came.
CONTROL_FIELDS = ("store",)
PRESENCE_FIELDS = ("metadata",)
CONTROLS_KEPT = 200


def dumps(value: Any) -> bytes:
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False).encode("utf-8")


def new_id(prefix: str) -> str:
    return prefix + uuid.uuid4().hex[:24]


@dataclass(frozen=True)
class Route:
    kind: str
    method: str
    pattern: re.Pattern[str]
    handler: Handler


class Exchange:
    """One HTTP request and its response, over raw ASGI."""

    def __init__(
        self,
        app: MockUpstreams,
        scope: Mapping[str, Any],
        receive: Callable[[], Awaitable[dict[str, Any]]],
        send: Callable[[dict[str, Any]], Awaitable[None]],
        body: bytes,
        params: dict[str, str],
    ) -> None:
        self.app = app
        self.method: str = scope["method"]
        self.path: str = scope["path"]
        self.query = dict(parse_qsl(scope.get("query_string", b"").decode("latin-1")))
        self.headers = {
            name.decode("latin-1").lower(): value.decode("latin-1")
            for name, value in scope.get("headers", [])
        }
        self.body = body
        self.params = params
        self._receive = receive
        self._send = send
        self._gone = asyncio.Event()
        self._watcher: asyncio.Task[None] | None = None
        self.started = False
        self.finished = False
        self.model: str | None = None

    # -- request ----------------------------------------------------------------------
    def json(self) -> Any:
        """The JSON body; raises ValueError when it is not valid JSON."""
        return json.loads(self.body or b"null")

    def record_model(self, kind: str, model: Any) -> None:
        """The model the request names: counted, and matched by ``fault_model`` controls."""
        self.model = model if isinstance(model, str) else None
        self.app.record_model(kind, model)

    def json_object(self) -> dict[str, Any] | None:
        """The JSON body when it is an object, else None."""
        try:
            body = self.json()
        except ValueError:
            return None
        return body if isinstance(body, dict) else None

    @property
    def host(self) -> str:
        return self.headers.get("host", "127.0.0.1")

    # -- lifecycle --------------------------------------------------------------------
    def watch_disconnect(self) -> None:
        self._watcher = asyncio.get_running_loop().create_task(self._watch())

    async def _watch(self) -> None:
        while True:
            message = await self._receive()
            if message["type"] == "http.disconnect":
                self._gone.set()
                return

    def close(self) -> None:
        if self._watcher is not None:
            self._watcher.cancel()

    @property
    def gone(self) -> bool:
        return self._gone.is_set() or self.app.closing

    async def pause(self, seconds: float) -> bool:
        """Sleep; False (early) when the client left or the app is closing."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + seconds
        while not self.gone:
            remaining = deadline - loop.time()
            if remaining <= 0:
                return True
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._gone.wait(), min(remaining, _POLL_S))
        return False

    # -- response ---------------------------------------------------------------------
    async def send_bytes(
        self, status: int, body: bytes, content_type: str, headers: Headers = ()
    ) -> None:
        await self.start(status, content_type, headers, length=len(body))
        await self.write(body)
        await self.finish()

    async def send_json(self, status: int, value: Any, headers: Headers = ()) -> None:
        await self.send_bytes(status, dumps(value), "application/json", headers)

    async def start(
        self, status: int, content_type: str, headers: Headers = (), length: int | None = None
    ) -> None:
        raw = [(b"content-type", content_type.encode("latin-1"))]
        if length is not None:
            raw.append((b"content-length", str(length).encode("latin-1")))
        raw += [(k.lower().encode("latin-1"), v.encode("latin-1")) for k, v in headers]
        await self._send({"type": "http.response.start", "status": status, "headers": raw})
        self.started = True

    async def write(self, chunk: bytes) -> None:
        await self._send({"type": "http.response.body", "body": chunk, "more_body": True})

    async def finish(self) -> None:
        await self._send({"type": "http.response.body", "body": b"", "more_body": False})
        self.finished = True

    async def abort(self) -> None:
        """Close the connection without completing the response (a "cut")."""
        cycle = getattr(self._send, "__self__", None)  # uvicorn's RequestResponseCycle
        transport = getattr(cycle, "transport", None)
        if transport is not None and hasattr(transport, "close"):
            transport.close()
            # let the server notice, so it does not complain about an unfinished answer
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._gone.wait(), 1.0)
        self.finished = True


class MockUpstreams:
    """The ASGI app.

    ``requests`` counts every request received (authorised or not, faults included) per
    (provider kind, path below the provider prefix), e.g. ``("openai",
    "/v1/chat/completions")`` or ``("gemini", "/v1beta/models/gemini-2.5-flash:generateContent")``;
    ``model_requests`` counts the authorised, valid requests per (kind, model). ``controls``
    keeps the data-control fields of the last ``CONTROLS_KEPT`` JSON requests (``sent``). All
    are updated under a lock by the server thread; ``count``, ``count_model``, ``sent`` and
    ``reset`` are the thread-safe accessors for tests.
    """

    def __init__(
        self,
        api_keys: Mapping[str, str],
        *,
        chunk_delay_s: float = 0.005,
        timeout_fault_s: float = 120.0,
    ) -> None:
        from devstack.upstreams import (
            anthropic_api,
            gemini_api,
            openai_api,
            openai_responses_api,
        )

        self.api_keys = dict(api_keys)
        self.chunk_delay_s = chunk_delay_s
        self.timeout_fault_s = timeout_fault_s
        self.requests: Counter[tuple[str, str]] = Counter()
        self.model_requests: Counter[tuple[str, str]] = Counter()
        self.controls: deque[tuple[str, str, dict[str, Any]]] = deque(maxlen=CONTROLS_KEPT)
        self._lock = threading.Lock()
        self._closing = threading.Event()
        self.video_jobs = VideoJobs()
        self.routes: list[Route] = [
            *openai_api.ROUTES,
            *openai_responses_api.ROUTES,
            *anthropic_api.ROUTES,
            *gemini_api.ROUTES,
        ]
        self._not_found: dict[str, FaultSender] = {
            "openai": openai_api.send_not_found,
            "openai_compatible": openai_api.send_not_found,
            "anthropic": anthropic_api.send_not_found,
            "gemini": gemini_api.send_not_found,
        }

    # -- test helpers -----------------------------------------------------------------
    @property
    def closing(self) -> bool:
        return self._closing.is_set()

    def close(self) -> None:
        """Make pending waits (latency, timeout fault) end at once; used on shutdown."""
        self._closing.set()

    def count(self, kind: str, path: str | None = None) -> int:
        """Requests received by ``kind`` (optionally on one path, e.g. "/v1/messages")."""
        with self._lock:
            return sum(n for (k, p), n in self.requests.items() if k == kind and path in (None, p))

    def count_model(self, kind: str, model: str) -> int:
        with self._lock:
            return self.model_requests[(kind, model)]

    def sent(self, kind: str, path: str | None = None) -> list[dict[str, Any]]:
        """The data-control fields of the last JSON requests ``kind`` received (optionally on
        one path), oldest first: e.g. ``{"model": "gpt-4.1", "store": False}``, ``{}``."""
        with self._lock:
            return [dict(c) for k, p, c in self.controls if k == kind and path in (None, p)]

    def reset(self) -> None:
        with self._lock:
            self.requests.clear()
            self.model_requests.clear()
            self.controls.clear()

    def _record_controls(self, kind: str, path: str, body: bytes) -> None:
        try:
            value = json.loads(body) if body.startswith(b"{") else None
        except ValueError:
            value = None
        if not isinstance(value, dict):
            return
        controls = {name: _flag(value[name]) for name in CONTROL_FIELDS if name in value}
        controls |= {name: "sent" for name in PRESENCE_FIELDS if name in value}
        if isinstance(value.get("model"), str):
            controls["model"] = value["model"]
        with self._lock:
            self.controls.append((kind, path, controls))

    def record_model(self, kind: str, model: Any) -> None:
        if isinstance(model, str):
            with self._lock:
                self.model_requests[(kind, model.removeprefix("models/"))] += 1

    # -- ASGI -------------------------------------------------------------------------
    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] == "lifespan":
            while True:
                message = await receive()
                if message["type"] == "lifespan.startup":
                    await send({"type": "lifespan.startup.complete"})
                elif message["type"] == "lifespan.shutdown":
                    await send({"type": "lifespan.shutdown.complete"})
                    return
        if scope["type"] != "http":
            return

        body = bytearray()
        while True:
            message = await receive()
            if message["type"] == "http.disconnect":
                return
            body += message.get("body", b"")
            if not message.get("more_body", False):
                break

        path: str = scope["path"]
        kind = path.strip("/").split("/", 1)[0]
        route, params, path_known = self._match(scope["method"], path)
        with self._lock:
            self.requests[(kind, path.removeprefix("/" + kind))] += 1
        self._record_controls(kind, path.removeprefix("/" + kind), bytes(body))

        exchange = Exchange(self, scope, receive, send, bytes(body), params)
        exchange.watch_disconnect()
        try:
            if route is not None:
                await route.handler(exchange)
            elif path == "/healthz":
                await exchange.send_json(200, {"status": "ok"})
            elif kind in self._not_found:
                await self._not_found[kind](exchange, "method" if path_known else "path")
            else:
                await exchange.send_json(404, {"error": "not found"})
        finally:
            exchange.close()

    def _match(self, method: str, path: str) -> tuple[Route | None, dict[str, str], bool]:
        """The route for ``method`` and ``path``, its parameters, and whether any route
        has that path (to tell a 405 from a 404)."""
        path_known = False
        for route in self.routes:
            found = route.pattern.fullmatch(path)
            if found is None:
                continue
            path_known = True
            if route.method == method:
                return route, found.groupdict(), True
        return None, {}, path_known


def _flag(value: Any) -> Any:
    """A control field's value when it is a flag; anything else could carry words."""
    return value if value is None or isinstance(value, bool) else type(value).__name__


def create_app(api_keys: dict[str, str], **options: Any) -> MockUpstreams:
    """The mock upstreams ASGI app; ``api_keys`` maps "openai"/"anthropic"/"gemini" to the
    key each provider expects. Options: ``chunk_delay_s`` (default 0.005),
    ``timeout_fault_s`` (default 120)."""
    return MockUpstreams(api_keys, **options)


# -- shared answer helpers (used by the provider modules) -------------------------------


async def controls_or_400(
    exchange: Exchange, text: str, send_error: Callable[..., Awaitable[None]]
) -> Controls | None:
    """The request's fault and latency controls, or None after answering 400 for bad ones."""
    try:
        return parse_controls(exchange.headers, text, model=exchange.model)
    except ControlError as err:
        await send_error(exchange, 400, str(err))
        return None


async def prelude(exchange: Exchange, controls: Controls, send_fault: FaultSender) -> bool:
    """Latency and the faults that replace the answer. False when the request is over."""
    if controls.latency_ms and not await exchange.pause(controls.latency_ms / 1000):
        await exchange.abort()
        return False
    if controls.fault == "timeout" and not await exchange.pause(exchange.app.timeout_fault_s):
        await exchange.abort()
        return False
    if controls.fault in STATUS_FAULTS:
        await send_fault(exchange, controls.fault)
        return False
    return True


async def answer(exchange: Exchange, value: Any, controls: Controls, headers: Headers = ()) -> None:
    """A non-streamed 200 answer, unless the fault is "cut" or "malformed"."""
    if controls.fault == "cut":
        await exchange.abort()
        return
    body = dumps(value)
    if controls.fault == "malformed":
        body = body[: len(body) // 2]
    await exchange.send_bytes(200, body, "application/json", headers)


async def stream(
    exchange: Exchange,
    frames: list[bytes],
    controls: Controls,
    *,
    content_type: str,
    tail: int,
    terminator: bytes,
    trailer: bytes = b"",
    headers: Headers = (),
) -> None:
    """Send ``frames`` one by one, pausing between them.

    ``tail`` is the number of final frames (stop, usage, done) that a "cut" or "malformed"
    stream never reaches; ``terminator`` ends a frame (to rebuild a truncated one);
    ``trailer`` is sent after the frames (Gemini's closing ``]``), but not on a cut.
    """
    delay = (
        controls.chunk_delay_ms / 1000
        if controls.chunk_delay_ms is not None
        else exchange.app.chunk_delay_s
    )
    keep = max(0, min(4, len(frames) - tail))
    if controls.fault in ("cut", "malformed"):
        broken = frames[keep] if keep < len(frames) else frames[-1]
        frames = frames[:keep]
    await exchange.start(
        200, content_type, [("cache-control", "no-cache"), ("x-accel-buffering", "no"), *headers]
    )
    for index, frame in enumerate(frames):
        if index and delay > 0 and not await exchange.pause(delay):
            await exchange.abort()
            return
        await exchange.write(frame)
    if controls.fault == "cut":
        if delay > 0:
            await exchange.pause(delay)
        await exchange.abort()
        return
    if controls.fault == "malformed":
        start = broken.find(b"{")
        cut_at = start + max(1, (len(broken) - start) // 2)
        await exchange.write(broken[:cut_at] + terminator)
    if trailer:
        await exchange.write(trailer)
    await exchange.finish()
