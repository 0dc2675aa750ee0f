"""PurgeFunction: daily (EventBridge schedule), purges the accounts whose scheduled deletion
fell due (tollgate.deletion says what goes and what stays); the scheduled event's time is the
run's "now", so `python -m devstack invoke PurgeFunction --now ...` can run it 31 days on."""

from typing import Any

from tollgate import clock, deletion
from tollgate.instrumentation import instrumented
from tollgate.observability import metrics
from tollgate.settings import get_settings

settings = get_settings()


@instrumented
def lambda_handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    summary = deletion.purge_due(deletion.Holdings.of(settings), now=clock.scheduled_time(event))
    metrics.add_metric(name="AccountsPurged", unit="Count", value=len(summary.purged))
    return summary.view()
