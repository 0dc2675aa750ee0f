"""What a client sees: one chat request timed from its side, several targets timed in turns,
percentiles, and the overhead of a gateway over calling the upstream directly."""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any

import httpx

MESSAGES = [{"role": "user", "content": "Benchmark"}]
STREAM = {"stream": True, "stream_options": {"include_usage": True}}


@dataclass(frozen=True)
class Target:
    """Where to send a chat request: a gateway or the upstream itself."""

    name: str
    base_url: str  # ends in /v1
    key: str
    model: str

    @property
    def url(self) -> str:
        return self.base_url + "/chat/completions"

    def body(self, stream: bool) -> dict[str, Any]:
        body = {"model": self.model, "messages": MESSAGES, "max_tokens": 30}
        return {**body, **STREAM} if stream else body

    @property
    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.key}"}


@dataclass(frozen=True)
class Timing:
    """One request. ``sent`` and ``answered`` are wall-clock (time.time(), the clock the
    DynamoDB emulator's log uses); the durations are in ms. ``answered`` is when the client
    had the whole answer: the last byte of a non-streamed body, the [DONE] event of a stream
    (a stream's connection may close later)."""

    sent: float
    answered: float
    first_byte_ms: float
    answer_ms: float
    total_ms: float


def exchange(client: httpx.Client, target: Target, *, stream: bool) -> Timing:
    sent, began = time.time(), time.perf_counter()
    first_byte: float | None = None
    answered: float | None = None
    with client.stream("POST", target.url, json=target.body(stream), headers=target.headers) as r:
        if r.status_code != 200:
            raise RuntimeError(f"{target.name} answered HTTP {r.status_code}")
        tail = b""
        for chunk in r.iter_raw():
            now = time.perf_counter()
            first_byte = first_byte or now
            tail = tail[-16:] + chunk
            if stream and answered is None and b"[DONE]" in tail:
                answered = now
        ended = time.perf_counter()
    first_byte, answered = first_byte or ended, answered or ended
    return Timing(
        sent=sent,
        answered=sent + answered - began,
        first_byte_ms=(first_byte - began) * 1000,
        answer_ms=(answered - began) * 1000,
        total_ms=(ended - began) * 1000,
    )


@dataclass
class Runs:
    """Timings per target name, non-streamed and streamed."""

    plain: dict[str, list[Timing]] = field(default_factory=dict)
    streamed: dict[str, list[Timing]] = field(default_factory=dict)

    def add(self, name: str, stream: bool, timing: Timing) -> None:
        (self.streamed if stream else self.plain).setdefault(name, []).append(timing)


def in_turns(client: httpx.Client, targets: list[Target], iterations: int) -> Runs:
    """Each iteration sends one non-streamed then one streamed request to every target, the
    targets in a rotating order, so that a change of the machine's load hits all of them."""
    runs = Runs()
    for n in range(iterations):
        order = targets[n % len(targets) :] + targets[: n % len(targets)]
        for stream in (False, True):
            for target in order:
                runs.add(target.name, stream, exchange(client, target, stream=stream))
    return runs


def percentile(values: list[float], fraction: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(fraction * (len(ordered) - 1)))]


@dataclass(frozen=True)
class Overhead:
    """percentile(gateway) - percentile(direct), at p50 and p99, and both sides' figures."""

    p50: float
    p99: float
    gateway_p50: float
    gateway_p99: float
    direct_p50: float
    direct_p99: float

    @classmethod
    def of(cls, gateway: list[float], direct: list[float]) -> Overhead:
        g50, g99 = percentile(gateway, 0.5), percentile(gateway, 0.99)
        d50, d99 = percentile(direct, 0.5), percentile(direct, 0.99)
        return cls(g50 - d50, g99 - d99, g50, g99, d50, d99)


def first_byte(timings: list[Timing]) -> list[float]:
    return [t.first_byte_ms for t in timings]


def totals(timings: list[Timing]) -> list[float]:
    return [t.total_ms for t in timings]
