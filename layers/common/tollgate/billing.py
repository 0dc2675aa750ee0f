"""The wallet as its owner sees it: balance, ledger (JSON or CSV), top-ups through Stripe
Checkout and their payment records; and the operator's adjustments of a wallet.

Money is integer nano-USD here and a decimal USD string on the wire (``tollgate.money``).

The ledger and its running balance
----------------------------------
Every movement of money is a ledger entry: ``topup`` (a Stripe payment credited by the
webhook), ``adjustment`` (the operator's credit or debit, signed) and ``charge``. Charges are
not one entry per request: the proxy's settle transaction adds each request's charge to one
entry per UTC day (``LEDGER#<date>T24:00:00#charges``, created with that day's first charge),
so a ``charge`` entry is the day's charges so far. It is keyed at the end of its day, so it
sorts after the day's other entries: "after" a day's charge entry means after the day's latest
charge. Every other entry records the day's charges made before it (``charges_before``, read
and checked unchanged in the transaction that writes it), so the charges of a day can be
placed around its top-ups and adjustments.

Holds (money reserved for in-flight requests) move money from ``balance`` to ``held`` without
a ledger entry; only the settled charge is written. So at any moment the sum of all ledger
entries equals ``balance + held``, and the running balance shown with each entry,
``balance_after_usd``, is the wallet's true funds right after the entry. ``RunningBalance``
walks newest first from ``balance + held``: after a day's charge entry, the funds are those
after the newer entries minus their amounts; after a top-up or adjustment, they are that minus
the day's charges made after it (the day's total less its ``charges_before``).

A later page is walked from the wallet through every entry newer than the page (one Query
reading only key, kind and amounts); a CSV export carries one walk across its pages. A request
settling between the wallet read and the ledger read can make the newest figure lag by that
one charge.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any

import stripe

from tollgate import clock, ledger, secrets, spreadsheet
from tollgate.errors import BadRequest, NotFound, UpstreamError
from tollgate.money import NANOS_PER_USD, MoneyError, format_usd, parse_usd
from tollgate.observability import logger, metrics
from tollgate.settings import Settings
from tollgate.store import billing as store
from tollgate.store import keys as key_store
from tollgate.store import payments as payment_store
from tollgate.store import wallet as wallet_store
from tollgate.store.models import LedgerEntry, Payment, Wallet
from tollgate.stripe_clients import stripe_client
from tollgate.validation import choice_field, reject_unknown_fields, text_field

if TYPE_CHECKING:
    from stripe.params.checkout import SessionCreateParams

CURRENCY = "usd"
PRODUCT_NAME = "Tollgate credit"
LEDGER_COLUMNS = (
    "id",
    "created_at",
    "kind",
    "amount_usd",
    "balance_after_usd",
    "reason",
    "reference",
    "receipt_url",
)
MAX_CSV_ROWS = 10_000
DIRECTIONS = ("credit", "debit")
NANOS_PER_CENT = NANOS_PER_USD // 100
STRIPE_TIMEOUT_SECONDS = 10
STRIPE_RETRIES = 2
_CENTS = re.compile(r"[0-9]+(?:\.[0-9]{1,2})?")


# ------------------------------------------------------------------------------ wallet


def get_wallet(account_id: str) -> Wallet:
    found = wallet_store.get_wallet(account_id)
    if found is None:
        raise NotFound(f"Account {account_id} has no wallet.", code="account_not_found")
    return found


def wallet_funds(wallet: Wallet) -> int:
    """The wallet's money, what its ledger sums to: available + held + disputed."""
    return int(wallet.balance or 0) + int(wallet.held or 0) + int(wallet.disputed or 0)


def wallet_view(wallet: Wallet) -> dict[str, Any]:
    """The wallet's money (what its ledger sums to), the part held for requests in flight, the
    part held back while a payment is disputed, and the rest, available to new requests (below
    zero when disputed money was spent already). Stored, ``balance`` is the available part."""
    return {
        "object": "wallet",
        "account_id": wallet.account_id,
        "balance_usd": format_usd(wallet_funds(wallet)),
        "held_usd": format_usd(int(wallet.held or 0)),
        "disputed_usd": format_usd(int(wallet.disputed or 0)),
        "available_usd": format_usd(int(wallet.balance or 0)),
        "currency": CURRENCY,
    }


# ------------------------------------------------------------------------------ ledger


@dataclass(frozen=True, slots=True)
class LedgerRow:
    entry: LedgerEntry
    balance_after: int  # nano-USD: balance + held right after this entry


class RunningBalance:
    """Walks the ledger newest first, from the funds after the newest entry, giving each entry
    the funds right after it (see the module docstring); it carries on across pages."""

    def __init__(self, funds_after_newest: int) -> None:
        self.funds = funds_after_newest  # right after the last entry walked
        self.day: str | None = None
        self.day_charges = 0  # the walked day's charges made before that point

    def rows(self, entries: Sequence[LedgerEntry]) -> list[LedgerRow]:
        return [self._row(entry) for entry in entries]

    def _row(self, entry: LedgerEntry) -> LedgerRow:
        day = entry.sk.removeprefix(store.LEDGER_PREFIX)[:10]
        if day != self.day:  # the previous day's remaining charges came before this entry
            self.funds -= self.day_charges
            self.day, self.day_charges = day, 0
        if entry.kind == "charge":  # the day's charges, all made before the end of its day
            self.day_charges += int(entry.amount)
            return LedgerRow(entry, self.funds)
        before = self.day_charges if entry.charges_before is None else int(entry.charges_before)
        self.funds -= self.day_charges - before  # the charges made after this entry
        self.day_charges = before
        row = LedgerRow(entry, self.funds)
        self.funds -= int(entry.amount)
        return row


def running_balances(entries: Sequence[LedgerEntry], funds_after_first: int) -> list[LedgerRow]:
    """Each entry (newest first) with the funds right after it; ``funds_after_first`` is the
    figure after the first (newest) entry of the list."""
    return RunningBalance(funds_after_first).rows(entries)


def ledger_format(value: str | None) -> str:
    """The ``format`` query parameter of the ledger: json (the default) or csv."""
    return spreadsheet.export_format(value)


def ledger_page(
    account_id: str, *, limit: int | None = None, cursor: str | None = None
) -> tuple[list[LedgerRow], str | None]:
    """One page of the ledger, newest first, each entry with its running balance."""
    rows, next_cursor, _ = _ledger_page(account_id, limit=limit, cursor=cursor, walk=None)
    return rows, next_cursor


def _ledger_page(
    account_id: str, *, limit: int | None, cursor: str | None, walk: RunningBalance | None
) -> tuple[list[LedgerRow], str | None, RunningBalance]:
    """A page and the walk that continues after it. Without ``walk``, one starts from the
    wallet (balance + held is the funds after the newest entry) and, for a later page, walks
    the entries newer than the page first."""
    fresh = walk is None
    if walk is None:
        walk = RunningBalance(wallet_funds(get_wallet(account_id)))
    entries, next_cursor = store.list_ledger(account_id, limit=limit, cursor=cursor)
    if fresh and cursor and entries:
        walk.rows(store.ledger_newer_than(account_id, entries[0].sk))
    return walk.rows(entries), next_cursor, walk


def ledger_export(
    account_id: str, *, cursor: str | None = None
) -> tuple[list[LedgerRow], str | None]:
    """The ledger for a CSV export: every entry (from ``cursor`` on), at most MAX_CSV_ROWS;
    the cursor returned continues a longer ledger."""
    rows: list[LedgerRow] = []
    next_cursor, walk = cursor, None
    while True:
        page, next_cursor, walk = _ledger_page(account_id, limit=100, cursor=next_cursor, walk=walk)
        rows.extend(page)
        if next_cursor is None or len(rows) >= MAX_CSV_ROWS:
            return rows, next_cursor


def ledger_entry_view(row: LedgerRow) -> dict[str, Any]:
    entry = row.entry
    return {
        "object": "ledger_entry",
        "id": entry.entry_id,
        "kind": entry.kind,
        "amount_usd": format_usd(int(entry.amount)),
        "balance_after_usd": format_usd(row.balance_after),
        "reason": entry.reason or "",
        "reference": entry.reference,
        "receipt_url": entry.receipt_url,  # a Stripe top-up's receipt
        "created_at": _unix(entry.created_at),
    }


def ledger_csv(rows: Sequence[LedgerRow]) -> str:
    """The rows as CSV with a header row (the JSON view's columns), spreadsheet-safe."""
    return spreadsheet.to_csv(LEDGER_COLUMNS, map(ledger_csv_row, rows))


def ledger_csv_row(row: LedgerRow) -> dict[str, Any]:
    view = ledger_entry_view(row)
    view["created_at"] = spreadsheet.time(row.entry.created_at)
    for column in ("reason", "reference", "receipt_url"):
        view[column] = spreadsheet.text(view[column])
    return view


# ------------------------------------------------------------------------------ checkout


def parse_checkout_amount(body: Mapping[str, Any], settings: Settings) -> int:
    """``amount_usd`` of a top-up in nano-USD: a decimal string (or whole number) of USD with
    at most 2 decimals, between the operator's minimum and maximum."""
    reject_unknown_fields(body, ("amount_usd",))
    low, high = parse_usd(settings.checkout_min_usd), parse_usd(settings.checkout_max_usd)
    return _amount_field(body, low, high, example="20.00", cents_only=True)


def _amount_field(
    body: Mapping[str, Any], low: int, high: int, *, example: str, cents_only: bool
) -> int:
    """``amount_usd`` in nano-USD, between ``low`` and ``high``: a decimal string exactly as
    written (no sign, no surrounding spaces) or a whole number; BadRequest naming the field."""
    bounds = f"between {format_usd(low)} and {format_usd(high)} USD"
    value = body.get("amount_usd")
    if isinstance(value, int) and not isinstance(value, bool):
        value = str(value)
    shape = _CENTS if cents_only else None
    try:
        if not isinstance(value, str) or (shape is not None and not shape.fullmatch(value)):
            raise MoneyError("not a decimal string")
        amount = parse_usd(value)
    except MoneyError:
        decimals = "with at most 2 decimals " if cents_only else ""
        raise BadRequest(
            f"'amount_usd' must be a decimal string {decimals}{bounds}, e.g. \"{example}\".",
            param="amount_usd",
        ) from None
    if not low <= amount <= high:
        raise BadRequest(f"'amount_usd' must be {bounds}.", param="amount_usd")
    return amount


def stripe_api_key(settings: Settings) -> str:
    """The Stripe API key, from its own secret (``tollgate/<env>/stripe-api-key``)."""
    key = secrets.stripe_api_key(settings)
    if not key:
        logger.error("no Stripe API key; top-ups are unavailable")
        raise UpstreamError(
            "Payments are not configured on this gateway (no Stripe API key).",
            code="payments_not_configured",
        )
    return key


def checkout_params(
    account_id: str,
    amount: int,
    settings: Settings,
    *,
    success_url: str | None = None,
    cancel_url: str | None = None,
) -> SessionCreateParams:
    """The Checkout Session Tollgate asks Stripe for: one line of credit, in cents. The payer
    returns to the deployment's success and cancel URLs unless others are given (the console
    brings its people back to itself)."""
    if amount % NANOS_PER_CENT:
        raise ValueError("a checkout amount is whole cents")
    return {
        "mode": "payment",
        "line_items": [
            {
                "quantity": 1,
                "price_data": {
                    "currency": CURRENCY,
                    "unit_amount": amount // NANOS_PER_CENT,
                    "product_data": {"name": PRODUCT_NAME},
                },
            }
        ],
        "metadata": {"account_id": account_id},
        "payment_intent_data": {"metadata": {"account_id": account_id}},
        "client_reference_id": account_id,
        "success_url": success_url or settings.checkout_success_url,
        "cancel_url": cancel_url or settings.checkout_cancel_url,
    }


def create_checkout(
    account_id: str,
    amount: int,
    settings: Settings,
    *,
    now: datetime | None = None,
    success_url: str | None = None,
    cancel_url: str | None = None,
) -> dict[str, Any]:
    """A Stripe Checkout Session for ``amount`` nano-USD, recorded as an open payment; the
    credit itself comes only from the verified webhook. Stripe replaces
    ``{CHECKOUT_SESSION_ID}`` in ``success_url`` with the session's id (the payment's)."""
    client = stripe_client(
        stripe_api_key(settings),
        settings.stripe_api_base,
        timeout_seconds=STRIPE_TIMEOUT_SECONDS,
        retries=STRIPE_RETRIES,
    )
    try:
        session = client.v1.checkout.sessions.create(
            params=checkout_params(
                account_id, amount, settings, success_url=success_url, cancel_url=cancel_url
            )
        )
    except stripe.StripeError as error:
        raise _stripe_failure(error) from None
    if not session.url:
        raise UpstreamError(
            "Stripe created a checkout session without a URL.", code="payment_processor_error"
        )
    payment_store.create_open_payment(
        account_id, session.id, amount, CURRENCY, session.url, now or clock.utcnow()
    )
    metrics.add_metric(name="CheckoutSessionsCreated", unit="Count", value=1)
    return {
        "object": "checkout_session",
        "id": session.id,
        "url": session.url,
        "amount_usd": format_usd(amount),
        "expires_at": session.expires_at,
    }


def _stripe_failure(error: Exception) -> UpstreamError:
    """A Stripe failure as a 502 that says what happened, without any secret."""
    if isinstance(error, stripe.AuthenticationError | stripe.PermissionError):
        reason = "it refused the gateway's API key"
    elif isinstance(error, stripe.APIConnectionError):
        reason = "it could not be reached"
    elif isinstance(error, stripe.RateLimitError):
        reason = "it is rate limiting the gateway; try again shortly"
    else:
        detail = getattr(error, "user_message", None) or type(error).__name__
        reason = f"it answered: {detail}"
    logger.warning("stripe call failed", extra={"error": type(error).__name__})
    return UpstreamError(
        f"Stripe could not create the checkout session: {reason}.",
        code="payment_processor_error",
    )


# ------------------------------------------------------------------------------ payments


def get_payment(account_id: str, payment_id: str) -> Payment:
    payment = payment_store.get_payment(account_id, payment_id) if payment_id.strip() else None
    if payment is None:
        raise NotFound(
            f"No payment with id '{payment_id}'.", code="payment_not_found", param="payment_id"
        )
    return payment


def list_payments(
    account_id: str, *, limit: int | None = None, cursor: str | None = None
) -> tuple[list[Payment], str | None]:
    return store.list_payments(account_id, limit=limit, cursor=cursor)


def payment_view(payment: Payment) -> dict[str, Any]:
    return {
        "object": "payment",
        "id": payment.payment_id,
        "amount_usd": format_usd(int(payment.amount)),
        "currency": payment.currency,
        "status": payment.status,
        "checkout_session_id": payment.payment_id,
        "payment_intent_id": payment.payment_intent_id,
        "receipt_url": payment.receipt_url,
        "checkout_url": payment.checkout_url if payment.status == "open" else None,
        "created_at": _unix(payment.created_at),
        "updated_at": _unix(payment.updated_at),
    }


# ------------------------------------------------------------------------------ adjustments


@dataclass(frozen=True, slots=True)
class Adjustment:
    amount: int  # nano-USD, positive
    direction: str  # credit or debit
    reason: str


def parse_adjustment(body: Mapping[str, Any], settings: Settings) -> Adjustment:
    """An operator's adjustment: a positive ``amount_usd`` up to the deployment's maximum
    (``AdjustmentMaxUsd``), its ``direction`` and a ``reason``."""
    reject_unknown_fields(body, ("amount_usd", "direction", "reason"))
    high = parse_usd(settings.adjustment_max_usd)
    amount = _amount_field(body, 1, high, example="5.00", cents_only=False)
    if "direction" not in body:
        raise BadRequest("'direction' is required: credit or debit.", param="direction")
    return Adjustment(
        amount=amount,
        direction=choice_field(body, "direction", DIRECTIONS, default="credit"),
        reason=text_field(body, "reason", required=True, max_length=500),
    )


def account_flag(account_id: str) -> str | None:
    """Why the operator should look at the account (a payment dispute), if anything."""
    account = key_store.get_account(account_id)
    return account.flagged if account is not None else None


def adjust_wallet(
    account_id: str,
    adjustment: Adjustment,
    *,
    reference: str | None = None,
    now: datetime | None = None,
) -> tuple[LedgerEntry, Wallet]:
    """Credit or debit the wallet with an ``adjustment`` ledger entry; a debit never takes the
    balance below zero (Conflict ``insufficient_balance``). Returns the entry and the wallet
    after it."""
    # An unknown account is a 404 from the transaction's own condition: nothing is written.
    move = ledger.credit if adjustment.direction == "credit" else ledger.debit
    entry = move(
        account_id,
        adjustment.amount,
        kind="adjustment",
        reason=adjustment.reason,
        reference=reference,
        now=now,
    )
    return entry, get_wallet(account_id)


def adjustment_view(
    entry: LedgerEntry, wallet: Wallet, direction: str, *, account_flagged: str | None = None
) -> dict[str, Any]:
    """The adjustment and the wallet after it, with what the operator should know of the
    account (``account_flagged``: e.g. an open payment dispute)."""
    return {
        "object": "adjustment",
        "id": entry.entry_id,
        "account_id": entry.account_id,
        "direction": direction,
        "amount_usd": format_usd(abs(int(entry.amount))),
        "reason": entry.reason,
        "created_at": _unix(entry.created_at),
        "wallet": wallet_view(wallet),
        "account_flagged": account_flagged,
    }


def adjustment_changes(entry: LedgerEntry, wallet: Wallet) -> dict[str, tuple[Any, Any]]:
    """What the audit trail records of an adjustment: the entry and the balance it moved
    (``before`` is the balance after it minus the entry; a charge settling at the same
    moment is not in it)."""
    amount, after = int(entry.amount), wallet_funds(wallet)
    return {
        "ledger_entry": (None, entry.entry_id),
        "amount_usd": (None, format_usd(amount)),
        "reason": (None, entry.reason),
        "balance_usd": (format_usd(after - amount), format_usd(after)),
    }


def _unix(moment: datetime | None) -> int | None:
    return int(moment.timestamp()) if moment else None
