"""The metadata of the requests and payments a ticket points at, as they are when it is
opened: the context survives the usage records' 90 days. Only listed metadata fields are
copied (a usage record holds no content, and neither does a snapshot)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from tollgate import usage
from tollgate.errors import NotFound
from tollgate.money import format_usd
from tollgate.store import payments as payment_store
from tollgate.store.models import Payment, UsageRecord


def request_snapshot(record: UsageRecord) -> dict[str, Any]:
    view = usage.usage_view(record)
    # what the usage CSV shows of a request, and the hold it took
    shown = {name: view[name] for name in usage.CSV_COLUMNS}
    return shown | {"hold_usd": format_usd(int(record.hold))}


def payment_snapshot(payment: Payment) -> dict[str, Any]:
    return {
        "payment_id": payment.payment_id,
        "status": payment.status,
        "amount_usd": format_usd(int(payment.amount)),
        "currency": payment.currency,
        "payment_intent_id": payment.payment_intent_id,
        "created_at": int(payment.created_at.timestamp()),
        "updated_at": int(payment.updated_at.timestamp()),
    }


def snapshot(
    account_id: str, request_ids: list[str], payment_ids: list[str], *, now: datetime
) -> dict[str, list[dict[str, Any]]]:
    """The account's requests and payments by id; one that is not the account's is a 404
    naming it (another account's looks exactly like one that does not exist)."""
    requests = []
    for request_id in request_ids:
        try:
            record = usage.get_usage(account_id, request_id, now)
        except NotFound:
            raise NotFound(
                f"No request '{request_id}' in this account's last 90 days of usage.",
                code="request_not_found",
                param="request_ids",
            ) from None
        requests.append(request_snapshot(record))
    payments = []
    for payment_id in payment_ids:
        payment = payment_store.get_payment(account_id, payment_id)
        if payment is None:
            raise NotFound(
                f"No payment '{payment_id}' in this account.",
                code="payment_not_found",
                param="payment_ids",
            )
        payments.append(payment_snapshot(payment))
    return {"requests": requests, "payments": payments}
