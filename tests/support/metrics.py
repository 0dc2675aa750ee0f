"""The CloudWatch metrics a function printed, read back from its embedded metric format lines."""

from __future__ import annotations

import json


def emitted_metrics(output: str) -> dict[str, list[float]]:
    """Every metric's values in ``output`` (captured stdout), by metric name."""
    found: dict[str, list[float]] = {}
    for line in output.splitlines():
        document = json.loads(line) if line.startswith("{") else {}
        for directive in document.get("_aws", {}).get("CloudWatchMetrics", []):
            for metric in directive["Metrics"]:
                value = document[metric["Name"]]
                found.setdefault(metric["Name"], []).extend(
                    value if isinstance(value, list) else [value]
                )
    return found
