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
    now = now or clock.utcnow()
    entry_id = "le_" + secrets.token_hex(12)
    entry = LedgerEntry(
        account_pk(account_id),
        f"LEDGER#{now.isoformat()}#{entry_id}",
        entry_id=entry_id,
        account_id=account_id,
        kind=kind,
        amount=amount,
        reason=reason,
        reference=reference,
        created_at=now,
    )
    store.apply_credit(entry)
    return entry
