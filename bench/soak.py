"""Soak: many chat requests through a devstack started as `make run` starts it.

Starts `python -m devstack` in a subprocess, sends REQUESTS non-streamed chat requests one
after another with the demo key, and prints the resident memory of devstack's processes at
the start and at the end (and every tenth of the way), the p50 latency of the first and the
last WINDOW requests, and whether the stack held steady: memory grew less than 150 MB and the
last p50 is within 1.5x of the first.
"""

from __future__ import annotations

import os
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx

from bench.proxy import BODY, MODEL

ROOT = Path(__file__).resolve().parent.parent
REQUESTS = 5000
WINDOW = 500
MAX_GROWTH_MB = 150
MAX_SLOWDOWN = 1.5
READY_TIMEOUT_SECONDS = 120


def rss_mb(pid: int) -> float:
    """Resident memory of a process and its descendants, in MB (Linux /proc)."""
    total_kb = 0
    for member in [pid, *descendants(pid)]:
        try:
            status = Path(f"/proc/{member}/status").read_text()
        except FileNotFoundError:
            continue
        for line in status.splitlines():
            if line.startswith("VmRSS:"):
                total_kb += int(line.split()[1])
    return total_kb / 1024


def descendants(pid: int) -> list[int]:
    children_file = Path(f"/proc/{pid}/task/{pid}/children")
    if not children_file.exists():
        return []
    children = [int(child) for child in children_file.read_text().split()]
    return [grandchild for child in children for grandchild in [child, *descendants(child)]]


def start_devstack(state_dir: Path) -> tuple[subprocess.Popen[str], dict[str, str]]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "POWERTOOLS_"))}
    process = subprocess.Popen(
        [sys.executable, "-m", "devstack", "--port", "0", "--state-dir", str(state_dir)],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=open(state_dir / "stderr.log", "w"),  # noqa: SIM115 - lives as long as the process
        text=True,
    )
    contract: dict[str, str] = {}
    assert process.stdout is not None
    for line in process.stdout:
        line = line.rstrip("\n")
        if line == "devstack ready":
            return process, contract
        name, _, value = line.partition("=")
        contract[name] = value
    raise RuntimeError(f"devstack exited with {process.wait()}; see {state_dir}/stderr.log")


def credit(state_dir: Path, account_id: str, amount_usd: str) -> None:
    command = ["credit", account_id, amount_usd]
    subprocess.run(
        [sys.executable, "-m", "devstack", "--state-dir", str(state_dir), *command],
        cwd=ROOT,
        check=True,
        capture_output=True,
        timeout=120,
    )


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
    process, contract = start_devstack(state_dir)
    try:
        credit(state_dir, contract["TOLLGATE_ACCOUNT_ID"], "1000")
        start_mb = rss_mb(process.pid)
        began = time.monotonic()
        latencies, memory = soak(contract, process.pid, requests)
        minutes = (time.monotonic() - began) / 60
        end_mb = rss_mb(process.pid)
    finally:
        process.send_signal(signal.SIGINT)
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            process.kill()

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
