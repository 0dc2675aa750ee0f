"""``python -m devstack.upstreams``: the mock upstreams alone, e.g. behind another gateway.

python -m devstack.upstreams [--port 0] [--key openai=KEY ...]

prints MOCK_<KIND>_URL=... (each provider's base URL) and MOCK_<KIND>_KEY=... (the key it
accepts: the one given, else a new one) for openai, anthropic and gemini, then
`mock upstreams ready`; serves until SIGINT or SIGTERM.
"""

from __future__ import annotations

import argparse
import secrets
import signal
import sys
import threading

from devstack.servers import PortInUse
from devstack.stack import PROVIDER_KINDS, provider_kind_and
from devstack.upstreams.server import start_upstreams


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m devstack.upstreams", description=__doc__.split("\n")[0]
    )
    parser.add_argument("--port", type=int, default=0, help="the port (0 picks a free one)")
    parser.add_argument(
        "--key",
        type=provider_kind_and("key"),
        action="append",
        default=[],
        metavar="KIND=KEY",
        help="the API key a provider kind (openai, anthropic, gemini) accepts (repeatable)",
    )
    args = parser.parse_args(argv)
    keys = {kind: f"mock-{kind}-{secrets.token_hex(8)}" for kind in PROVIDER_KINDS}
    keys.update(dict(args.key))
    stop = threading.Event()
    for signum in (signal.SIGINT, signal.SIGTERM):
        signal.signal(signum, lambda *_: stop.set())
    try:
        running = start_upstreams(keys, args.port)
    except PortInUse as busy:
        print(f"devstack.upstreams: {busy} (--port 0 picks a free one)", file=sys.stderr)
        return 2
    for kind in PROVIDER_KINDS:
        print(f"MOCK_{kind.upper()}_URL={running.base_urls[kind]}")
        print(f"MOCK_{kind.upper()}_KEY={keys[kind]}")
    print("mock upstreams ready", flush=True)
    while not stop.wait(0.5):
        pass
    running.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
