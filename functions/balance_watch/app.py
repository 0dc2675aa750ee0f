"""BalanceWatchFunction: every five minutes (EventBridge schedule), warns the accounts whose
balance fell below their low-balance threshold, once per crossing."""

from typing import Any

from tollgate import clock
from tollgate.instrumentation import instrumented
from tollgate.notifications import low_balance


@instrumented
def lambda_handler(event: dict[str, Any], context: Any) -> dict[str, int]:
    return low_balance.watch_balances(clock.scheduled_time(event))
