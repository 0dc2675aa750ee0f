"""The one source of "now"; services take ``now`` as a parameter so tests can inject time."""

from __future__ import annotations

from datetime import UTC, datetime


def utcnow() -> datetime:
    return datetime.now(UTC)
