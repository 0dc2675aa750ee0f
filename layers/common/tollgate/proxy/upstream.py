"""HTTP to the model providers with the standard library, run in worker threads.

http.client keeps the proxy's import light (no httpx, no aiohttp); the blocking calls run in
threads so the event loop keeps streaming other responses. Idle keep-alive connections are
pooled per host, for at most ``max_idle`` seconds: servers close idle connections after their
keep-alive timeout (often 5 s or more), and a Lambda container thaws with connections the
provider closed while it was frozen. A request that fails on a reused connection before any
byte of an answer is sent once more on a new connection: the server closed it meanwhile.
Connect and read timeouts are separate.
"""

from __future__ import annotations

import contextlib
import http.client
import socket
import threading
import time
from collections import deque
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from urllib.parse import urlsplit

from tollgate import tls
from tollgate.providers.base import UpstreamCall
from tollgate.proxy.threads import blocking

READ_SIZE = 16 * 1024
MAX_IDLE_SECONDS = 4.0  # below the usual keep-alive timeouts of servers (5 s and up)
_Host = tuple[str, str, int]  # scheme, host, port
STALE = ConnectionError  # reset, broken pipe, or closed before any byte (RemoteDisconnected)


class UpstreamUnreachable(Exception):
    """No answer began: the connection failed or timed out before the status line."""

    def __init__(self, message: str, *, timeout: bool) -> None:
        super().__init__(message)
        self.timeout = timeout


@dataclass(slots=True)
class UpstreamResponse:
    """An upstream's answer, read from a pooled connection that it returns when done."""

    status: int
    headers: dict[str, str]
    _response: http.client.HTTPResponse
    _connection: http.client.HTTPConnection
    _pool: ConnectionPool
    _released: bool = False  # back in the pool (or closed): no longer this response's to close

    async def read(self) -> bytes:
        try:
            return await blocking(self._response.read)
        finally:
            self._release()

    async def chunks(self) -> AsyncIterator[bytes]:
        """The body as it arrives; raises OSError (TimeoutError included) when it breaks."""
        try:
            while True:
                try:
                    data = await blocking(self._response.read1, READ_SIZE)
                except http.client.HTTPException as error:  # e.g. IncompleteRead: cut mid-chunk
                    raise ConnectionError(f"the upstream stream broke: {error!r}") from error
                if not data:
                    return
                yield data
        finally:
            self._release()

    def close(self) -> None:
        """Hang up on the upstream, also waking a read blocked in a worker thread (closing
        alone would leave it blocked: the response's file still holds the socket). A
        connection already back in the pool may serve another request: it is left alone."""
        if self._released:
            return
        self._released = True
        sock = self._connection.sock
        if sock is not None:
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)
        self._connection.close()

    def _release(self) -> None:
        if self._released:
            return
        self._released = True
        if self._response.isclosed() and not self._response.will_close:
            self._pool.put(self._connection)
        else:
            self._connection.close()


class ConnectionPool:
    def __init__(
        self,
        *,
        connect_timeout: float,
        read_timeout: float,
        max_idle: float = MAX_IDLE_SECONDS,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.connect_timeout = connect_timeout
        self.read_timeout = read_timeout
        self.max_idle = max_idle
        self.clock = clock
        self._lock = threading.Lock()
        self._idle: dict[_Host, deque[tuple[float, http.client.HTTPConnection]]] = {}

    def get(
        self, scheme: str, host: str, port: int, *, fresh: bool = False
    ) -> tuple[http.client.HTTPConnection, bool]:
        """A connection and whether it was reused (a reused one may have been closed by the
        server meanwhile). An idle one older than ``max_idle`` is closed, not reused; ``fresh``
        skips the idle ones."""
        if not fresh:
            reused = self._take_idle((scheme, host, port))
            if reused is not None:
                return reused, True
        if scheme == "https":
            connection: http.client.HTTPConnection = http.client.HTTPSConnection(
                host, port, timeout=self.connect_timeout, context=tls.client_context()
            )
        else:
            connection = http.client.HTTPConnection(host, port, timeout=self.connect_timeout)
        connection.connect()
        connection.sock.settimeout(self.read_timeout)
        return connection, False

    def put(self, connection: http.client.HTTPConnection) -> None:
        key = (
            "https" if isinstance(connection, http.client.HTTPSConnection) else "http",
            connection.host,
            connection.port,
        )
        with self._lock:
            self._idle.setdefault(key, deque()).append((self.clock(), connection))

    def _take_idle(self, key: _Host) -> http.client.HTTPConnection | None:
        """The most recently used idle connection young enough to reuse; older ones close."""
        now = self.clock()
        with self._lock:
            idle = self._idle.get(key) or deque()
            expired = [connection for since, connection in idle if now - since > self.max_idle]
            young = deque(entry for entry in idle if now - entry[0] <= self.max_idle)
            self._idle[key] = young
            taken = young.pop()[1] if young else None
        for connection in expired:
            connection.close()
        return taken


class UpstreamClient:
    def __init__(
        self,
        *,
        connect_timeout: float = 5.0,
        read_timeout: float = 120.0,
        max_idle: float = MAX_IDLE_SECONDS,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.pool = ConnectionPool(
            connect_timeout=connect_timeout,
            read_timeout=read_timeout,
            max_idle=max_idle,
            clock=clock,
        )

    async def send(self, call: UpstreamCall) -> UpstreamResponse:
        """Send the request and wait for the status line and headers."""
        return await blocking(self._send, call)

    def _send(self, call: UpstreamCall) -> UpstreamResponse:
        url = urlsplit(call.url)
        port = url.port or (443 if url.scheme == "https" else 80)
        target = url.path + (f"?{url.query}" if url.query else "")
        fresh = False
        while True:
            try:
                connection, reused = self.pool.get(
                    url.scheme, url.hostname or "", port, fresh=fresh
                )
            except TimeoutError as error:
                raise UpstreamUnreachable("connect timed out", timeout=True) from error
            except OSError as error:
                raise UpstreamUnreachable(f"connect failed: {error}", timeout=False) from error
            try:
                connection.request(call.method, target, body=call.body, headers=call.headers)
                response = connection.getresponse()
            except TimeoutError as error:
                connection.close()
                raise UpstreamUnreachable("no answer in time", timeout=True) from error
            except STALE as error:
                connection.close()
                if reused:  # the server closed it while it was idle: once more, on a new one
                    fresh = True
                    continue
                raise UpstreamUnreachable(f"connection dropped: {error}", timeout=False) from error
            except (OSError, http.client.HTTPException) as error:  # e.g. a garbled status line
                connection.close()
                raise UpstreamUnreachable(f"request failed: {error!r}", timeout=False) from error
            headers = {name.lower(): value for name, value in response.getheaders()}
            return UpstreamResponse(response.status, headers, response, connection, self.pool)
