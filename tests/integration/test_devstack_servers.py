"""devstack's own servers answer without Nagle's algorithm: a keep-alive client's second
request would otherwise wait for a delayed ACK (about 40 ms on Linux) before its answer's body
leaves the server. Checked from the server side: every answer goes out of a socket that has
TCP_NODELAY set."""

from __future__ import annotations

import socket
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

import httpx
import pytest

from devstack import stack
from devstack.emulator import ApiEmulator, FunctionPool
from devstack.moto_server import MotoServer
from devstack.servers import listen_on, serve_in_thread
from devstack.stripe_standin import start_stripe_standin
from devstack.template import Template
from devstack.upstreams import start_upstreams

Request = Callable[[httpx.Client], httpx.Response]


@dataclass
class AnsweringSockets:
    """The sockets servers accepted and, for each answer sent, whether its socket had
    TCP_NODELAY set when it sent."""

    accepted: list[socket.socket] = field(default_factory=list)
    nodelay_at_send: list[bool] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def note_send(self, sock: socket.socket) -> None:
        with self.lock:
            if any(sock is accepted for accepted in self.accepted):
                option = sock.getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY)
                self.nodelay_at_send.append(bool(option))


@pytest.fixture
def answering_sockets(monkeypatch: pytest.MonkeyPatch) -> AnsweringSockets:
    """Watches socket.socket in this process: both uvicorn's asyncio loop and werkzeug's
    socketserver accept with ``accept`` and answer with ``send`` or ``sendall``."""
    seen = AnsweringSockets()
    accept, send, sendall = socket.socket.accept, socket.socket.send, socket.socket.sendall

    def recording_accept(self: socket.socket) -> tuple[socket.socket, Any]:
        connection, address = accept(self)
        with seen.lock:
            seen.accepted.append(connection)
        return connection, address

    def recording_send(self: socket.socket, data: Any, *args: Any) -> int:
        seen.note_send(self)
        return send(self, data, *args)

    def recording_sendall(self: socket.socket, data: Any, *args: Any) -> None:
        seen.note_send(self)
        sendall(self, data, *args)

    monkeypatch.setattr(socket.socket, "accept", recording_accept)
    monkeypatch.setattr(socket.socket, "send", recording_send)
    monkeypatch.setattr(socket.socket, "sendall", recording_sendall)
    return seen


@pytest.fixture
def api_emulator() -> Iterator[str]:
    """The API emulator as devstack serves it: on a socket bound first, then served."""
    template = Template.load()
    pool = FunctionPool(template.functions(), stack.REGION)
    server = serve_in_thread(ApiEmulator(template, pool, stage="dev"), listen_on(0))
    yield server.url
    server.stop()


@pytest.fixture
def mock_upstreams() -> Iterator[str]:
    running = start_upstreams({"openai": "sk-mock"})
    yield running.base_url
    running.stop()


@pytest.fixture
def stripe_standin() -> Iterator[str]:
    running = start_stripe_standin("sk_test_devstack", "whsec_test")
    yield running.url
    running.stop()


@pytest.fixture
def moto_server() -> Iterator[str]:
    server = MotoServer().start()
    yield server.url
    server.stop()


LIST_TABLES = {
    "X-Amz-Target": "DynamoDB_20120810.ListTables",
    "Content-Type": "application/x-amz-json-1.0",
    "Authorization": "AWS4-HMAC-SHA256 Credential=devstack/20261130/us-east-1/dynamodb/"
    "aws4_request, SignedHeaders=host, Signature=0",
}

SERVERS: dict[str, tuple[str, Request]] = {
    "API emulator": ("api_emulator", lambda client: client.get("/no/such/route")),
    "mock upstreams": ("mock_upstreams", lambda client: client.get("/healthz")),
    "Stripe stand-in": ("stripe_standin", lambda client: client.get("/healthz")),
    "moto": ("moto_server", lambda client: client.post("/", content=b"{}", headers=LIST_TABLES)),
}


@pytest.mark.parametrize("server", SERVERS, ids=list(SERVERS))
def test_a_keep_alive_clients_answers_leave_the_server_without_nagles_delay(
    server: str, answering_sockets: AnsweringSockets, request: pytest.FixtureRequest
) -> None:
    # Given one of devstack's servers
    fixture, ask = SERVERS[server]
    url = request.getfixturevalue(fixture)

    # When a keep-alive client asks it twice
    with httpx.Client(base_url=url, timeout=30) as client:
        answers = [ask(client), ask(client)]

    # Then both were answered, from sockets that send at once (TCP_NODELAY)
    assert all(answer.status_code < 500 for answer in answers), [a.text for a in answers]
    assert answering_sockets.accepted, "the server accepted the client's connection"
    assert answering_sockets.nodelay_at_send, "the server sent its answers"
    assert all(answering_sockets.nodelay_at_send)
