"""The one source of "now"; services take ``now`` as a parameter so tests can inject time."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any


def utcnow() -> datetime:
    return datetime.now(UTC)


def scheduled_time(event: Mapping[str, Any]) -> datetime:
    """A scheduled function's "now": the time its EventBridge schedule fired (the event's
    ``time``), else now. A run retried later does what it would have done on time, and a
    test or ``devstack invoke --now`` sets the clock through the event."""
    raw = event.get("time")
    if not raw:
        return utcnow()
    at = datetime.fromisoformat(raw)
    return at if at.tzinfo else at.replace(tzinfo=UTC)
