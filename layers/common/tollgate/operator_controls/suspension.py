"""Suspending and reinstating an account (the operator, with a reason).

A suspended account's keys serve nothing: the proxy's hold transaction checks that the
account is active (``store.hotpath``), so the next request after the suspension's write is
refused with 403 ``account_suspended``, whatever a proxy container has cached. Its management
routes only read (``auth.refuse_changes_unless_active``).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from tollgate import accounts, audit, clock, notifications
from tollgate.errors import Conflict
from tollgate.notifications.kinds import MAX_VALUE_CHARS
from tollgate.observability import metrics
from tollgate.store import accounts as store
from tollgate.store.models import Account
from tollgate.validation import reject_unknown_fields, text_field

ACTIVE = "active"
SUSPENDED = "suspended"
REASON_MAX_LENGTH = 1000


@dataclass(frozen=True, slots=True)
class StatusChange:
    account: Account  # as it stands after the change
    before: str
    reason_before: str | None


def parse_reason(body: Mapping[str, Any]) -> str:
    reject_unknown_fields(body, ("reason",))
    return text_field(body, "reason", required=True, max_length=REASON_MAX_LENGTH)


def change_status(
    account_id: str, *, suspend_it: bool, reason: str, request_id: str | None, source_ip: str | None
) -> StatusChange:
    """The operator suspends or reinstates an account: the change, its audit event, the
    owners' mail and the metric (the API's route and the console's form both come here)."""
    if suspend_it:
        change, action, metric = suspend(account_id, reason), "account.suspended", "Suspended"
    else:
        change, action, metric = reinstate(account_id, reason), "account.reinstated", "Reinstated"
    audit.record(
        account_id,
        actor=audit.OPERATOR_ACTOR,
        action=action,
        target=f"account:{account_id}",
        request_id=request_id,
        source_ip=source_ip,
        changes=audit_changes(change),
    )
    notify_owners(change)
    metrics.add_metric(name=f"Accounts{metric}", unit="Count", value=1)
    return change


def suspend(account_id: str, reason: str, *, now: datetime | None = None) -> StatusChange:
    account = accounts.get_account(account_id)
    if account.status == SUSPENDED:
        raise Conflict(
            f"Account {account_id} is already suspended.", code="account_already_suspended"
        )
    if account.status != ACTIVE:
        raise Conflict(
            f"Account {account_id} is {account.status}: only an active account can be suspended.",
            code="account_not_active",
        )
    return _change(account, SUSPENDED, reason, now)


def reinstate(account_id: str, reason: str, *, now: datetime | None = None) -> StatusChange:
    account = accounts.get_account(account_id)
    if account.status != SUSPENDED:
        raise Conflict(
            f"Account {account_id} is {account.status}, not suspended: there is nothing to "
            "reinstate.",
            code="account_not_suspended",
        )
    return _change(account, ACTIVE, reason, now)


def _change(account: Account, status: str, reason: str, now: datetime | None) -> StatusChange:
    before, reason_before = account.status, account.status_reason
    store.change_status(account, status, reason=reason, now=now or clock.utcnow())
    return StatusChange(account=account, before=before, reason_before=reason_before)


def audit_changes(change: StatusChange) -> dict[str, tuple[Any, Any]]:
    return {
        "status": (change.before, change.account.status),
        "status_reason": (change.reason_before, change.account.status_reason),
    }


def notify_owners(change: StatusChange) -> None:
    """Mail the account's owners that it was suspended or reinstated, with the reason (cut
    to what a mail field holds: the whole reason stays in the audit trail)."""
    kind = "account_suspended" if change.account.status == SUSPENDED else "account_reinstated"
    reason = (change.account.status_reason or "")[:MAX_VALUE_CHARS]
    notifications.send(kind, change.account.account_id, context={"reason": reason or None})
