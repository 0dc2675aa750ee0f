"""VideoJobsFunction: every minute (EventBridge schedule), advances the running video jobs,
settles the finished ones and fails those past their deadline, whether or not their client
polls; the scheduled event's time is the run's "now"."""

import asyncio
from typing import Any

from tollgate import clock
from tollgate.instrumentation import instrumented
from tollgate.proxy.runtime import Runtime
from tollgate.settings import get_settings
from tollgate.videos import jobs

settings = get_settings()
runtime = Runtime.from_settings(settings)


@instrumented
def lambda_handler(event: dict[str, Any], context: Any) -> dict[str, int]:
    return asyncio.run(jobs.advance_running(runtime, clock.scheduled_time(event)))
