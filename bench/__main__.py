"""`python -m bench` (what `make bench` runs): every benchmark, figures on stdout."""

import sys
from pathlib import Path

from bench import cold_start, package_size, proxy

if __name__ == "__main__":
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "layers" / "common"))
    cold_start.report()
    print()
    package_size.report()
    print()
    proxy.report()
