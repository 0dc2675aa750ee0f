"""Cold import time of each function's handler module, in a fresh interpreter each time.

What Lambda pays on a cold start before the first event: importing the handler module (and
through it the layer). Reported as the median of several runs, in milliseconds: first from the
sources under the venv's Python, then the proxy from what `make build` made, under python3.13
as on Lambda, with the check that its bytecode is what the runtime will use (bench/bytecode.py).
"""

from __future__ import annotations

import os
import statistics
import subprocess
import sys
from pathlib import Path

from devstack import stack
from devstack.template import ROOT, LocalNames, Template

RUNS = 5
BUILD = ROOT / ".aws-sam" / "build"
LAMBDA_PYTHON = "python3.13"  # the template's runtime
TARGET_MS = 150
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


def functions_env(template: Template) -> dict[str, str]:
    names = LocalNames.for_template(template, stack="tollgate-bench", region=stack.REGION)
    return {**os.environ, **stack.BASE_ENVIRONMENT, **stack.functions_environment(template, names)}


def run() -> list[tuple[str, float]]:
    template = Template.load()
    env = functions_env(template)
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
    print()
    report_built_proxy()


# What run.sh starts (serve.py): uvicorn's config and server without its command line, then
# the app, with the function's own directory first on sys.path and the layer after it. -B:
# Lambda's /var/task and /opt are read-only, so nothing compiled during the import is kept for
# the next cold start, and no .pyc written here may hide one that the build did not ship. The
# CPU time is the interpreter's own, a steadier figure than the wall clock on a shared machine.
_BUILT_PROBE = (
    "import sys, time; sys.path[:0] = [{function!r}, {layer!r}]; t = time.perf_counter(); "
    "c = time.process_time(); import serve; serve.uvicorn_server(); import app; "
    "print((time.perf_counter() - t) * 1000, (time.process_time() - c) * 1000)"
)


def built_proxy_import_ms(env: dict[str, str]) -> tuple[float, float]:
    """Wall and CPU milliseconds of one cold import of the built proxy under python3.13."""
    code = _BUILT_PROBE.format(
        function=str(BUILD / "ProxyFunction"), layer=str(BUILD / "CommonLayer" / "python")
    )
    done = subprocess.run(
        [LAMBDA_PYTHON, "-I", "-B", "-c", code], env=env, capture_output=True, text=True, check=True
    )
    wall, cpu = done.stdout.split()
    return float(wall), float(cpu)


# The floor under any ASGI server: the interpreter's own asyncio, imported the same way (a
# fresh process, -I -B). Printed beside the proxy's figure so that a slow machine's share of it
# is plain: on this project's 2-core CI machine it alone is ~110-160 ms under python3.13.
_FLOOR_PROBE = (
    "import time; t = time.perf_counter(); import asyncio; print((time.perf_counter() - t) * 1000)"
)


def asyncio_floor_ms(env: dict[str, str]) -> float:
    done = subprocess.run(
        [LAMBDA_PYTHON, "-I", "-B", "-c", _FLOOR_PROBE],
        env=env,
        capture_output=True,
        text=True,
        check=True,
    )
    return float(done.stdout.strip())


def bytecode_verdict(env: dict[str, str]) -> str:
    roots = [str(BUILD / "ProxyFunction"), str(BUILD / "CommonLayer" / "python")]
    checker = str(Path(__file__).with_name("bytecode.py"))
    done = subprocess.run(
        [LAMBDA_PYTHON, "-I", "-B", checker, *roots], env=env, capture_output=True, text=True
    )
    return (done.stdout or done.stderr).strip()


def report_built_proxy() -> None:
    title = f"cold import of the proxy from the sam build output, {LAMBDA_PYTHON}"
    if not (BUILD / "ProxyFunction").is_dir():
        print(f"{title}: no .aws-sam/build; run `make build` first")
        return
    env = functions_env(Template.load())
    try:
        runs = [built_proxy_import_ms(env) for _ in range(RUNS)]
        floor = statistics.median(asyncio_floor_ms(env) for _ in range(RUNS))
    except (OSError, subprocess.CalledProcessError) as error:
        reason = getattr(error, "stderr", "") or error
        print(f"{title}: could not run {LAMBDA_PYTHON}: {str(reason).strip()[-300:]}")
        return
    wall = statistics.median(run[0] for run in runs)
    cpu = statistics.median(run[1] for run in runs)
    print(f"{title} (median of {RUNS} fresh interpreters)")
    label = "ProxyFunction (uvicorn + app)"
    print(f"  {label:<30} {wall:8.1f} ms   CPU {cpu:6.1f} ms   target <= {TARGET_MS} ms")
    label = "of which the floor: asyncio"
    print(f"  {label:<30} {floor:8.1f} ms   (the interpreter's own `import asyncio`)")
    print(f"  bytecode: {bytecode_verdict(env)}")
