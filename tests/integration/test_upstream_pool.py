"""Pooled upstream connections: one the server closed while idle is replaced, not failed on,
and an idle connection older than the bound is never reused. A local keep-alive server whose
connections the test closes explicitly; the pool's clock is injected."""

from __future__ import annotations

import asyncio
import contextlib
import socket
import socketserver
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler

import pytest

from tollgate.providers.base import UpstreamCall
from tollgate.proxy.upstream import UpstreamClient, UpstreamUnreachable


class KeepAliveServer(socketserver.ThreadingTCPServer):
    """Answers every request 200 on keep-alive connections it counts and can close at will."""

    daemon_threads = True
    allow_reuse_address = True

    def __init__(self) -> None:
        super().__init__(("127.0.0.1", 0), KeepAliveHandler)
        self.lock = threading.Lock()
        self.connections: list[socket.socket] = []
        self.requests = 0
        self.drop = False  # close the connection on a request instead of answering it
        self.garble = False  # answer with a line that is not an HTTP status line

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}/v1/echo"

    def close_connections(self) -> None:
        """What a server does to idle keep-alive connections after its timeout."""
        with self.lock:
            for connection in self.connections:
                with contextlib.suppress(OSError):  # the client may have closed it first
                    connection.shutdown(socket.SHUT_RDWR)
                connection.close()


class KeepAliveHandler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: KeepAliveServer

    def setup(self) -> None:
        super().setup()
        with self.server.lock:
            self.server.connections.append(self.connection)

    def do_POST(self) -> None:
        self.rfile.read(int(self.headers.get("content-length") or 0))
        with self.server.lock:
            self.server.requests += 1
        if self.server.drop:
            self.close_connection = True
            return
        if self.server.garble:
            self.wfile.write(b"NOT HTTP\r\n\r\n")
            self.close_connection = True
            return
        self.send_response(200)
        self.send_header("content-type", "application/json")
        self.send_header("content-length", "2")
        self.end_headers()
        self.wfile.write(b"{}")

    def log_message(self, format: str, *args: object) -> None:
        pass


@pytest.fixture
def server() -> Iterator[KeepAliveServer]:
    running = KeepAliveServer()
    thread = threading.Thread(target=running.serve_forever, daemon=True)
    thread.start()
    yield running
    running.shutdown()
    running.close_connections()
    running.server_close()


class FakeClock:
    def __init__(self) -> None:
        self.now = 1_000.0

    def __call__(self) -> float:
        return self.now


def call(server: KeepAliveServer) -> UpstreamCall:
    return UpstreamCall("POST", server.url, {"content-type": "application/json"}, b"{}", False)


def exchange(client: UpstreamClient, server: KeepAliveServer) -> bytes:
    """One request, answered and read to the end (its connection goes back to the pool)."""

    async def run() -> bytes:
        response = await client.send(call(server))
        return await response.read()

    return asyncio.run(run())


def pool_two_connections(client: UpstreamClient, server: KeepAliveServer) -> None:
    """A burst of two requests in flight together leaves two idle connections pooled."""

    async def run() -> None:
        first = await client.send(call(server))
        second = await client.send(call(server))
        await first.read()
        await second.read()

    asyncio.run(run())
    assert len(server.connections) == 2


def test_connections_the_server_closed_while_idle_are_replaced_by_a_fresh_one(server):
    client = UpstreamClient(clock=FakeClock())
    pool_two_connections(client, server)
    server.close_connections()

    assert exchange(client, server) == b"{}"

    assert len(server.connections) == 3  # the retry opened a new one, not the other stale one
    assert server.requests == 3


def test_an_idle_connection_within_the_bound_is_reused(server):
    clock = FakeClock()
    client = UpstreamClient(max_idle=4.0, clock=clock)
    exchange(client, server)

    clock.now += 3.9
    exchange(client, server)

    assert len(server.connections) == 1 and server.requests == 2


def test_an_idle_connection_older_than_the_bound_is_not_reused(server):
    clock = FakeClock()
    client = UpstreamClient(max_idle=4.0, clock=clock)
    exchange(client, server)

    clock.now += 4.1
    exchange(client, server)

    assert len(server.connections) == 2 and server.requests == 2


def test_a_fresh_connection_dropped_before_an_answer_is_not_retried(server):
    client = UpstreamClient(clock=FakeClock())
    server.drop = True

    with pytest.raises(UpstreamUnreachable) as failed:
        exchange(client, server)

    assert failed.value.timeout is False
    assert len(server.connections) == 1 and server.requests == 1


def test_a_garbled_answer_is_an_unreachable_upstream_not_a_crash(server):
    client = UpstreamClient(clock=FakeClock())
    server.garble = True

    with pytest.raises(UpstreamUnreachable) as failed:
        exchange(client, server)

    assert failed.value.timeout is False
