"""`python -m bench` (what `make bench` runs): the benchmarks, figures on stdout.

python -m bench                       cold import, package size, the proxy's hot path
python -m bench soak [--requests N]   only the soak (what `make soak` runs); exit 1 if it grew
python -m bench peer                  Tollgate and LiteLLM side by side (`make bench-peer`,
                                      which installs LiteLLM into .bench/litellm first)
python -m bench console               the console's first page: load time and weight
"""

import argparse
import sys
from pathlib import Path

from bench import cold_start, console, package_size, peer, proxy, soak

if __name__ == "__main__":
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "layers" / "common"))
    parser = argparse.ArgumentParser(prog="python -m bench")
    parser.add_argument(
        "only", nargs="?", choices=["soak", "peer", "console"], help="run only this one"
    )
    parser.add_argument("--requests", type=int, default=soak.REQUESTS, help="soak requests")
    args = parser.parse_args()
    if args.only == "peer":
        peer.report()
        sys.exit(0)
    if args.only == "console":
        console.report()
        sys.exit(0)
    if args.only is None:
        cold_start.report()
        print()
        package_size.report()
        print()
        proxy.report()
        print()
        console.report()
        # The soak takes about half an hour: `make soak`.
        sys.exit(0)
    sys.exit(0 if soak.report(args.requests) else 1)
