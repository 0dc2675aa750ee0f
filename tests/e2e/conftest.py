"""devstack in a subprocess, started once for the e2e tier, driven over HTTP."""

from __future__ import annotations

import contextlib
import os
import queue
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
READY_TIMEOUT_SECONDS = 600  # a deadline, not a wait: generous for a loaded machine


def read_contract(process: subprocess.Popen[str], ready: str = "devstack ready") -> dict[str, str]:
    """The NAME=value lines devstack (or another command) prints before ``ready``."""
    lines: queue.Queue[str | None] = queue.Queue()

    output = process.stdout
    assert output is not None, "devstack's stdout is a pipe"

    def pump() -> None:
        for line in output:
            lines.put(line.rstrip("\n"))
        lines.put(None)

    threading.Thread(target=pump, daemon=True).start()
    contract: dict[str, str] = {}
    deadline = time.monotonic() + READY_TIMEOUT_SECONDS
    while True:
        try:
            line = lines.get(timeout=max(0.1, deadline - time.monotonic()))
        except queue.Empty:
            raise RuntimeError(f"{ready!r} not seen in {READY_TIMEOUT_SECONDS} s") from None
        if line is None:
            raise RuntimeError(f"exited with {process.wait()} before {ready!r}")
        if line == ready:
            return contract
        name, _, value = line.partition("=")
        contract[name] = value


@contextlib.contextmanager
def running_devstack(state_dir: Path, *options: str) -> Iterator[dict[str, str]]:
    """A devstack of its own in a subprocess (with ``options`` such as ``--upstream``): its
    printed contract, plus STATE_DIR."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "POWERTOOLS_"))}
    process = subprocess.Popen(
        [sys.executable, "-m", "devstack", "--port", "0", "--state-dir", str(state_dir), *options],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=open(state_dir / "stderr.log", "w"),  # noqa: SIM115 - lives as long as the process
        text=True,
    )
    try:
        contract = read_contract(process)
        contract["STATE_DIR"] = str(state_dir)
        yield contract
    finally:
        process.send_signal(signal.SIGINT)
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            process.kill()
