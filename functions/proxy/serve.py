"""Serve the proxy's app with uvicorn, as `python -m uvicorn --host 127.0.0.1 --port $PORT
--no-access-log app:app` did, without uvicorn's command line.

uvicorn's package ``__init__`` imports ``uvicorn.main``: click and the process supervisors,
about 37 ms of every cold start under python3.13, for a command line that a single server on
loopback does not need. ``uvicorn_server`` registers the package without running its
``__init__`` and imports only the config and the server; the ``__init__`` still runs, once, if
anything later asks the package for a name it defines (``uvicorn.__version__``, ``uvicorn.run``).
"""

from __future__ import annotations

import contextlib
import importlib.util
import os
import sys
from types import ModuleType
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from uvicorn.config import Config
    from uvicorn.server import Server

# What the command line's defaults were, beside the flags run.sh gave it.
APP = "app:app"
HOST = "127.0.0.1"
DEFAULT_PORT = 8080


def uvicorn_server() -> tuple[type[Config], type[Server]]:
    """uvicorn's Config and Server, with its package registered but its ``__init__`` deferred."""
    package = sys.modules.get("uvicorn") or _package_without_init("uvicorn")
    sys.modules["uvicorn"] = package
    from uvicorn.config import Config
    from uvicorn.server import Server

    # The two names of the __init__ that uvicorn's own modules import from the package
    # (uvicorn.lifespan: `from uvicorn import Config`), the very objects the __init__ exports.
    package.__dict__.setdefault("Config", Config)
    package.__dict__.setdefault("Server", Server)
    return Config, Server


def _package_without_init(name: str) -> ModuleType:
    spec = importlib.util.find_spec(name)
    if spec is None or spec.loader is None:
        raise ModuleNotFoundError(f"No module named {name!r}", name=name)
    package = importlib.util.module_from_spec(spec)
    loader = spec.loader

    def run_init_on_first_use(attribute: str) -> Any:
        # Module __getattr__ (PEP 562): asked only for what the package does not have yet.
        # Submodules are set on the package as they are imported, so only names defined by
        # the __init__ itself (or missing altogether) come here.
        if not package.__dict__.pop("__getattr__", None):
            raise AttributeError(f"module {name!r} has no attribute {attribute!r}")
        loader.exec_module(package)
        try:
            return package.__dict__[attribute]
        except KeyError:
            raise AttributeError(f"module {name!r} has no attribute {attribute!r}") from None

    package.__dict__["__getattr__"] = run_init_on_first_use
    return package


def main() -> None:
    config_class, server_class = uvicorn_server()
    from uvicorn.config import STARTUP_FAILURE

    config = config_class(
        APP, host=HOST, port=int(os.environ.get("PORT") or DEFAULT_PORT), access_log=False
    )
    # As uvicorn.run does for one process without reload: the app is imported before the server
    # starts (a failed import exits with STARTUP_FAILURE), and a server that never started too.
    config.load_app()
    server = server_class(config=config)
    with contextlib.suppress(KeyboardInterrupt):
        server.run()
    if not server.started:
        sys.exit(STARTUP_FAILURE)


if __name__ == "__main__":
    main()
