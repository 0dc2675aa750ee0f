"""Movements of money in and out of wallets. Amounts are integer nano-USD."""

from __future__ import annotations

import secrets
from datetime import datetime

from tollgate import clock
from tollgate.store import wallet as store
from tollgate.store.layout import account_pk
from tollgate.store.models import LedgerEntry, Wallet

CREDIT_KINDS = ("topup", "adjustment")


def new_wallet(account_id: str, *, now: datetime) -> Wallet:
    pk, sk = store.wallet_key(account_id)
    return Wallet(pk, sk, account_id=account_id, balance=0, held=0, updated_at=now)


def new_entry(
    account_id: str,
    amount: int,
    *,
    kind: str,
    reason: str,
    reference: str | None = None,
    receipt_url: str | None = None,
    now: datetime,
) -> LedgerEntry:
    """A ledger entry of ``amount`` signed nano-USD, keyed to sort by time in the account."""
    entry_id = "le_" + secrets.token_hex(12)
    return LedgerEntry(
        account_pk(account_id),
        f"LEDGER#{now.isoformat()}#{entry_id}",
        entry_id=entry_id,
        account_id=account_id,
        kind=kind,
        amount=amount,
        reason=reason,
        reference=reference,
        receipt_url=receipt_url,
        created_at=now,
    )


def credit(
    account_id: str,
    amount: int,
    *,
    kind: str,
    reason: str,
    reference: str | None = None,
    now: datetime | None = None,
) -> LedgerEntry:
    """Add ``amount`` nano-USD to the wallet's balance with its ledger entry, atomically."""
    if amount <= 0:
        raise ValueError("a credit must be positive")
    if kind not in CREDIT_KINDS:
        raise ValueError(f"unknown credit kind {kind!r}")
    entry = new_entry(
        account_id,
        amount,
        kind=kind,
        reason=reason,
        reference=reference,
        now=now or clock.utcnow(),
    )
    store.apply_credit(entry)
    return entry


DEBIT_KINDS = ("adjustment",)


def debit(
    account_id: str,
    amount: int,
    *,
    kind: str,
    reason: str,
    reference: str | None = None,
    now: datetime | None = None,
) -> LedgerEntry:
    """Take ``amount`` nano-USD from the wallet's available balance with its (negative) ledger
    entry, atomically, only if it covers it: Conflict ``insufficient_balance`` otherwise.
    Money held for in-flight requests is not available to a debit."""
    if amount <= 0:
        raise ValueError("a debit must be positive")
    if kind not in DEBIT_KINDS:
        raise ValueError(f"unknown debit kind {kind!r}")
    entry = new_entry(
        account_id,
        -amount,
        kind=kind,
        reason=reason,
        reference=reference,
        now=now or clock.utcnow(),
    )
    store.apply_debit(entry)
    return entry
