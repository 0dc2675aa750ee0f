"""Tollgate's devstack and LiteLLM's proxy side by side, on the same mock upstream server.

`make bench-peer` installs LiteLLM's proxy into its own venv (.bench/litellm, pinned in the
Makefile, never a dependency of the product) and runs this. It starts the standalone mock
upstream, devstack pointed at it (`--upstream openai=<mock>`) and LiteLLM with a config that
points `gpt-4o-mini` at it, then prints one table: each gateway's overhead over calling the
upstream directly (sequential, in turns in the same run; non-streamed total and streamed
first byte, p50 and p99), its CPU time per request, and the requests per second it completes
with 16 and 64 concurrent clients for 20 s each; with the machine's load average.
"""

from __future__ import annotations

import asyncio
import os
import secrets
import socket
import subprocess
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import yaml

from bench import measure, processes
from bench.measure import Overhead, Runs, Target
from bench.proxy import CREDIT_USD, MODEL, UPSTREAM_MODEL, targets

LITELLM_VENV = processes.ROOT / ".bench" / "litellm"
ITERATIONS = 200
WARM_UP = 20
CONCURRENCY = (16, 64)
LOAD_SECONDS = 20
PEER_MODEL = "gpt-4o-mini"
# No telemetry, no download of the model price map at start-up, no admin UI, errors only.
LITELLM_ENVIRONMENT = {
    "LITELLM_LOG": "ERROR",
    "LITELLM_LOCAL_MODEL_COST_MAP": "True",
    "DISABLE_ADMIN_UI": "True",
    "LITELLM_TELEMETRY": "False",
}


@dataclass
class Throughput:
    completed: int
    failed: int
    seconds: float

    @property
    def per_second(self) -> float:
        return self.completed / self.seconds


@dataclass
class Comparison:
    runs: Runs
    cpu_ms: dict[str, float]
    throughput: dict[tuple[str, int], Throughput] = field(default_factory=dict)
    loads: list[tuple[str, str]] = field(default_factory=list)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def litellm_version(venv: Path) -> str:
    code = "import importlib.metadata as m; print(m.version('litellm'))"
    done = subprocess.run([venv / "bin" / "python", "-c", code], capture_output=True, text=True)
    return done.stdout.strip()


def write_litellm_config(path: Path, mock: processes.MockUpstream, master_key: str) -> None:
    model = {
        "model_name": PEER_MODEL,
        "litellm_params": {
            "model": f"openai/{UPSTREAM_MODEL}",
            "api_base": mock.base_url,
            "api_key": mock.key,
        },
    }
    config = {
        "model_list": [model],
        "litellm_settings": {"telemetry": False},
        "general_settings": {"master_key": master_key},
    }
    path.write_text(yaml.safe_dump(config, sort_keys=False))


@dataclass
class Peer:
    process: subprocess.Popen[bytes]
    target: Target

    def stop(self) -> None:
        self.process.terminate()
        try:
            self.process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()


def start_litellm(venv: Path, mock: processes.MockUpstream, work: Path) -> Peer:
    master_key = f"sk-bench-{secrets.token_hex(12)}"
    config = venv.parent / "litellm-config.yaml"
    write_litellm_config(config, mock, master_key)
    port = free_port()
    log = work / "litellm.log"
    env = {k: v for k, v in os.environ.items() if k != "DATABASE_URL"}
    command = [venv / "bin" / "litellm", "--config", config, "--host", "127.0.0.1"]
    process = subprocess.Popen(
        [*map(str, command), "--port", str(port)],
        env={**env, **LITELLM_ENVIRONMENT},
        stdout=open(log, "w"),  # noqa: SIM115 - lives as long as the process
        stderr=subprocess.STDOUT,
    )
    base = f"http://127.0.0.1:{port}"
    processes.wait_until_answers(f"{base}/health/liveliness", process, log)
    return Peer(process, Target("LiteLLM", f"{base}/v1", master_key, PEER_MODEL))


def report(venv: Path = LITELLM_VENV) -> None:
    work = Path(tempfile.mkdtemp(prefix="tollgate-bench-peer-"))
    before = processes.load_average()
    with processes.devstack_on_mock(work, CREDIT_USD) as (mock, devstack):
        peer = start_litellm(venv, mock, work)
        try:
            comparison = compare(devstack, peer, *targets(devstack.printed, mock))
        finally:
            peer.stop()
    comparison.loads = [("before", before), *comparison.loads, ("after", processes.load_average())]
    print_table(comparison, litellm_version(venv))


def compare(
    devstack: processes.Started, peer: Peer, tollgate: Target, direct: Target
) -> Comparison:
    tollgate = Target("Tollgate", tollgate.base_url, tollgate.key, tollgate.model)
    everyone = [direct, tollgate, peer.target]
    pids = {"Tollgate": devstack.pid, "LiteLLM": peer.process.pid}
    with httpx.Client(timeout=60) as client:
        measure.in_turns(client, everyone, WARM_UP)
        cpu = {name: processes.cpu_seconds(pid) for name, pid in pids.items()}
        runs = measure.in_turns(client, everyone, ITERATIONS)
    cpu_ms = {
        name: (processes.cpu_seconds(pid) - cpu[name]) * 1000 / (2 * ITERATIONS)
        for name, pid in pids.items()
    }
    comparison = Comparison(runs, cpu_ms)
    for target in everyone:
        for clients in CONCURRENCY:
            done = asyncio.run(throughput(target, clients, LOAD_SECONDS))
            comparison.throughput[(target.name, clients)] = done
            comparison.loads.append((f"{target.name} x{clients}", processes.load_average()))
    return comparison


async def throughput(target: Target, clients: int, seconds: float) -> Throughput:
    """``clients`` keep-alive clients each send non-streamed requests one after another for
    ``seconds``; the requests still in flight then are waited for and counted."""
    counts = {"completed": 0, "failed": 0}
    limits = httpx.Limits(max_connections=clients, max_keepalive_connections=clients)
    began = time.monotonic()
    deadline = began + seconds
    async with httpx.AsyncClient(timeout=60, limits=limits) as client:

        async def one_client() -> None:
            while time.monotonic() < deadline:
                try:
                    answer = await client.post(
                        target.url, json=target.body(False), headers=target.headers
                    )
                    ok = answer.status_code == 200
                except httpx.HTTPError:
                    ok = False
                counts["completed" if ok else "failed"] += 1

        await asyncio.gather(*(one_client() for _ in range(clients)))
    return Throughput(counts["completed"], counts["failed"], time.monotonic() - began)


def print_table(comparison: Comparison, version: str) -> None:
    runs = comparison.runs
    print(
        f"gateways side by side on the same standalone mock upstream, {os.cpu_count()} CPUs:"
        f" Tollgate (devstack, {MODEL}) and LiteLLM {version} (1 worker, no database,"
        f" {PEER_MODEL})"
    )
    print(
        f"  overhead = percentile(gateway) - percentile(direct), sequential, in turns in the"
        f" same run, {ITERATIONS} requests each after {WARM_UP} warm-up"
    )
    gateways = ("Tollgate", "LiteLLM")
    print(f"  {'':<34}{'Tollgate':>12}{'LiteLLM':>12}{'direct *':>12}")
    for label, by_name, pick in (
        ("non-stream", runs.plain, measure.totals),
        ("stream first byte", runs.streamed, measure.first_byte),
    ):
        over = {g: Overhead.of(pick(by_name[g]), pick(by_name["direct"])) for g in gateways}
        for p, attribute in (("p50", "p50"), ("p99", "p99")):
            values = "".join(f"{getattr(over[g], attribute):12.1f}" for g in gateways)
            direct = getattr(over["Tollgate"], f"direct_{attribute}")
            print(f"  {label + ' overhead ' + p + ' (ms)':<34}{values}{direct:12.1f}")
    cpu = "".join(f"{comparison.cpu_ms[g]:12.1f}" for g in gateways)
    print(f"  {'CPU per request (ms, process tree)':<34}{cpu}{'':>12}")
    for clients in CONCURRENCY:
        cells = [comparison.throughput[(name, clients)] for name in (*gateways, "direct")]
        rates = "".join(f"{t.per_second:12.1f}" for t in cells)
        print(f"  {f'throughput, {clients} clients (req/s)':<34}{rates}")
        failed = [t.failed for t in cells]
        if any(failed):
            print(f"  {'  failed requests':<34}" + "".join(f"{n:12d}" for n in failed))
    print("  * direct: the upstream's own latency, the baseline of both overheads")
    print(f"  throughput: completed non-streamed requests per second over {LOAD_SECONDS} s")
    print("  load average (1, 5, 15 min):")
    for when, load in comparison.loads:
        print(f"    {when:<22} {load}")
