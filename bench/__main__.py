"""`python -m bench` (what `make bench` runs): every benchmark, figures on stdout.

python -m bench                       every benchmark, the soak last
python -m bench soak [--requests N]   only the soak (what `make soak` runs); exit 1 if it grew
"""

import argparse
import sys
from pathlib import Path

from bench import cold_start, package_size, proxy, soak

if __name__ == "__main__":
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "layers" / "common"))
    parser = argparse.ArgumentParser(prog="python -m bench")
    parser.add_argument("only", nargs="?", choices=["soak"], help="run only this benchmark")
    parser.add_argument("--requests", type=int, default=soak.REQUESTS, help="soak requests")
    args = parser.parse_args()
    if args.only is None:
        cold_start.report()
        print()
        package_size.report()
        print()
        proxy.report()
        print()
    sys.exit(0 if soak.report(args.requests) else 1)
