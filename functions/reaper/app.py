"""ReaperFunction: every five minutes (EventBridge schedule), releases the holds past their
expiry; the scheduled event's time is the run's "now"."""

from typing import Any

from tollgate import clock, reaper
from tollgate.instrumentation import instrumented
from tollgate.settings import get_settings

settings = get_settings()
hotpath = reaper.hotpath_from_settings(settings)


@instrumented
def lambda_handler(event: dict[str, Any], context: Any) -> dict[str, int]:
    return reaper.release_expired_holds(hotpath, clock.scheduled_time(event))
