"""Soak: many chat requests through a devstack started as `make run` starts it.

Starts `python -m devstack` in a subprocess, sends REQUESTS non-streamed chat requests one
after another with the demo key, and prints the resident memory of devstack's processes at
the start and at the end (and every tenth of the way), the p50 latency of the first and the
last WINDOW requests, and whether the stack held steady: memory grew less than 150 MB and the
last p50 is within 1.5x of the first.
"""

from __future__ import annotations

import statistics
import tempfile
import time
from pathlib import Path

import httpx

from bench.measure import MESSAGES
from bench.processes import credit, rss_mb, start_devstack
from bench.proxy import MODEL

BODY = {"model": MODEL, "messages": MESSAGES, "max_tokens": 30}
REQUESTS = 5000
WINDOW = 500
MAX_GROWTH_MB = 150
MAX_SLOWDOWN = 1.5


def soak(contract: dict[str, str], pid: int, requests: int) -> tuple[list[float], list[str]]:
    """Latencies in ms, and the memory lines printed along the way."""
    url = contract["OPENAI_BASE_URL"] + "/chat/completions"
    headers = {"Authorization": f"Bearer {contract['TOLLGATE_API_KEY']}"}
    latencies: list[float] = []
    memory: list[str] = []
    step = max(1, requests // 10)
    with httpx.Client(timeout=60) as client:
        for n in range(requests):
            started = time.perf_counter()
            answer = client.post(url, json=BODY, headers=headers)
            latencies.append((time.perf_counter() - started) * 1000)
            if answer.status_code != 200:
                raise RuntimeError(f"request {n + 1} answered {answer.status_code}: {answer.text}")
            if (n + 1) % step == 0:
                memory.append(f"    after {n + 1:>5} requests   RSS {rss_mb(pid):7.1f} MB")
    return latencies, memory


def report(requests: int = REQUESTS) -> bool:
    window = min(WINDOW, requests // 2)
    state_dir = Path(tempfile.mkdtemp(prefix="tollgate-soak-"))
    devstack = start_devstack(state_dir)
    contract = devstack.printed
    try:
        credit(state_dir, contract["TOLLGATE_ACCOUNT_ID"], "1000")
        start_mb = rss_mb(devstack.pid)
        began = time.monotonic()
        latencies, memory = soak(contract, devstack.pid, requests)
        minutes = (time.monotonic() - began) / 60
        end_mb = rss_mb(devstack.pid)
    finally:
        devstack.stop()

    first = statistics.median(latencies[:window])
    last = statistics.median(latencies[-window:])
    growth, slowdown = end_mb - start_mb, last / first
    steady = growth < MAX_GROWTH_MB and slowdown < MAX_SLOWDOWN
    print(f"soak: {requests} chat requests, {MODEL} on the mock upstream, in {minutes:.1f} min")
    print(
        f"  devstack RSS   start {start_mb:7.1f} MB   end {end_mb:7.1f} MB   grew {growth:6.1f} MB"
    )
    print("\n".join(memory))
    print(
        f"  latency p50    first {window} {first:6.1f} ms   last {window} {last:6.1f} ms"
        f"   ratio {slowdown:4.2f}x"
    )
    print(
        f"  steady: {'yes' if steady else 'NO'} (memory grows < {MAX_GROWTH_MB} MB,"
        f" last p50 < {MAX_SLOWDOWN}x the first)"
    )
    return steady
