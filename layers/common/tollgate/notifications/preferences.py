"""Which notifications an account receives: every essential kind always, the others unless
its owners switched them off. ``set_notification_preferences`` is what PATCH /v1/account
calls with the body's ``notifications`` object, e.g. ``{"low_balance": false}``."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from tollgate.errors import BadRequest
from tollgate.money import format_usd
from tollgate.notifications.kinds import ESSENTIAL_KINDS, KINDS, OPTIONAL_KINDS
from tollgate.store import notifications as store
from tollgate.store.models import Account

FIELD = "notifications"


def wants(account: Account, kind: str) -> bool:
    """Whether ``account`` receives ``kind``: essential kinds cannot be switched off, even if
    an old or hand-written profile says otherwise."""
    return kind in ESSENTIAL_KINDS or kind not in (account.notifications_off or [])


def preferences_view(account: Account) -> dict[str, Any]:
    """Each kind and whether the account receives it, and which kinds cannot be switched
    off: the ``notifications`` object of GET /v1/account."""
    threshold = account.low_balance_threshold
    return {
        "kinds": {kind: wants(account, kind) for kind in KINDS},
        "essential": sorted(ESSENTIAL_KINDS),
        "low_balance_threshold_usd": format_usd(int(threshold)) if threshold is not None else None,
    }


def parse_changes(changes: Any) -> dict[str, bool]:
    """``{kind: enabled}`` from a request body's ``notifications`` object; BadRequest naming
    the field for anything else (an unknown kind, an essential kind switched off)."""
    if not isinstance(changes, Mapping):
        raise BadRequest("notifications must be an object of kind: true or false.", param=FIELD)
    parsed: dict[str, bool] = {}
    for kind, enabled in changes.items():
        param = f"{FIELD}.{kind}"
        if kind not in KINDS:
            known = ", ".join(OPTIONAL_KINDS)
            message = f"Unknown notification kind {kind!r}; these can be switched off: {known}."
            raise BadRequest(message, code="unknown_notification_kind", param=param)
        if not isinstance(enabled, bool):
            raise BadRequest(f"{param} must be true or false.", param=param)
        if kind in ESSENTIAL_KINDS and not enabled:
            raise BadRequest(
                f"{kind} is a security, billing or account notice and cannot be switched off.",
                code="notification_essential",
                param=param,
            )
        parsed[kind] = enabled
    return parsed


def set_notification_preferences(account_id: str, changes: Any) -> dict[str, Any]:
    """Apply ``changes`` (see ``parse_changes``) to the account's preferences; the new view.
    NotFound if the account does not exist."""
    parsed = parse_changes(changes)
    off = {kind for kind, enabled in parsed.items() if not enabled}
    on = {kind for kind, enabled in parsed.items() if enabled} - ESSENTIAL_KINDS
    return preferences_view(store.switch_notifications(account_id, off=off, on=on))
