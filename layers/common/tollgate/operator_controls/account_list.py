"""``GET /operator/accounts``: accounts newest first, searched and filtered, each with its
wallet, status, flag and last activity.

``q`` is a case-insensitive part of the account's id, email or name; ``status`` and
``flagged`` (``true``: a payment dispute is open, ``false``: none) narrow the list. The
profiles are read from their own partition of the by_account index, a page at a time (a
search reads at most ``store.accounts.SEARCH_BUDGET`` profiles per page, so a rare match may
come after short pages: follow ``next_cursor``), and the page's wallets in one batch read.

Last activity is the wallet's last change (``updated_at``): every settled request, top-up,
adjustment and dispute writes it, so it is the last time the account spent or received money;
a request still in flight or one refused before its hold does not count.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from tollgate import accounts
from tollgate.errors import BadRequest
from tollgate.store import accounts as store
from tollgate.store.models import Account, Wallet

STATUSES = ("active", "suspended", "deletion_scheduled", "deleted")
QUERY_MAX_LENGTH = 254


@dataclass(frozen=True, slots=True)
class AccountFilter:
    q: str | None = None
    status: str | None = None
    flagged: bool | None = None

    def matches(self, account: Account) -> bool:
        if self.status is not None and account.status != self.status:
            return False
        if self.flagged is not None and bool(account.flagged) != self.flagged:
            return False
        if self.q is None:
            return True
        return any(self.q in (text or "").lower() for text in _searched(account))


def _searched(account: Account) -> tuple[str | None, ...]:
    return (account.account_id, account.email, account.name)


def parse_filter(query: Callable[[str], str | None]) -> AccountFilter:
    q = (query("q") or "").strip().lower() or None
    if q is not None and len(q) > QUERY_MAX_LENGTH:
        raise BadRequest(f"'q' must be at most {QUERY_MAX_LENGTH} characters.", param="q")
    status = query("status")
    if status is not None and status not in STATUSES:
        raise BadRequest(f"'status' must be one of: {', '.join(STATUSES)}.", param="status")
    return AccountFilter(q=q, status=status, flagged=_flag(query("flagged")))


def _flag(value: str | None) -> bool | None:
    if value is None:
        return None
    if value not in ("true", "false"):
        raise BadRequest("'flagged' must be true or false.", param="flagged")
    return value == "true"


def list_accounts(
    wanted: AccountFilter, *, limit: int | None, cursor: str | None
) -> tuple[list[dict[str, Any]], str | None]:
    found, next_cursor = store.list_accounts(limit=limit, cursor=cursor, wanted=wanted.matches)
    wallets = store.wallets([account.account_id for account in found])
    return [_view(account, wallets.get(account.account_id)) for account in found], next_cursor


def _view(account: Account, wallet: Wallet | None) -> dict[str, Any]:
    view = accounts.operator_account_view(account, wallet)
    updated = wallet.updated_at if wallet is not None else None
    view["last_activity_at"] = int(updated.timestamp()) if updated is not None else None
    return view
