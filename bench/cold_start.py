"""Cold import time of each function's handler module, in a fresh interpreter each time.

What Lambda pays on a cold start before the first event: importing the handler module (and
through it the layer). Reported as the median of several runs, in milliseconds.
"""

from __future__ import annotations

import os
import statistics
import subprocess
import sys

from devstack import stack
from devstack.template import ROOT, LocalNames, Template

RUNS = 5
_PROBE = (
    "import sys, time; sys.path[:0] = [{root!r}, {layer!r}]; t = time.perf_counter(); "
    "import {module}; print((time.perf_counter() - t) * 1000)"
)


def import_ms(module: str, env: dict[str, str]) -> float:
    code = _PROBE.format(root=str(ROOT), layer=str(ROOT / "layers" / "common"), module=module)
    done = subprocess.run(
        [sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True
    )
    return float(done.stdout.strip().splitlines()[-1])


def run() -> list[tuple[str, float]]:
    template = Template.load()
    names = LocalNames.for_template(template, stack="tollgate-bench", region=stack.REGION)
    env = {**os.environ, **stack.BASE_ENVIRONMENT, **stack.functions_environment(template, names)}
    modules = {logical_id: f.module for logical_id, f in template.functions().items()}
    # Under the Web Adapter the proxy's server is imported too, before the app.
    modules["(uvicorn, the proxy's server)"] = "uvicorn"
    return [
        (name, statistics.median(import_ms(module, env) for _ in range(RUNS)))
        for name, module in sorted(modules.items())
    ]


def report() -> None:
    print(f"cold import of each handler module (median of {RUNS} fresh interpreters)")
    for logical_id, median in run():
        print(f"  {logical_id:<30} {median:8.1f} ms")
