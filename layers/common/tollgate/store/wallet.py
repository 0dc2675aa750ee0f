"""Wallets and ledger entries in WalletTable."""

from __future__ import annotations

from pynamodb.transactions import TransactWrite

from tollgate.errors import Conflict, NotFound
from tollgate.store.connection import connection
from tollgate.store.errors import get_item, storage_errors
from tollgate.store.layout import WALLET_SK, account_pk
from tollgate.store.models import LedgerEntry, Wallet


def wallet_key(account_id: str) -> tuple[str, str]:
    return account_pk(account_id), WALLET_SK


def get_wallet(account_id: str) -> Wallet | None:
    return get_item(Wallet, *wallet_key(account_id))


def apply_credit(entry: LedgerEntry) -> None:
    """Add a positive ledger entry to the wallet's balance: both or neither are written."""
    pk, sk = wallet_key(entry.account_id)
    no_wallet = NotFound(f"Account {entry.account_id} has no wallet.", code="account_not_found")
    # PynamoDB sends a transaction's puts before its updates: the wallet update is item 1.
    with (
        storage_errors("apply_credit", conditions={1: no_wallet}),
        TransactWrite(connection=connection()) as tx,
    ):
        tx.update(
            Wallet(pk, sk),
            actions=[Wallet.balance.add(entry.amount), Wallet.updated_at.set(entry.created_at)],
            condition=Wallet.pk.exists(),
        )
        tx.save(entry, condition=LedgerEntry.pk.does_not_exist())


def apply_debit(entry: LedgerEntry) -> None:
    """Add a negative ledger entry to the wallet's balance only if the balance covers it, so
    the wallet never goes negative: both or neither are written. Conflict
    (``insufficient_balance``) when the balance is short, NotFound without a wallet."""
    pk, sk = wallet_key(entry.account_id)
    amount = -int(entry.amount)
    if amount <= 0:
        raise ValueError("a debit entry must be negative")
    short = Conflict(
        "The available balance (money not held for requests in flight) does not cover this debit.",
        code="insufficient_balance",
        param="amount_usd",
    )
    # PynamoDB sends a transaction's puts before its updates: the wallet update is item 1.
    try:
        with (
            storage_errors("apply_debit", conditions={1: short}),
            TransactWrite(connection=connection()) as tx,
        ):
            tx.update(
                Wallet(pk, sk),
                actions=[Wallet.balance.add(-amount), Wallet.updated_at.set(entry.created_at)],
                condition=Wallet.pk.exists() & (Wallet.balance >= amount),
            )
            tx.save(entry, condition=LedgerEntry.pk.does_not_exist())
    except Conflict:
        if get_wallet(entry.account_id) is None:
            raise NotFound(
                f"Account {entry.account_id} has no wallet.", code="account_not_found"
            ) from None
        raise
