"""moto in server mode, one request at a time.

moto's backends are not safe under concurrent requests (seen here: "dictionary changed size
during iteration" with 50 concurrent proxy requests), so requests are served by threads but
enter moto one at a time, as DynamoDB's own serialisation of a single item would. Its
DynamoDB transactions copy the items they name, not whole tables, and it does not keep every
item it ever made (devstack/moto_dynamodb.py).
"""

from __future__ import annotations

import threading
from typing import Any

from moto.moto_server.werkzeug_app import (
    DomainDispatcherApplication,
    MotoRequestHandler,
    create_backend_app,
)
from werkzeug.serving import make_server

from devstack import moto_dynamodb
from devstack.servers import listen_on


class NoDelayRequestHandler(MotoRequestHandler):
    """Sets TCP_NODELAY on each connection (socketserver's own switch), whatever the
    platform's inheritance from the listening socket."""

    disable_nagle_algorithm = True


class MotoServer:
    def __init__(self, port: int = 0) -> None:
        moto_dynamodb.install()
        app = DomainDispatcherApplication(create_backend_app)
        lock = threading.Lock()

        def one_at_a_time(environ: dict[str, Any], start_response: Any) -> list[bytes]:
            with lock:
                return list(app(environ, start_response))

        # Bound here, not by werkzeug, which answers a busy port with sys.exit(1).
        sock = listen_on(port)
        sock.listen()
        self._server = make_server(
            "127.0.0.1",
            sock.getsockname()[1],
            one_at_a_time,
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
