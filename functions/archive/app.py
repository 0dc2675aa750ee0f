"""ArchiveFunction: daily (EventBridge schedule), copies the usage records that crossed 90 days
to S3 and turns every complete month into one batch per account; the scheduled event's time
is the run's "now"."""

from typing import Any

from tollgate import archiving, clock
from tollgate.instrumentation import instrumented
from tollgate.observability import logger, metrics
from tollgate.settings import get_settings

settings = get_settings()


@instrumented
def lambda_handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    try:
        return archiving.run(
            clock.scheduled_time(event),
            settings,
            seconds_left=lambda: context.get_remaining_time_in_millis() / 1000,
        )
    except Exception:
        # Lambda reports the failure and EventBridge retries; the next run resumes anyway.
        logger.exception("archive run failed")
        metrics.add_metric(name="ArchiveFailures", unit="Count", value=1)
        raise
