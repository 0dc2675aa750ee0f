"""AuditCheckpointFunction: every hour (EventBridge schedule), writes each account's new audit
head, signed, to the Object Lock bucket; the scheduled event's time is the run's "now"."""

from typing import Any

from tollgate import audit, clock
from tollgate.instrumentation import instrumented
from tollgate.settings import get_settings

settings = get_settings()


@instrumented
def lambda_handler(event: dict[str, Any], context: Any) -> dict[str, int]:
    return audit.take_checkpoints(settings, clock.scheduled_time(event))
