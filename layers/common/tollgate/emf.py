"""Metrics as CloudWatch embedded-metric-format lines on stdout, as Powertools' Metrics prints
them (same fields, same order, same compact JSON), for the few calls this project makes.

Why not Powertools' own: importing it costs the proxy 30-45 ms of cold start here, and the proxy
flushes a metric on every request, so it could not even be put off. The namespace and the
service (the one dimension) come from POWERTOOLS_METRICS_NAMESPACE and POWERTOOLS_SERVICE_NAME.
"""

from __future__ import annotations

import functools
import json
import os
import threading
import time
import warnings
from collections.abc import Callable
from typing import Any, TypeVar

_BYTES = ("Bytes", "Kilobytes", "Megabytes", "Gigabytes", "Terabytes")
_BITS = ("Bits", "Kilobits", "Megabits", "Gigabits", "Terabits")
UNITS = frozenset(  # what CloudWatch accepts as a unit
    {"Seconds", "Microseconds", "Milliseconds", "Percent", "Count", "Count/Second", "None"}
    | {f"{size}{per}" for size in _BYTES + _BITS for per in ("", "/Second")}
)
MAX_METRICS = 100  # per line, CloudWatch's limit

Handler = TypeVar("Handler", bound=Callable[..., Any])


class MetricError(ValueError):
    """A metric CloudWatch would refuse: an unknown unit, a bad name or value, no namespace."""


class Metrics:
    """Values added since the last flush, by metric name; one line per flush."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._values: dict[str, tuple[str, list[float]]] = {}

    def add_metric(self, *, name: str, unit: str, value: float) -> None:
        name = name.strip()
        if not 1 <= len(name) <= 255:
            raise MetricError(f"metric name {name!r}: 1 to 255 characters")
        if unit not in UNITS:
            raise MetricError(f"metric {name}: unit {unit!r} is not one of CloudWatch's")
        if not isinstance(value, int | float):
            raise MetricError(f"metric {name}: {value!r} is not a number")
        with self._lock:
            self._values.setdefault(name, (unit, []))[1].append(float(value))
            full = len(self._values) == MAX_METRICS or len(self._values[name][1]) == MAX_METRICS
            line = self._take() if full else None
        if line:
            print(line)

    def flush_metrics(self) -> None:
        with self._lock:
            line = self._take()
        if line is None:
            warnings.warn("No application metrics to publish.", stacklevel=2)
        else:
            print(line)

    def clear_metrics(self) -> None:
        with self._lock:
            self._values.clear()

    def log_metrics(self, handler: Handler) -> Handler:
        """Flush after every call of ``handler``, whether it returns or raises."""

        @functools.wraps(handler)
        def flushing(*args: Any, **kwargs: Any) -> Any:
            try:
                return handler(*args, **kwargs)
            finally:
                self.flush_metrics()

        return flushing  # type: ignore[return-value]

    def _take(self) -> str | None:
        if not self._values:
            return None
        namespace = os.environ.get("POWERTOOLS_METRICS_NAMESPACE")
        if not namespace:
            raise MetricError("no metric namespace (POWERTOOLS_METRICS_NAMESPACE)")
        service = os.environ.get("POWERTOOLS_SERVICE_NAME")
        dimensions = {"service": service} if service else {}
        values, self._values = self._values, {}
        document = {
            "_aws": {
                "Timestamp": int(time.time() * 1000),
                "CloudWatchMetrics": [
                    {
                        "Namespace": namespace,
                        "Dimensions": [list(dimensions)],
                        "Metrics": [{"Name": n, "Unit": unit} for n, (unit, _) in values.items()],
                    }
                ],
            },
            **dimensions,
            **{name: numbers for name, (_, numbers) in values.items()},
        }
        return json.dumps(document, separators=(",", ":"))
