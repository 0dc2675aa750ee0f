"""Queries behind the wallet, ledger and payments routes (WalletTable).

Ledger entries sort by time within the account's partition (``LEDGER#<iso time>#<id>``; the
proxy's daily charge entry ``LEDGER#<date>T24:00:00#charges`` sorts after that day's others).
Payments are keyed by their Checkout Session id (``PAYMENT#cs_...``), which does not sort by
time: an account's payments are few (one per top-up), so they are read whole and ordered by
creation time here. Writing and reading one payment is ``tollgate.store.payments``.
"""

from __future__ import annotations

from tollgate.errors import BadRequest
from tollgate.store.errors import storage_errors
from tollgate.store.layout import account_pk
from tollgate.store.models import LedgerEntry, Payment
from tollgate.store.pagination import decode_cursor, encode_cursor, page_size

LEDGER_PREFIX = "LEDGER#"
PAYMENT_PREFIX = "PAYMENT#"  # the payment items themselves: tollgate.store.payments


# ------------------------------------------------------------------------------ ledger


def list_ledger(
    account_id: str, *, limit: int | None, cursor: str | None
) -> tuple[list[LedgerEntry], str | None]:
    """One page of the account's ledger, newest first."""
    partition = account_pk(account_id)
    start = decode_cursor(cursor, partition=("pk", partition))
    with storage_errors("list_ledger"):
        results = LedgerEntry.query(
            partition,
            LedgerEntry.sk.startswith(LEDGER_PREFIX),
            scan_index_forward=False,
            limit=page_size(limit),
            last_evaluated_key=start,
            consistent_read=True,
        )
        entries = list(results)
    return entries, encode_cursor(results.last_evaluated_key)


def ledger_newer_than(account_id: str, sk: str) -> list[LedgerEntry]:
    """The account's ledger entries newer than the one at ``sk``, newest first, with only what
    a running balance needs (key, kind, amount, the day's charges before them)."""
    partition = account_pk(account_id)
    with storage_errors("ledger_newer_than"):
        return [
            entry
            for entry in LedgerEntry.query(
                partition,
                LedgerEntry.sk > sk,
                scan_index_forward=False,
                attributes_to_get=["pk", "sk", "kind", "amount", "charges_before"],
                consistent_read=True,
            )
            if entry.sk.startswith(LEDGER_PREFIX)
        ]


# ------------------------------------------------------------------------------ payments


def list_payments(
    account_id: str, *, limit: int | None, cursor: str | None
) -> tuple[list[Payment], str | None]:
    """One page of the account's payments, newest first. The cursor is the key of the last
    payment shown; the next page starts after it in the same order."""
    partition = account_pk(account_id)
    start = decode_cursor(cursor, partition=("pk", partition))
    size = page_size(limit)
    with storage_errors("list_payments"):
        payments = list(
            Payment.query(partition, Payment.sk.startswith(PAYMENT_PREFIX), consistent_read=True)
        )
    payments.sort(key=lambda p: (p.created_at, p.payment_id), reverse=True)
    offset = 0
    if start is not None:
        keys = [p.sk for p in payments]
        after = (start.get("sk") or {}).get("S")
        if after not in keys:
            raise BadRequest("The cursor is not valid.", param="cursor")
        offset = keys.index(after) + 1
    shown = payments[offset : offset + size]
    more = offset + size < len(payments)
    next_cursor = (
        encode_cursor({"pk": {"S": partition}, "sk": {"S": shown[-1].sk}}) if more else None
    )
    return shown, next_cursor
