"""Wallet: an account's balance, its ledger (JSON or CSV) and Stripe Checkout top-ups."""

from __future__ import annotations

from tollgate.billing import CURRENCY
from tollgate.openapi.operation import Content, Operation
from tollgate.openapi.schema import (
    const,
    integer,
    nullable,
    obj,
    page_of,
    ref,
    string,
    unix_time,
    usd,
)

TAG = "Wallet"

_WALLET = obj(
    {
        "object": const("wallet"),
        "account_id": string(),
        "balance_usd": usd("what the ledger sums to: held and disputed money included"),
        "held_usd": usd("reserved for requests in flight"),
        "disputed_usd": usd("held back while a payment is disputed"),
        "available_usd": usd("what new requests may spend (below 0 if disputed money was spent)"),
        "currency": const(CURRENCY),
    }
)

_LEDGER_ENTRY = obj(
    {
        "object": const("ledger_entry"),
        "id": string(),
        "kind": string("topup, adjustment, charge (the day's charges so far) or dispute (lost)"),
        "amount_usd": usd("signed: a debit is negative"),
        "balance_after_usd": usd("the wallet's funds right after this entry"),
        "reason": string(),
        "reference": nullable(string("e.g. the Stripe payment or dispute")),
        "receipt_url": nullable(string("a Stripe top-up's receipt")),
        "created_at": unix_time(),
    }
)

_CHECKOUT = obj(
    {
        "object": const("checkout_session"),
        "id": string("the Checkout Session's id, also the payment's"),
        "url": string("where the person pays", fmt="uri"),
        "amount_usd": usd(),
        "expires_at": unix_time(),
    }
)

SCHEMAS = {"Wallet": _WALLET, "LedgerEntry": _LEDGER_ENTRY, "CheckoutSession": _CHECKOUT}

CSV_DOWNLOAD = Content(
    "text/csv",
    "A CSV download (header row; at most 10,000 rows)",
    headers={
        "Content-Disposition": "attachment; filename=...",
        "x-next-cursor": "when there is more: pass as `cursor` for the rest",
    },
)

OPERATIONS = {
    ("GET", "/v1/wallet"): Operation("Read the wallet", {200: ref("Wallet")}),
    ("GET", "/v1/wallet/ledger"): Operation(
        "List the ledger, newest first, with running balances",
        {200: (page_of(ref("LedgerEntry")), CSV_DOWNLOAD)},
        query={
            "limit": integer(minimum=1),
            "cursor": string(),
            "format": string("csv: the whole ledger as a CSV download", enum=["json", "csv"]),
        },
    ),
    ("POST", "/v1/wallet/checkout"): Operation(
        "Start a Stripe Checkout top-up (the credit comes with Stripe's signed webhook)",
        {201: ref("CheckoutSession")},
        body=obj(
            {
                "amount_usd": {
                    "anyOf": [
                        string("USD with at most 2 decimals, e.g. 20.00"),
                        integer("whole USD"),
                    ],
                    "description": "between the operator's minimum and maximum",
                }
            }
        ),
    ),
}
