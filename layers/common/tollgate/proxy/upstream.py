"""HTTP to the model providers with the standard library, run in worker threads.

http.client keeps the proxy's import light (no httpx, no aiohttp); the blocking calls run in
threads so the event loop keeps streaming other responses. Idle keep-alive connections are
pooled per host. Connect and read timeouts are separate.
"""

from __future__ import annotations

import http.client
import queue
from collections.abc import AsyncIterator
from dataclasses import dataclass
from urllib.parse import urlsplit

from tollgate import tls
from tollgate.providers.base import UpstreamCall
from tollgate.proxy.threads import blocking

READ_SIZE = 16 * 1024


class UpstreamUnreachable(Exception):
    """No answer began: the connection failed or timed out before the status line."""

    def __init__(self, message: str, *, timeout: bool) -> None:
        super().__init__(message)
        self.timeout = timeout


@dataclass(slots=True)
class UpstreamResponse:
    status: int
    headers: dict[str, str]
    _response: http.client.HTTPResponse
    _connection: http.client.HTTPConnection
    _pool: ConnectionPool

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
        self._connection.close()

    def _release(self) -> None:
        if self._response.isclosed() and not self._response.will_close:
            self._pool.put(self._connection)
        else:
            self._connection.close()


class ConnectionPool:
    def __init__(self, *, connect_timeout: float, read_timeout: float) -> None:
        self.connect_timeout = connect_timeout
        self.read_timeout = read_timeout
        self._idle: dict[tuple[str, str, int], queue.SimpleQueue] = {}

    def get(self, scheme: str, host: str, port: int) -> tuple[http.client.HTTPConnection, bool]:
        """A connection and whether it was reused (a reused one may have been closed by the
        server meanwhile)."""
        idle = self._idle.setdefault((scheme, host, port), queue.SimpleQueue())
        try:
            return idle.get_nowait(), True
        except queue.Empty:
            pass
        connection: http.client.HTTPConnection
        if scheme == "https":
            connection = http.client.HTTPSConnection(
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
        self._idle.setdefault(key, queue.SimpleQueue()).put(connection)


class UpstreamClient:
    def __init__(self, *, connect_timeout: float = 5.0, read_timeout: float = 120.0) -> None:
        self.pool = ConnectionPool(connect_timeout=connect_timeout, read_timeout=read_timeout)

    async def send(self, call: UpstreamCall) -> UpstreamResponse:
        """Send the request and wait for the status line and headers."""
        return await blocking(self._send, call)

    def _send(self, call: UpstreamCall) -> UpstreamResponse:
        url = urlsplit(call.url)
        port = url.port or (443 if url.scheme == "https" else 80)
        target = url.path + (f"?{url.query}" if url.query else "")
        for attempt in (1, 2):
            try:
                connection, reused = self.pool.get(url.scheme, url.hostname or "", port)
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
            except (http.client.RemoteDisconnected, ConnectionResetError, BrokenPipeError) as error:
                connection.close()
                if reused and attempt == 1:
                    continue  # the server closed an idle keep-alive connection: try a fresh one
                raise UpstreamUnreachable(f"connection dropped: {error}", timeout=False) from error
            except OSError as error:
                connection.close()
                raise UpstreamUnreachable(f"request failed: {error}", timeout=False) from error
            headers = {name.lower(): value for name, value in response.getheaders()}
            return UpstreamResponse(response.status, headers, response, connection, self.pool)
        raise AssertionError("unreachable")
