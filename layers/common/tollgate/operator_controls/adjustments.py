"""The operator's wallet adjustment (a credit or a debit, with a reason): the ledger entry,
its audit event and the metric, for the API's route and the console's form alike."""

from __future__ import annotations

from typing import Any

from tollgate import audit, billing
from tollgate.observability import metrics


def adjust(
    account_id: str,
    adjustment: billing.Adjustment,
    *,
    request_id: str | None,
    source_ip: str | None,
) -> dict[str, Any]:
    """Adjust the account's wallet; the adjustment as the API shows it."""
    entry, wallet = billing.adjust_wallet(account_id, adjustment)
    view = billing.adjustment_view(
        entry,
        wallet,
        adjustment.direction,
        account_flagged=billing.account_flag(account_id),
    )
    audit.record(
        account_id,
        actor=audit.OPERATOR_ACTOR,
        action="wallet.adjusted",
        target=f"account:{account_id}",
        request_id=request_id,
        source_ip=source_ip,
        changes=billing.adjustment_changes(entry, wallet),
    )
    metrics.add_metric(name="WalletAdjustments", unit="Count", value=1)
    return view
