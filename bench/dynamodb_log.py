"""DynamoDB calls as devstack's emulator logged them (<DEVSTACK_LOGS>/dynamodb.jsonl, one JSON
line per request: op, and received/started/answered as time.time()), matched to the client's
requests by time: the count comes from the emulator, not from what our code says it does."""

from __future__ import annotations

import json
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

from bench.measure import Timing

LOG_NAME = "dynamodb.jsonl"


@dataclass(frozen=True)
class Call:
    op: str
    received: float
    started: float
    answered: float

    @property
    def ms(self) -> float:
        """From arrival to answer: waiting for moto's one-at-a-time lock, then moto's work."""
        return (self.answered - self.received) * 1000


def read_calls(logs_dir: Path) -> list[Call]:
    """DynamoDB's calls only (other services' lines have "service:action" ops)."""
    path = logs_dir / LOG_NAME
    if not path.exists():
        raise RuntimeError(f"no {path}: this devstack does not log its DynamoDB requests")
    calls = []
    for line in path.read_text().splitlines():
        entry = json.loads(line)
        if ":" not in entry["op"]:
            calls.append(Call(entry["op"], entry["received"], entry["started"], entry["answered"]))
    return sorted(calls, key=lambda call: call.received)


def between(calls: list[Call], start: float, end: float) -> list[Call]:
    return [call for call in calls if start <= call.received <= end]


@dataclass(frozen=True)
class PerRequest:
    """DynamoDB calls per request: received while the client waited for its answer (the
    critical path); of those, answered before the client had the answer (a call still
    running then did not delay it: on a loaded machine the client may read the answer a few
    ms after the server sent it, while the settle that follows is already under way); and
    in all, until the next request was sent."""

    critical: list[list[Call]]
    waited: list[list[Call]]
    total: list[list[Call]]

    @classmethod
    def match(cls, calls: list[Call], timings: list[Timing], until: float) -> PerRequest:
        ends = [t.sent for t in timings[1:]] + [until]
        critical = [between(calls, t.sent, t.answered) for t in timings]
        return cls(
            critical=critical,
            waited=[
                [call for call in calls if call.answered <= t.answered]
                for calls, t in zip(critical, timings, strict=True)
            ],
            total=[between(calls, t.sent, end) for t, end in zip(timings, ends, strict=True)],
        )

    @staticmethod
    def distribution(per_request: list[list[Call]]) -> str:
        counts = Counter(len(calls) for calls in per_request)
        return ", ".join(
            f"{n} call{'s' if n != 1 else ''} ({'+'.join(ops(per_request, n))}) in"
            f" {counts[n]}/{len(per_request)} requests"
            for n in sorted(counts)
        )

    def waited_ms(self) -> list[float]:
        return [sum(call.ms for call in calls) for calls in self.waited]


def ops(per_request: list[list[Call]], n: int) -> list[str]:
    """The most common sequence of operations among the requests that made ``n`` calls."""
    sequences = Counter(tuple(c.op for c in calls) for calls in per_request if len(calls) == n)
    return list(sequences.most_common(1)[0][0]) if n else ["none"]
