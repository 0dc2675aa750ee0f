"""On Lambda, the sandbox stays awake until the proxy finished each invocation's request, its
settle (which follows the answer) included: the proxy's internal extension asks the Extensions
API for its next event only then, or at the invocation's deadline, never sooner.

The Extensions API is a stand-in on 127.0.0.1 (register and event/next, as Lambda serves
them); the app runs in-process against moto and the mock upstreams.
"""

from __future__ import annotations

import asyncio
import json
import queue
import threading
import time
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest

from tests.support.proxy_asgi import call, proxy_app, watch_settles
from tests.support.proxy_world import PROVIDER_KEYS, Customer
from tollgate.proxy import lambda_extension
from tollgate.proxy.lambda_extension import SettleExtension

CHAT = {"model": "openai/gpt-4.1", "messages": [{"role": "user", "content": "Hello"}]}
WAIT = 60.0  # seconds: a deadline for what must happen, never a measure of how fast
MARGIN = 0.5  # the extension's margin before an invocation's deadline


class ExtensionsApi:
    """Lambda's Extensions API for one sandbox: registrations, and the events handed out one
    per ``event/next`` call (each call is written to ``timeline`` as it arrives)."""

    def __init__(self, timeline: list[str]) -> None:
        self.timeline = timeline
        self.registrations: list[tuple[str, Any]] = []
        self.events: queue.Queue[dict[str, Any]] = queue.Queue()
        self.next_calls: queue.Queue[str] = queue.Queue()
        self.delivered: queue.Queue[dict[str, Any]] = queue.Queue()
        self.server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self.server.daemon_threads = True
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    @property
    def address(self) -> str:
        host, port = self.server.server_address[:2]
        return f"{host}:{port}"

    def invoke(self, request_id: str, deadline: float) -> None:
        """Hand the extension an INVOKE event (``deadline``: Unix time in seconds)."""
        self.events.put(
            {
                "eventType": "INVOKE",
                "deadlineMs": int(deadline * 1000),
                "requestId": request_id,
                "invokedFunctionArn": "arn:aws:lambda:eu-west-1:123456789012:function:proxy",
                "tracing": {"type": "X-Amzn-Trace-Id", "value": "Root=1-0-0"},
            }
        )
        self.delivered.get(timeout=WAIT)

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        api = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                assert self.path == "/2020-01-01/extension/register"
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                api.registrations.append((self.headers["Lambda-Extension-Name"], body["events"]))
                self._answer({"functionName": "proxy"}, {"Lambda-Extension-Identifier": "ext-1"})

            def do_GET(self) -> None:
                assert self.path == "/2020-01-01/extension/event/next"
                assert self.headers["Lambda-Extension-Identifier"] == "ext-1"
                api.timeline.append("extension asks for its next event")
                api.next_calls.put(self.path)
                event = api.events.get()
                self._answer(event, {"Lambda-Extension-Event-Identifier": "event-1"})
                api.delivered.put(event)

            def _answer(self, body: dict[str, Any], headers: dict[str, str]) -> None:
                raw = json.dumps(body).encode()
                self.send_response(200)
                for name, value in {**headers, "Content-Length": str(len(raw))}.items():
                    self.send_header(name, value)
                self.end_headers()
                self.wfile.write(raw)

            def log_message(self, *args: Any) -> None:
                pass

        return Handler


@pytest.fixture
def timeline() -> list[str]:
    return []


@pytest.fixture
def extensions_api(timeline) -> Iterator[ExtensionsApi]:
    api = ExtensionsApi(timeline)
    yield api
    api.close()


@pytest.fixture
def extension(extensions_api) -> Iterator[SettleExtension]:
    """The extension as the proxy starts it on Lambda, its init done (it waits for an event)."""
    started = lambda_extension.start(
        {"AWS_LAMBDA_RUNTIME_API": extensions_api.address}, margin=MARGIN
    )
    assert started is not None
    extensions_api.next_calls.get(timeout=WAIT)
    yield started
    extensions_api.events.put({"eventType": "SHUTDOWN", "shutdownReason": "spindown"})
    started.thread.join(timeout=WAIT)


@pytest.fixture
def api_key(customer: Callable[..., Customer]) -> str:
    """The inference key of a customer (tests/support/proxy_world.py) with 1 USD."""
    return customer(10**9).api_key


def test_the_extension_registers_for_invoke_events(extensions_api, extension):
    assert extensions_api.registrations == [("tollgate-settle", ["INVOKE"])]


def test_the_sandbox_stays_awake_until_the_invocations_request_is_settled(
    aws, upstreams, tmp_path, api_key, extensions_api, extension, timeline
):
    # given an app on Lambda whose settles are watched
    app = proxy_app(upstreams, PROVIDER_KEYS, tmp_path, finished=extension.finished)
    watch_settles(app, timeline.append)

    # when the invocation's event reaches the extension before its request reaches the app
    extensions_api.invoke("invocation-1", deadline=time.time() + 300)
    answer = asyncio.run(
        call(app, "/v1/chat/completions", CHAT, key=api_key, invocation_id="invocation-1")
    )

    # then the extension asks for its next event (which lets Lambda freeze the sandbox) only
    # after the app finished that request, its settle included
    extensions_api.next_calls.get(timeout=WAIT)
    assert answer.status == 200
    assert timeline == [
        "extension asks for its next event",
        "settle begins",
        "settle ends",
        "extension asks for its next event",
    ]


def test_an_invocation_whose_request_never_arrives_is_let_go_at_the_deadline_margin(
    extensions_api, extension, timeline
):
    # given an invocation whose request never reaches the app
    extensions_api.invoke("lost-invocation", deadline=time.time() + MARGIN + 0.2)

    # then the extension still asks for its next event, by the deadline less its margin
    extensions_api.next_calls.get(timeout=WAIT)
    assert timeline == ["extension asks for its next event"] * 2


def test_off_lambda_no_extension_registers():
    assert lambda_extension.start({}) is None


def test_a_refused_registration_leaves_the_proxy_running_without_the_extension():
    # given an Extensions API that answers nothing (nothing listens on the port)
    assert lambda_extension.start({"AWS_LAMBDA_RUNTIME_API": "127.0.0.1:9"}) is None
