"""devstack in a subprocess, started once for the e2e tier, driven over HTTP."""

from __future__ import annotations

import os
import queue
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
READY_TIMEOUT_SECONDS = 90


def read_contract(process: subprocess.Popen[str]) -> dict[str, str]:
    """The NAME=value lines devstack prints before `devstack ready`."""
    lines: queue.Queue[str | None] = queue.Queue()

    def pump() -> None:
        for line in process.stdout:
            lines.put(line.rstrip("\n"))
        lines.put(None)

    threading.Thread(target=pump, daemon=True).start()
    contract: dict[str, str] = {}
    deadline = time.monotonic() + READY_TIMEOUT_SECONDS
    while True:
        line = lines.get(timeout=max(0.1, deadline - time.monotonic()))
        if line is None:
            raise RuntimeError(f"devstack exited with {process.wait()} before it was ready")
        if line == "devstack ready":
            return contract
        name, _, value = line.partition("=")
        contract[name] = value


@pytest.fixture(scope="session")
def devstack(tmp_path_factory) -> Iterator[dict[str, str]]:
    state_dir = tmp_path_factory.mktemp("devstack")
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "POWERTOOLS_"))}
    process = subprocess.Popen(
        [sys.executable, "-m", "devstack", "--port", "0", "--state-dir", str(state_dir)],
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
