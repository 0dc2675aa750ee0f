"""Failed log-ins counted per email and per source address in fixed 15-minute windows; past
the limit, the next attempt is a 429 with Retry-After, whatever the password. Codes mailed to
one email are counted the same way, so nobody can fill a stranger's inbox with them."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from tollgate import clock
from tollgate.errors import RateLimited
from tollgate.identity.codes import email_digest
from tollgate.store import identity as store

WINDOW_SECONDS = 15 * 60
MAX_FAILURES_PER_EMAIL = 5
MAX_FAILURES_PER_ADDRESS = 20
MAX_CODES_PER_EMAIL = 5


def _window(now: datetime) -> int:
    return int(now.timestamp()) // WINDOW_SECONDS * WINDOW_SECONDS


def _partitions(email: str, source_ip: str | None) -> dict[str, int]:
    limits = {f"LOGINFAIL#email#{email_digest(email)}": MAX_FAILURES_PER_EMAIL}
    if source_ip:
        limits[f"LOGINFAIL#ip#{source_ip}"] = MAX_FAILURES_PER_ADDRESS
    return limits


def check(email: str, source_ip: str | None, *, now: datetime | None = None) -> None:
    now = now or clock.utcnow()
    start = _window(now)
    limits = _partitions(email, source_ip)
    counts = store.login_failures(list(limits), f"WINDOW#{start}")
    if any(counts[pk] >= limit for pk, limit in limits.items()):
        retry = start + WINDOW_SECONDS - int(now.timestamp())
        raise RateLimited(
            "Too many failed log-ins; try again later.",
            retry_after_seconds=retry,
            code="too_many_login_failures",
        )


def record_failure(email: str, source_ip: str | None, *, now: datetime | None = None) -> None:
    now = now or clock.utcnow()
    start = _window(now)
    ttl = datetime.fromtimestamp(start + WINDOW_SECONDS, UTC) + timedelta(hours=1)
    store.add_login_failure(list(_partitions(email, source_ip)), f"WINDOW#{start}", ttl)


def code_mail_allowed(email: str, *, now: datetime | None = None) -> bool:
    """Count one more code mailed to ``email``; False past the window's limit (the caller
    answers as always and sends nothing)."""
    now = now or clock.utcnow()
    start = _window(now)
    ttl = datetime.fromtimestamp(start + WINDOW_SECONDS, UTC) + timedelta(hours=1)
    sent = store.count_code_mail(f"CODEMAIL#{email_digest(email)}", f"WINDOW#{start}", ttl)
    return sent <= MAX_CODES_PER_EMAIL
