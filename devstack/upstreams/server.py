"""Run the mock upstreams in a background thread on 127.0.0.1.

    running = start_upstreams({"openai": "sk-mock", ...}, port=0)   # 0: ephemeral port
    running.base_urls["openai"]   # http://127.0.0.1:P/openai/v1
    running.app.count("openai")   # requests received
    running.stop()

``RunningUpstreams`` is also a context manager.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from devstack.servers import RunningServer, serve_in_thread
from devstack.upstreams.app import MockUpstreams


class RunningUpstreams:
    def __init__(self, app: MockUpstreams, server: RunningServer) -> None:
        self.app = app
        self.port = server.port
        self._server = server

    @property
    def base_url(self) -> str:
        return self._server.url

    @property
    def base_urls(self) -> dict[str, str]:
        """Base URLs by provider kind, as each provider's SDK expects them."""
        return {
            "openai": f"{self.base_url}/openai/v1",
            "openai_compatible": f"{self.base_url}/openai_compatible/v1",
            "anthropic": f"{self.base_url}/anthropic",
            "gemini": f"{self.base_url}/gemini",
        }

    def stop(self, timeout: float = 5.0) -> None:
        """Stop serving: pending waits end at once, open connections are closed."""
        self.app.close()
        self._server.stop(timeout)

    def __enter__(self) -> RunningUpstreams:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.stop()


def start_upstreams(
    api_keys: Mapping[str, str], port: int = 0, **app_options: Any
) -> RunningUpstreams:
    """Serve a new ``MockUpstreams`` app; returns once it accepts connections."""
    app = MockUpstreams(api_keys, **app_options)
    return RunningUpstreams(app, serve_in_thread(app, port, name="mock-upstreams"))
