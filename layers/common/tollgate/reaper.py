"""The reaper: releases the holds past their expiry, whose request never settled (the proxy's
container died or timed out mid-call). Nothing is charged, the usage record says
``abandoned``, and the ``HoldsReleased`` metric counts them.

A late settle may race a release: both delete the hold on condition that it still exists,
each in its one transaction, so exactly one of them applies (``HotPath.release``).
"""

from __future__ import annotations

import itertools
import os
from collections.abc import Mapping
from datetime import datetime

from tollgate.aws import Credentials, dynamodb_client
from tollgate.errors import InternalError
from tollgate.observability import logger, metrics
from tollgate.settings import Settings
from tollgate.store.hotpath import Hold, HotPath, Tables

# A release is one transaction of a few tens of milliseconds: a full run ends well inside the
# function's 120 s timeout, and whatever is left waits five minutes for the next run.
MAX_RELEASES_PER_RUN = 1000


def hotpath_from_settings(settings: Settings, env: Mapping[str, str] = os.environ) -> HotPath:
    dynamodb = dynamodb_client(
        settings.region,
        Credentials.from_env(env),
        settings.aws_endpoint_url,
        timeout=settings.aws_timeout_seconds,
    )
    return HotPath(dynamodb, Tables.of(settings))


def release_expired_holds(
    hotpath: HotPath, now: datetime, *, limit: int = MAX_RELEASES_PER_RUN
) -> dict[str, int]:
    """Release the holds that expired before ``now``, at most ``limit`` of them; counts of
    holds released, found already settled, and failed (left for the next run)."""
    counts = {"released": 0, "already_settled": 0, "failed": 0}
    for hold in itertools.islice(hotpath.expired_holds(now), limit):
        counts[_release(hotpath, hold)] += 1
    logger.info("expired holds", extra={**counts, "capped": sum(counts.values()) == limit})
    metrics.add_metric(name="HoldsReleased", unit="Count", value=counts["released"])
    if counts["failed"]:
        metrics.add_metric(name="HoldReleaseFailures", unit="Count", value=counts["failed"])
    return counts


def _release(hotpath: HotPath, hold: Hold) -> str:
    try:
        released = hotpath.release(hold)
    except InternalError:
        # One hold that cannot be released must not keep the others held.
        logger.exception("hold release failed", extra={"request_id": hold.request_id})
        return "failed"
    if not released:
        logger.info("hold settled before its release", extra={"request_id": hold.request_id})
        return "already_settled"
    logger.info("hold released", extra={"request_id": hold.request_id})
    return "released"
