"""The proxy's ASGI app in-process: moto's tables through the hot path's lean client interface,
the mock upstreams over loopback, and the real catalog pointed at them."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import httpx
import yaml

from devstack.up import LAYER_CATALOG
from devstack.upstreams import RunningUpstreams
from tollgate.catalog import Catalog, Provider, parse_catalog
from tollgate.proxy.app import ProxyApp
from tollgate.proxy.runtime import KeyCache, Runtime
from tollgate.proxy.upstream import UpstreamClient
from tollgate.settings import get_settings
from tollgate.store.hotpath import HotPath

UPSTREAM_KEYS = {"openai": "sk-mock-openai", "anthropic": "sk-ant-mock", "gemini": "AIza-mock"}


@dataclass
class StaticProviderKeys:
    """The provider-keys secret as the mock upstreams expect it."""

    def for_provider(self, provider: Provider) -> str:
        return UPSTREAM_KEYS[provider.kind] if provider.secret else ""


def local_catalog(
    upstreams: RunningUpstreams, edit: Callable[[dict[str, Any]], None] | None = None
) -> Catalog:
    """The layer's catalog with every provider at the mock upstreams; ``edit`` may change the
    parsed YAML first (e.g. a model's fallbacks)."""
    data = yaml.safe_load(LAYER_CATALOG.read_text())
    for provider in data["providers"].values():
        provider["base_url"] = upstreams.base_urls[provider["kind"]]
    if edit is not None:
        edit(data)
    return parse_catalog(data)


def model_entry(data: dict[str, Any], model_id: str) -> dict[str, Any]:
    return next(entry for entry in data["models"] if entry["id"] == model_id)


def proxy_app(hotpath: HotPath, catalog: Catalog) -> ProxyApp:
    return ProxyApp(
        Runtime(
            settings=get_settings(),
            catalog=catalog,
            hotpath=hotpath,
            key_cache=KeyCache(hotpath),
            provider_keys=StaticProviderKeys(),  # type: ignore[arg-type]
            upstream=UpstreamClient(),
        )
    )


def post(app: ProxyApp, path: str, secret: str, body: dict[str, Any]) -> httpx.Response:
    """One request to the app, as API Gateway would hand it over."""

    async def send() -> httpx.Response:
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://proxy") as client:
            return await client.post(
                path, json=body, headers={"Authorization": f"Bearer {secret}"}, timeout=60
            )

    return asyncio.run(send())
