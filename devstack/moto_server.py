"""moto in server mode, one request at a time, refusing the browser uploads S3 would refuse.

moto's backends are not safe under concurrent requests (seen here: "dictionary changed size
during iteration" with 50 concurrent proxy requests), so requests are served by threads but
enter moto one at a time, as DynamoDB's own serialisation of a single item would. Its
DynamoDB transactions copy the items they name, not whole tables, and it does not keep every
item it ever made (devstack/moto_dynamodb.py).
"""

from __future__ import annotations

import json
import re
import threading
import time
from collections.abc import Callable, Iterable, Mapping
from pathlib import Path
from typing import Any, TextIO

from moto.moto_server.werkzeug_app import (
    DomainDispatcherApplication,
    MotoRequestHandler,
    create_backend_app,
)
from werkzeug.serving import make_server

from devstack import moto_dynamodb, s3_post_policy
from devstack.servers import listen_on

WSGIApp = Callable[[dict[str, Any], Any], Iterable[bytes]]


class NoDelayRequestHandler(MotoRequestHandler):
    """Sets TCP_NODELAY on each connection (socketserver's own switch), whatever the
    platform's inheritance from the listening socket."""

    disable_nagle_algorithm = True


class MotoServer:
    """``request_log``: a JSON-lines file that gets one line per request (devstack's
    logs/dynamodb.jsonl), for benchmarks to tell the emulator's time from the gateway's."""

    def __init__(
        self,
        port: int = 0,
        *,
        request_log: Path | None = None,
        credentials: Mapping[str, str] | None = None,
    ) -> None:
        """``credentials``: the secret access key of each access key id, which sign the
        browser uploads' POST policies (devstack/s3_post_policy.py checks them)."""
        moto_dynamodb.install()
        self._log = RequestLog(request_log) if request_log else None
        app = one_at_a_time(DomainDispatcherApplication(create_backend_app), self._log)
        app = s3_post_policy.enforcing(app, credentials or {})
        # Bound here, not by werkzeug, which answers a busy port with sys.exit(1).
        sock = listen_on(port)
        sock.listen()
        self._server = make_server(
            "127.0.0.1",
            sock.getsockname()[1],
            app,
            threaded=True,
            request_handler=NoDelayRequestHandler,
            fd=sock.fileno(),
        )
        sock.close()  # werkzeug serves a duplicate of it
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self._server.port}"

    def start(self) -> MotoServer:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._server.shutdown()  # werkzeug's serve_forever closes the socket as it returns
        self._thread.join(5)
        if self._log:
            self._log.close()


def one_at_a_time(app: WSGIApp, log: RequestLog | None) -> WSGIApp:
    """``app`` entered by one request at a time, each logged when ``log`` is given."""
    lock = threading.Lock()

    def serve(environ: dict[str, Any], start_response: Any) -> list[bytes]:
        received = time.time()
        with lock:
            started = time.time()
            try:
                return list(app(environ, start_response))
            finally:
                if log:
                    log.write(operation(environ), received, started, time.time())

    return serve


class RequestLog:
    """One JSON line per request, written as it is answered: ``op`` (a DynamoDB action, e.g.
    "GetItem", or "<service>:<action>" for the other services, the HTTP method when the action
    is in the body), and time.time() when the request ``received`` a server thread,
    ``started`` in moto (after the one-at-a-time lock) and was ``answered`` by moto."""

    def __init__(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        # A fresh file per run; line-buffered, so that a reader sees each line at once.
        self._file: TextIO = open(path, "w", buffering=1)  # noqa: SIM115 - lives with the server
        self._lock = threading.Lock()  # a request still in flight as the server stops

    def write(self, op: str, received: float, started: float, answered: float) -> None:
        line = {"op": op, "received": received, "started": started, "answered": answered}
        with self._lock:
            if not self._file.closed:
                self._file.write(json.dumps(line) + "\n")

    def close(self) -> None:
        with self._lock:
            self._file.close()


_SIGNED_SERVICE = re.compile(r"Credential=[^/,]*/[^/,]*/[^/,]*/([^/,]+)/aws4_request")


def operation(environ: dict[str, Any]) -> str:
    """What a request asks, from its headers alone (the body is moto's to read)."""
    prefix, _, action = environ.get("HTTP_X_AMZ_TARGET", "").partition(".")
    if action and prefix.startswith("DynamoDB_"):
        return action
    signed = _SIGNED_SERVICE.search(environ.get("HTTP_AUTHORIZATION", ""))
    service = signed.group(1) if signed else "unknown"
    return f"{service}:{action or environ.get('REQUEST_METHOD', '')}"
