"""The proxy's ASGI app driven in-process, the way uvicorn drives it: a request body, a
``receive`` that later says ``http.disconnect``, and every message the app sends kept.

The app runs against moto (through the lean client interface) and the mock upstreams; many
calls can run at once on one event loop, as they do in a proxy container.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path
from typing import Any

from devstack.up import secret_names_to_keys, write_local_catalog
from devstack.upstreams import RunningUpstreams
from tests.support.lean_dynamodb import BotoJsonClient
from tollgate.catalog import Provider, load_catalog
from tollgate.proxy.app import ProxyApp
from tollgate.proxy.lambda_extension import FinishedRequests
from tollgate.proxy.runtime import KeyCache, Runtime
from tollgate.proxy.upstream import UpstreamClient
from tollgate.settings import get_settings
from tollgate.sse import SSEDecoder
from tollgate.store.hotpath import HotPath, Tables


class StaticProviderKeys:
    def __init__(self, keys: dict[str, str]) -> None:
        self.keys = keys

    def for_provider(self, provider: Provider) -> str:
        return self.keys.get(provider.secret or "", "")


def proxy_app(
    upstreams: RunningUpstreams,
    provider_keys: dict[str, str],
    tmp: Path,
    *,
    finished: FinishedRequests | None = None,
    hotpath: HotPath | None = None,
) -> ProxyApp:
    """The proxy's app on the mock ``upstreams`` (keys by provider kind), with its own hot
    path over botocore unless the test gives one (the ``hotpath`` fixture's: IAM-recorded)."""
    catalog_path = tmp / "catalog.yaml"
    write_local_catalog(catalog_path, upstreams.base_urls)
    hotpath = hotpath or HotPath(BotoJsonClient(), Tables.of(get_settings()))
    runtime = Runtime(
        settings=get_settings(),
        catalog=load_catalog(catalog_path),
        hotpath=hotpath,
        key_cache=KeyCache(hotpath),
        provider_keys=StaticProviderKeys(secret_names_to_keys(provider_keys)),  # type: ignore[arg-type]
        upstream=UpstreamClient(connect_timeout=5, read_timeout=60),
    )
    return ProxyApp(runtime, finished=finished)


@dataclass
class Exchange:
    """What a client received: status, headers and the body's bytes, as sent."""

    status: int = 0
    headers: dict[str, str] = field(default_factory=dict)
    chunks: list[bytes] = field(default_factory=list)
    complete: bool = False  # the app ended the body (more_body False)

    @property
    def body(self) -> bytes:
        return b"".join(self.chunks)

    def json(self) -> Any:
        return json.loads(self.body)

    def events(self) -> list[tuple[str | None, Any]]:
        """The SSE events as (event name, data: JSON or the raw string)."""
        decoder = SSEDecoder()
        found = decoder.feed(self.body) + decoder.close()
        result: list[tuple[str | None, Any]] = []
        for event in found:
            try:
                result.append((event.event, json.loads(event.data)))
            except ValueError:
                result.append((event.event, event.data))
        return result

    def cost(self) -> Decimal | None:
        """The cost the client can read: the header, else the last event carrying usage.cost."""
        if "x-tollgate-cost" in self.headers:
            return Decimal(self.headers["x-tollgate-cost"])
        found = None
        for _, data in self.events():
            usage = data.get("usage") if isinstance(data, dict) else None
            if isinstance(usage, dict) and "cost" in usage:
                found = Decimal(str(usage["cost"]))
        return found


async def call(
    app: ProxyApp,
    path: str,
    body: Any,
    *,
    key: str,
    disconnect_after_chunks: int | None = None,
    observe: Callable[[dict[str, Any]], None] | None = None,
    invocation_id: str | None = None,
    method: str = "POST",
    headers: dict[str, str] | None = None,
) -> Exchange:
    """One request through the app; with ``disconnect_after_chunks`` the client hangs up
    (``receive`` answers ``http.disconnect``) once that many body chunks reached it, and
    later sends reach nobody, as with uvicorn. ``observe`` sees every message the app sends,
    before the client does, and may raise as a reset connection would (OSError).
    ``invocation_id`` is the Lambda request id the Web Adapter forwards in
    ``x-amzn-lambda-context``. ``headers``: more request headers (a browser's Origin)."""
    exchange = Exchange()
    gone = asyncio.Event()
    raw = json.dumps(body).encode()
    requested = False

    async def receive() -> dict[str, Any]:
        nonlocal requested
        if not requested:
            requested = True
            return {"type": "http.request", "body": raw, "more_body": False}
        await gone.wait()
        return {"type": "http.disconnect"}

    async def send(message: dict[str, Any]) -> None:
        if observe is not None:
            observe(message)
        if gone.is_set():
            return
        if message["type"] == "http.response.start":
            exchange.status = message["status"]
            exchange.headers = {k.decode(): v.decode() for k, v in message["headers"]}
            return
        if message.get("body"):
            exchange.chunks.append(message["body"])
        if not message.get("more_body"):
            exchange.complete = True
            gone.set()  # uvicorn reports a disconnect once the response is complete
        elif (
            disconnect_after_chunks is not None and len(exchange.chunks) >= disconnect_after_chunks
        ):
            gone.set()

    sent = [
        (b"authorization", f"Bearer {key}".encode()),
        (b"content-type", b"application/json"),
        *((name.lower().encode(), value.encode()) for name, value in (headers or {}).items()),
    ]
    if invocation_id is not None:
        context = {"request_id": invocation_id, "env_config": {"function_name": "proxy"}}
        sent.append((b"x-amzn-lambda-context", json.dumps(context).encode()))
    path, _, query = path.partition("?")
    scope = {
        "type": "http",
        "method": method,
        "path": path,
        "query_string": query.encode(),
        "headers": sent,
        "client": ("127.0.0.1", 50000),
    }
    await app(scope, receive, send)
    return exchange


def watch_settles(app: ProxyApp, note: Callable[[str], Any]) -> None:
    """Have ``note`` told "settle begins" and "settle ends" around each settle transaction."""
    settle = app.runtime.hotpath.settle

    def watched_settle(*args: Any) -> Any:
        note("settle begins")
        try:
            return settle(*args)
        finally:
            note("settle ends")

    app.runtime.hotpath.settle = watched_settle  # type: ignore[method-assign]
