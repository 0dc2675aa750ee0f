"""Run an ASGI app with uvicorn in a background thread on loopback."""

from __future__ import annotations

import errno
import socket
import threading
import time
from dataclasses import dataclass
from typing import Any

import uvicorn


class PortInUse(Exception):
    """Another program already listens on a port devstack was asked to use."""

    def __init__(self, port: int) -> None:
        super().__init__(f"port {port} is already in use")
        self.port = port


def listen_on(port: int) -> socket.socket:
    """A socket bound to 127.0.0.1:``port`` (0 picks a free port) whose connections send at
    once (TCP_NODELAY): with Nagle's algorithm, an answer's body written after its headers
    waits for the client's delayed ACK, about 40 ms on every reused connection."""
    # Accepted sockets inherit TCP_NODELAY from the listener (Linux, BSD); asyncio also sets
    # it on each connection, but only when the socket's proto is IPPROTO_TCP, not the 0 that
    # socket.socket(AF_INET, SOCK_STREAM) records and accept() copies.
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    try:
        sock.bind(("127.0.0.1", port))
    except OSError as error:
        sock.close()
        if error.errno == errno.EADDRINUSE:
            raise PortInUse(port) from None
        raise
    return sock


@dataclass
class RunningServer:
    server: uvicorn.Server
    thread: threading.Thread
    port: int

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def stop(self, timeout: float = 5.0) -> None:
        self.server.should_exit = True
        self.thread.join(timeout)


def serve_in_thread(
    app: Any, port: int | socket.socket = 0, *, name: str = "asgi"
) -> RunningServer:
    """Start ``app`` on 127.0.0.1:``port`` (0 picks a free port; or a socket from
    ``listen_on``) and wait until it listens."""
    sock = port if isinstance(port, socket.socket) else listen_on(port)
    # proxy_headers off: uvicorn would otherwise take the client address from X-Forwarded-For
    # sent from loopback, and API Gateway's sourceIp is the TCP peer, never a header.
    config = uvicorn.Config(
        app,
        log_level="warning",
        lifespan="off",
        access_log=False,
        timeout_graceful_shutdown=2,
        proxy_headers=False,
    )
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, name=name, daemon=True)
    thread.start()
    deadline = time.monotonic() + 60  # a deadline, not a wait: generous for a loaded machine
    while not server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            raise RuntimeError(f"{name} server did not start on port {port}")
        time.sleep(0.01)
    return RunningServer(server=server, thread=thread, port=sock.getsockname()[1])
