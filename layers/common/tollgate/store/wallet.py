"""Wallets and ledger entries in WalletTable."""

from __future__ import annotations

from collections.abc import Callable
from typing import TypeVar

from pynamodb.expressions.condition import Condition
from pynamodb.transactions import TransactWrite

from tollgate.errors import Conflict, InternalError, NotFound, TollgateError
from tollgate.store.connection import connection
from tollgate.store.errors import get_item, storage_errors
from tollgate.store.layout import WALLET_SK, account_pk, daily_charges_sk
from tollgate.store.models import LedgerEntry, Wallet

T = TypeVar("T")
SNAPSHOT_ATTEMPTS = 5


class DayChargesMoved(Conflict):
    """A request settled between reading the day's charges and writing an entry: try again."""

    def __init__(self) -> None:
        super().__init__("The day's charges moved; try again.", code="day_charges_moved")


def day_charges_check(entry: LedgerEntry) -> Callable[[TransactWrite], None]:
    """Record on ``entry`` the charges of its UTC day so far (``charges_before``), and return
    what adds to a transaction the check that they are still that; PynamoDB sends condition
    checks first, so it is the transaction's item 0 (DayChargesMoved when it fails)."""
    charges_sk = daily_charges_sk(entry.created_at)
    charges = get_item(LedgerEntry, entry.pk, charges_sk)
    seen = int(charges.amount) if charges is not None else None
    entry.charges_before = seen or 0
    unchanged = LedgerEntry.pk.does_not_exist() if seen is None else LedgerEntry.amount == seen

    def check(tx: TransactWrite) -> None:
        tx.condition_check(LedgerEntry, entry.pk, charges_sk, condition=unchanged)

    return check


def retrying_day_charges(attempt: Callable[[], T]) -> T:
    """``attempt`` again while a request settles in between (DayChargesMoved)."""
    for _ in range(SNAPSHOT_ATTEMPTS - 1):
        try:
            return attempt()
        except DayChargesMoved:
            continue
    try:
        return attempt()
    except DayChargesMoved:
        raise InternalError("The wallet is busy with requests; try again.") from None


def wallet_key(account_id: str) -> tuple[str, str]:
    return account_pk(account_id), WALLET_SK


def get_wallet(account_id: str) -> Wallet | None:
    return get_item(Wallet, *wallet_key(account_id))


def apply_credit(entry: LedgerEntry) -> None:
    """Add a positive ledger entry to the wallet's balance: both or neither are written."""
    no_wallet = NotFound(f"Account {entry.account_id} has no wallet.", code="account_not_found")
    _apply(entry, "apply_credit", Wallet.pk.exists(), no_wallet)


def apply_debit(entry: LedgerEntry) -> None:
    """Add a negative ledger entry to the wallet's balance only if the balance covers it, so
    the wallet never goes negative: both or neither are written. Conflict
    (``insufficient_balance``) when the balance is short, NotFound without a wallet."""
    amount = -int(entry.amount)
    if amount <= 0:
        raise ValueError("a debit entry must be negative")
    short = Conflict(
        "The available balance (money not held for requests in flight) does not cover this debit.",
        code="insufficient_balance",
        param="amount_usd",
    )
    try:
        _apply(entry, "apply_debit", Wallet.pk.exists() & (Wallet.balance >= amount), short)
    except Conflict:
        if get_wallet(entry.account_id) is None:
            raise NotFound(
                f"Account {entry.account_id} has no wallet.", code="account_not_found"
            ) from None
        raise


def _apply(
    entry: LedgerEntry, operation: str, wallet_condition: Condition, refused: TollgateError
) -> None:
    """Write ``entry`` and add its amount to the wallet's balance in one transaction, on
    ``wallet_condition`` (``refused`` when it fails), retried while the day's charges move."""
    pk, sk = wallet_key(entry.account_id)

    # Items: the day's charges check 0, the entry 1 (puts go before updates), the wallet 2.
    def attempt() -> None:
        check = day_charges_check(entry)
        with (
            storage_errors(operation, conditions={0: DayChargesMoved(), 2: refused}),
            TransactWrite(connection=connection()) as tx,
        ):
            check(tx)
            tx.update(
                Wallet(pk, sk),
                actions=[
                    Wallet.balance.add(int(entry.amount)),
                    Wallet.updated_at.set(entry.created_at),
                ],
                condition=wallet_condition,
            )
            tx.save(entry, condition=LedgerEntry.pk.does_not_exist())

    retrying_day_charges(attempt)
