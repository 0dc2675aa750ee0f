"""Low-balance warnings: once per crossing of the account's threshold.

Why a scheduled check, not the proxy: the balance moves in the proxy's hold and settle
transactions, which cannot return the balance they leave (TransactWriteItems returns
nothing), so noticing a crossing there would cost the hot path a read or a conditional write
on every request. ``BalanceWatchFunction`` looks instead, every five minutes: the accounts
with a threshold are read from the account list (KeysTable by_account, ``ACCOUNTS``), their
wallets one batch read per hundred. An account below its threshold and not yet warned gets
the warning flag (a conditional write, so two runs cannot both warn) and then its
``low_balance`` mail; one back above has the flag cleared, so the next crossing warns again.
The funds compared are the balance plus what is held for requests in flight (the money the
account has, whatever is mid-request). A dip shorter than the five minutes goes unnoticed.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterator
from datetime import datetime
from typing import Any

from tollgate import notifications
from tollgate.errors import BadRequest
from tollgate.money import MoneyError, format_usd, parse_usd
from tollgate.observability import logger, metrics
from tollgate.store import notifications as store
from tollgate.store.models import Account

BATCH = 100  # BatchGetItem's most keys per request
FIELD = "low_balance_threshold_usd"


def parse_threshold(value: Any) -> int | None:
    """A threshold in nano-USD from a request body's ``low_balance_threshold_usd`` (a decimal
    string such as "5.00"; null removes it); BadRequest naming the field otherwise."""
    if value is None:
        return None
    try:
        threshold = parse_usd(value) if isinstance(value, str) else None
    except MoneyError:
        threshold = None
    if threshold is None or threshold <= 0:
        message = f'{FIELD} must be a positive USD amount such as "5.00", or null.'
        raise BadRequest(message, param=FIELD)
    return threshold


def set_low_balance_threshold(account_id: str, value: Any) -> int | None:
    """Set or remove (None) the account's threshold from a request body's value; the
    threshold now in force. NotFound if there is no such account."""
    threshold = parse_threshold(value)
    store.set_low_balance_threshold(account_id, threshold)
    return threshold


def watch_balances(now: datetime) -> dict[str, int]:
    """One run of the balance watch: counts of accounts warned, cleared and looked at."""
    counts = {"watched": 0, "warned": 0, "cleared": 0}
    for batch in _batches(store.watched_accounts()):
        funds = store.funds([account.account_id for account in batch])
        for account in batch:
            if account.account_id in funds:
                counts["watched"] += 1
                outcome = _check(account, funds[account.account_id], now)
                if outcome:
                    counts[outcome] += 1
    logger.info("balances watched", extra=counts)
    metrics.add_metric(name="LowBalanceWarnings", unit="Count", value=counts["warned"])
    return counts


def _check(account: Account, funds: int, now: datetime) -> str | None:
    threshold = int(account.low_balance_threshold or 0)
    warned = account.low_balance_warned_at is not None
    if funds < threshold and not warned and store.mark_warned(account, now):
        notifications.send(
            "low_balance",
            account.account_id,
            context={"balance_usd": format_usd(funds), "threshold_usd": format_usd(threshold)},
        )
        return "warned"
    if funds >= threshold and warned and store.clear_warned(account):
        return "cleared"
    return None


def _batches(accounts: Iterator[Account]) -> Iterator[list[Account]]:
    while batch := list(itertools.islice(accounts, BATCH)):
        yield batch
