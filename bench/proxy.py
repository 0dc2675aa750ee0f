"""The proxy's hot path as a client sees it: devstack against a standalone mock upstream.

Starts the mock upstream (`python -m devstack.upstreams`) and devstack (`python -m devstack
--upstream openai=<mock>`) as processes, then sends chat requests through the gateway and
straight to the same upstream server in turns, in the same run, with keep-alive clients.
Overhead is percentile(gateway) - percentile(direct) of the client-observed latency. Also:
devstack's CPU time per request and memory, and the DynamoDB calls per request counted from
the emulator's own request log, with the time they took in moto; then that the books agree
after 1,000 requests with faults mixed in (`bench/reconcile.py`).
"""

from __future__ import annotations

import statistics
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import httpx

from bench import dynamodb_log, measure, processes, reconcile
from bench.dynamodb_log import PerRequest
from bench.measure import Overhead, Runs, Target, Timing

ITERATIONS = 200
WARM_UP = 20
SEQUENTIAL = 100  # requests of each kind in the DynamoDB phase
GAP_SECONDS = 0.15  # between them: the previous request's settle lands before the next send
MODEL = "openai/gpt-4o-mini"
UPSTREAM_MODEL = "gpt-4o-mini-2024-07-18"  # the catalog's upstream_id for MODEL
CREDIT_USD = "1000"
FUNCTIONS_LOG = "functions.log"  # devstack's <DEVSTACK_LOGS>/functions.log


@dataclass
class Figures:
    runs: Runs
    cpu_ms_per_request: float
    rss_before: float
    rss_after: float
    log_bytes_per_request: float
    plain_calls: PerRequest
    stream_calls: PerRequest


def targets(contract: dict[str, str], mock: processes.MockUpstream) -> tuple[Target, Target]:
    gateway = Target("gateway", contract["OPENAI_BASE_URL"], contract["TOLLGATE_API_KEY"], MODEL)
    return gateway, Target("direct", mock.base_url, mock.key, UPSTREAM_MODEL)


def report() -> None:
    work = Path(tempfile.mkdtemp(prefix="tollgate-bench-"))
    with processes.devstack_on_mock(work, CREDIT_USD) as (mock, devstack):
        figures = measure_devstack(devstack, *targets(devstack.printed, mock))
        print_figures(figures)
        print()
        reconcile.report(devstack.printed)


def measure_devstack(devstack: processes.Started, gateway: Target, direct: Target) -> Figures:
    logs = Path(devstack.printed["DEVSTACK_LOGS"])
    with httpx.Client(timeout=60) as client:
        measure.in_turns(client, [gateway, direct], WARM_UP)
        rss_before, cpu_before = processes.rss_mb(devstack.pid), processes.cpu_seconds(devstack.pid)
        logged_before = log_bytes(logs)
        runs = measure.in_turns(client, [gateway, direct], ITERATIONS)
        cpu = processes.cpu_seconds(devstack.pid) - cpu_before
        rss_after = processes.rss_mb(devstack.pid)
        logged = log_bytes(logs) - logged_before
        plain, streamed = one_at_a_time(client, gateway)
    calls = dynamodb_log.read_calls(logs)
    return Figures(
        runs=runs,
        cpu_ms_per_request=cpu * 1000 / (2 * ITERATIONS),
        rss_before=rss_before,
        rss_after=rss_after,
        log_bytes_per_request=logged / (2 * ITERATIONS),
        plain_calls=PerRequest.match(calls, plain, until=streamed[0].sent),
        stream_calls=PerRequest.match(calls, streamed, until=time.time()),
    )


def log_bytes(logs: Path) -> int:
    """What the functions printed (JSON logs, EMF metrics): CloudWatch Logs ingests it."""
    log = logs / FUNCTIONS_LOG
    return log.stat().st_size if log.exists() else 0


def one_at_a_time(client: httpx.Client, gateway: Target) -> tuple[list[Timing], list[Timing]]:
    """SEQUENTIAL non-streamed then SEQUENTIAL streamed requests, GAP_SECONDS apart."""
    timings: dict[bool, list[Timing]] = {False: [], True: []}
    for stream in (False, True):
        for _ in range(SEQUENTIAL):
            timings[stream].append(measure.exchange(client, gateway, stream=stream))
            time.sleep(GAP_SECONDS)
    return timings[False], timings[True]


def print_figures(figures: Figures) -> None:
    runs = figures.runs
    print(
        f"proxy hot path: devstack vs the same standalone mock upstream directly, {MODEL},"
        f" {ITERATIONS} turns after {WARM_UP} warm-up, keep-alive clients"
    )
    print("  overhead = percentile(gateway) - percentile(direct), both measured in turns")
    print(
        f"  {'':<22}{'gateway':>9}{'direct':>9}{'overhead':>10}   {'gateway':>9}{'direct':>9}"
        f"{'overhead':>10}"
    )
    print(f"  {'(ms)':<22}{'p50':>9}{'p50':>9}{'p50':>10}   {'p99':>9}{'p99':>9}{'p99':>10}")
    for label, pick, plain in (
        ("non-stream, total", measure.totals, True),
        ("stream, first byte", measure.first_byte, False),
        ("stream, total", measure.totals, False),
    ):
        by_name = runs.plain if plain else runs.streamed
        o = Overhead.of(pick(by_name["gateway"]), pick(by_name["direct"]))
        print(
            f"  {label:<22}{o.gateway_p50:9.1f}{o.direct_p50:9.1f}{o.p50:10.1f}"
            f"   {o.gateway_p99:9.1f}{o.direct_p99:9.1f}{o.p99:10.1f}"
        )
    print(
        f"  devstack CPU per gateway request {figures.cpu_ms_per_request:6.1f} ms"
        f"   (utime+stime of its process tree over {2 * ITERATIONS} requests)"
    )
    print(
        f"  devstack RSS   before {figures.rss_before:7.1f} MB   after {figures.rss_after:7.1f} MB"
    )
    print(
        f"  function logs per gateway request {figures.log_bytes_per_request:6.0f} bytes"
        "   (JSON logs and EMF metrics, what CloudWatch Logs would ingest)"
    )
    print_dynamodb(figures)


COUNTS = (
    (
        "critical path: received between the send and the whole answer (a stream: its [DONE])",
        "critical",
    ),
    (
        "  of those, answered before the client had its answer (what it can have waited for)",
        "waited",
    ),
    ("in all: from the send to the next request", "total"),
)


def print_dynamodb(figures: Figures) -> None:
    print(
        f"DynamoDB calls per request, from the emulator's log ({SEQUENTIAL} non-streamed then"
        f" {SEQUENTIAL} streamed, one at a time)"
    )
    kinds = (("non-stream", figures.plain_calls), ("stream", figures.stream_calls))
    for title, attribute in COUNTS:
        print(f"  {title}")
        for label, per in kinds:
            print(f"    {label:<11} {PerRequest.distribution(getattr(per, attribute))}")
    overheads = headline_overheads(figures.runs)
    for (label, per), (what, overhead) in zip(kinds, overheads, strict=True):
        print_share(label, per, what, overhead)
    for what, attribute in (("on the critical path", "critical"), ("waited for", "waited")):
        over = sum(len(calls) > 1 for _, per in kinds for calls in getattr(per, attribute))
        if over:
            print(f"  MORE THAN ONE DynamoDB call {what} in {over} of {2 * SEQUENTIAL} requests")


def headline_overheads(runs: Runs) -> list[tuple[str, Overhead]]:
    plain, streamed = runs.plain, runs.streamed
    return [
        (
            "overhead",
            Overhead.of(measure.totals(plain["gateway"]), measure.totals(plain["direct"])),
        ),
        (
            "first-byte overhead",
            Overhead.of(
                measure.first_byte(streamed["gateway"]), measure.first_byte(streamed["direct"])
            ),
        ),
    ]


def print_share(label: str, per: PerRequest, what: str, overhead: Overhead) -> None:
    """The time the DynamoDB emulation took while the client waited, against the overhead."""
    emulation = statistics.median(per.waited_ms())
    calls = [call for calls in per.waited for call in calls]
    lock = statistics.median([(c.started - c.received) * 1000 for c in calls] or [0.0])
    share = f"{100 * emulation / overhead.p50:.0f}%" if overhead.p50 > 0 else "-"
    print(
        f"  DynamoDB emulation waited for, {label:<10} p50 {emulation:5.1f} ms per request"
        f" (moto's lock {lock:4.1f} ms of it per call) = {share} of the {what} p50"
    )
