"""The processes a benchmark starts and watches: devstack as `make run` starts it, the
standalone mock upstream, a peer gateway; their memory and CPU time from /proc (Linux)."""

from __future__ import annotations

import os
import secrets
import signal
import subprocess
import sys
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parent.parent
CLOCK_TICKS = os.sysconf("SC_CLK_TCK")
READY_TIMEOUT_SECONDS = 120


def descendants(pid: int) -> list[int]:
    children_file = Path(f"/proc/{pid}/task/{pid}/children")
    if not children_file.exists():
        return []
    children = [int(child) for child in children_file.read_text().split()]
    return [grandchild for child in children for grandchild in [child, *descendants(child)]]


def rss_mb(pid: int) -> float:
    """Resident memory of a process and its descendants, in MB."""
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


def cpu_seconds(pid: int) -> float:
    """User plus system CPU time of a process (all its threads) and its descendants."""
    ticks = 0
    for member in [pid, *descendants(pid)]:
        try:
            stat = Path(f"/proc/{member}/stat").read_text()
        except FileNotFoundError:
            continue
        # After the command name in parentheses: state is field 3, utime 14, stime 15.
        fields = stat.rpartition(")")[2].split()
        ticks += int(fields[11]) + int(fields[12])
    return ticks / CLOCK_TICKS


def load_average() -> str:
    return " ".join(Path("/proc/loadavg").read_text().split()[:3])


@dataclass
class Started:
    """A process that printed NAME=value lines, then a ready line."""

    process: subprocess.Popen[str]
    printed: dict[str, str]

    @property
    def pid(self) -> int:
        return self.process.pid

    def stop(self) -> None:
        self.process.send_signal(signal.SIGINT)
        try:
            self.process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()


def start_printing(command: Sequence[str], *, ready: str, stderr_path: Path) -> Started:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "POWERTOOLS_"))}
    process = subprocess.Popen(
        list(command),
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=open(stderr_path, "w"),  # noqa: SIM115 - lives as long as the process
        text=True,
    )
    printed: dict[str, str] = {}
    assert process.stdout is not None
    for line in process.stdout:
        line = line.rstrip("\n")
        if line == ready:
            return Started(process, printed)
        name, _, value = line.partition("=")
        printed[name] = value
    raise RuntimeError(f"{command[:3]} exited with {process.wait()}; see {stderr_path}")


def start_devstack(state_dir: Path, *options: str) -> Started:
    """`python -m devstack` on free ports; ``printed`` is its contract."""
    state_dir.mkdir(parents=True, exist_ok=True)
    command = [sys.executable, "-m", "devstack", "--port", "0", "--state-dir", str(state_dir)]
    return start_printing(
        [*command, *options], ready="devstack ready", stderr_path=state_dir / "stderr.log"
    )


@dataclass
class MockUpstream:
    """The standalone mock upstream (`python -m devstack.upstreams`), OpenAI side."""

    started: Started
    key: str

    @property
    def base_url(self) -> str:
        return self.started.printed["MOCK_OPENAI_URL"]

    def devstack_options(self) -> list[str]:
        return ["--upstream", f"openai={self.base_url}", "--upstream-key", f"openai={self.key}"]


def start_mock_upstream(log_dir: Path) -> MockUpstream:
    key = f"mock-openai-{secrets.token_hex(8)}"
    command = [sys.executable, "-m", "devstack.upstreams", "--port", "0", "--key", f"openai={key}"]
    started = start_printing(
        command, ready="mock upstreams ready", stderr_path=log_dir / "mock-upstream.log"
    )
    return MockUpstream(started, key)


def credit(state_dir: Path, account_id: str, amount_usd: str) -> None:
    command = ["credit", account_id, amount_usd]
    subprocess.run(
        [sys.executable, "-m", "devstack", "--state-dir", str(state_dir), *command],
        cwd=ROOT,
        check=True,
        capture_output=True,
        timeout=120,
    )


def wait_until_answers(url: str, process: subprocess.Popen[bytes], log: Path) -> None:
    """Poll ``url`` until it answers 200 (a server that prints no ready line)."""
    deadline = time.monotonic() + READY_TIMEOUT_SECONDS
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"exited with {process.returncode}; see {log}")
        try:
            if httpx.get(url, timeout=2).status_code == 200:
                return
        except httpx.TransportError:
            pass
        time.sleep(0.5)
    raise RuntimeError(f"{url} did not answer within {READY_TIMEOUT_SECONDS} s; see {log}")


@contextmanager
def devstack_on_mock(work: Path, credit_usd: str) -> Iterator[tuple[MockUpstream, Started]]:
    """The standalone mock upstream, and devstack sending OpenAI's requests to it, its demo
    account credited with ``credit_usd``: both stopped on the way out."""
    mock = start_mock_upstream(work)
    try:
        devstack = start_devstack(work / "devstack", *mock.devstack_options())
        try:
            credit(work / "devstack", devstack.printed["TOLLGATE_ACCOUNT_ID"], credit_usd)
            yield mock, devstack
        finally:
            devstack.stop()
    finally:
        mock.started.stop()
