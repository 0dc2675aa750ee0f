"""Payments, disputes and processed Stripe events in WalletTable; the dispute flag in
KeysTable.

Items:
- payment ``ACCOUNT#<id> · PAYMENT#<checkout session id>`` (``Payment``): written ``open`` when
  checkout creates the session, then moved on by the webhook (which never creates one):
  ``processing`` (an async method is pending), ``paid`` (credited), ``failed``, ``expired``
  or ``mismatch`` (never credited);
- dispute ``DISPUTE#<dispute id> · DISPUTE`` (``Dispute``): ``open`` while its amount is held
  back in the wallet's ``disputed``, then ``won`` or ``lost``;
- processed event ``STRIPE_EVENT#<event id> · EVENT`` (``ProcessedEvent``, TTL 90 days): a
  webhook event already handled. Every webhook write carries this marker with the condition
  that it does not exist yet, in the same transaction as its effect, so a replayed or
  concurrently duplicated delivery changes nothing.

A payment only moves forward: ``open`` → ``processing`` → one of the final states, and a
``paid`` payment never changes again (that condition is what makes
``checkout.session.completed`` and ``checkout.session.async_payment_succeeded`` of the same
session credit once, in whichever order they arrive).
"""

from __future__ import annotations

import enum
from collections.abc import Callable, Iterable
from datetime import datetime, timedelta

from pynamodb.exceptions import PutError, TransactWriteError
from pynamodb.transactions import TransactWrite

from tollgate.errors import InternalError
from tollgate.store.connection import connection
from tollgate.store.errors import cancellation_codes, get_item, storage_errors
from tollgate.store.layout import account_pk
from tollgate.store.models import Account, Dispute, LedgerEntry, Payment, ProcessedEvent, Wallet
from tollgate.store.wallet import SNAPSHOT_ATTEMPTS, day_charges_check, wallet_key

PAYMENT_PREFIX = "PAYMENT#"
EVENT_PREFIX = "STRIPE_EVENT#"
EVENT_SK = "EVENT"
PROFILE_SK = "PROFILE"
EVENT_RETENTION = timedelta(days=90)

# The statuses a payment may be in for each update to apply (paid is final).
NOT_PAID = ("open", "processing", "failed", "expired", "mismatch")
MOVES_FROM = {
    "processing": ("open",),
    "failed": ("open", "processing"),
    "expired": ("open", "processing"),
    "mismatch": NOT_PAID,
}


class Written(enum.Enum):
    """What a webhook write did."""

    DONE = "done"
    DUPLICATE = "duplicate"  # the event was already processed: nothing written
    PAYMENT_MOVED_ON = "payment_moved_on"  # the payment is past this update (or paid): no effect
    NO_WALLET = "no_wallet"  # the account has no wallet: nothing written
    NO_ACCOUNT = "no_account"  # the account does not exist: nothing written
    DISPUTE_MOVED_ON = "dispute_moved_on"  # the dispute is past this step: only the marker
    CHARGES_MOVED = "charges_moved"  # a request settled meanwhile: nothing written, try again


def payment_sk(session_id: str) -> str:
    return f"{PAYMENT_PREFIX}{session_id}"


def event_pk(event_id: str) -> str:
    return f"{EVENT_PREFIX}{event_id}"


def new_marker(
    event_id: str, event_type: str, account_id: str | None, *, now: datetime
) -> ProcessedEvent:
    return ProcessedEvent(
        event_pk(event_id),
        EVENT_SK,
        event_type=event_type,
        account_id=account_id,
        processed_at=now,
        ttl=now + EVENT_RETENTION,
    )


# ------------------------------------------------------------------------------ payments


def create_open_payment(
    account_id: str,
    session_id: str,
    amount_nanos: int,
    currency: str,
    checkout_url: str | None,
    now: datetime,
) -> Payment:
    """Record a Checkout Session just created (status ``open``, the amount in nano-USD), so
    the webhook can check the paid amount against it. Never overwrites a payment the webhook
    may already have recorded for the session: that one is returned instead."""
    payment = Payment(
        account_pk(account_id),
        payment_sk(session_id),
        payment_id=session_id,
        account_id=account_id,
        amount=amount_nanos,
        currency=currency.lower(),
        status="open",
        checkout_url=checkout_url,
        created_at=now,
        updated_at=now,
    )
    with storage_errors("create_open_payment"):
        try:
            payment.save(condition=Payment.pk.does_not_exist())
        except PutError as error:
            if error.cause_response_code != "ConditionalCheckFailedException":
                raise
            existing = get_payment(account_id, session_id)
            if existing is None:
                raise
            return existing
    return payment


def get_payment(account_id: str, session_id: str) -> Payment | None:
    return get_item(Payment, account_pk(account_id), payment_sk(session_id))


def is_processed(event_id: str) -> bool:
    """Whether the event was already handled (a consistent read: a fast path for replays;
    the conditional marker in every write is what guarantees it)."""
    return get_item(ProcessedEvent, event_pk(event_id), EVENT_SK) is not None


def _payment_actions(
    account_id: str,
    session_id: str,
    *,
    status: str,
    amount: int,
    currency: str,
    payment_intent_id: str | None,
    receipt_url: str | None,
    now: datetime,
) -> list:
    """Set the status and Stripe ids; amount, currency and creation time only where checkout
    did not record them already (an open payment keeps the amount it expected)."""
    actions = [
        Payment.payment_id.set(session_id),
        Payment.account_id.set(account_id),
        Payment.status.set(status),
        Payment.amount.set(Payment.amount | amount),
        Payment.currency.set(Payment.currency | currency),
        Payment.created_at.set(Payment.created_at | now),
        Payment.updated_at.set(now),
    ]
    if payment_intent_id is not None:
        actions.append(Payment.payment_intent_id.set(payment_intent_id))
    if receipt_url is not None:
        actions.append(Payment.receipt_url.set(receipt_url))
    return actions


def _status_in(statuses: Iterable[str]):
    """The payment checkout recorded, in one of ``statuses`` (a webhook never creates one)."""
    return Payment.pk.exists() & Payment.status.is_in(*statuses)


def mark_processed(marker: ProcessedEvent) -> Written:
    """Record an event that has no other effect."""
    return _transact("mark_processed", lambda tx: tx.save(marker, condition=_new(marker)))


def record_payment_status(
    marker: ProcessedEvent,
    *,
    account_id: str,
    session_id: str,
    status: str,
    amount: int,
    currency: str,
    payment_intent_id: str | None,
    now: datetime,
) -> Written:
    """The event and a payment's new status (``processing``, ``failed``, ``expired``,
    ``mismatch``), atomically. A payment already past that status (a paid one, or a final
    state when ``processing`` arrives late) is left alone: PAYMENT_MOVED_ON, and then only the
    marker is written."""
    payment = Payment(account_pk(account_id), payment_sk(session_id))
    actions = _payment_actions(
        account_id,
        session_id,
        status=status,
        amount=amount,
        currency=currency,
        payment_intent_id=payment_intent_id,
        receipt_url=None,
        now=now,
    )

    def write(tx: TransactWrite) -> None:
        tx.save(marker, condition=_new(marker))
        tx.update(payment, actions=actions, condition=_status_in(MOVES_FROM[status]))

    written = _transact("record_payment_status", write, {1: Written.PAYMENT_MOVED_ON})
    if written is Written.PAYMENT_MOVED_ON:
        return Written.DUPLICATE if mark_processed(marker) is Written.DUPLICATE else written
    return written


def credit_payment(
    marker: ProcessedEvent,
    entry: LedgerEntry,
    *,
    session_id: str,
    currency: str,
    payment_intent_id: str | None,
    receipt_url: str | None,
) -> Written:
    """ONE transaction: the event marker (new), the wallet's balance += the entry's amount (the
    wallet exists), the top-up ledger entry, and the payment checkout recorded set to ``paid``
    (not paid yet, for the same amount and currency). Nothing is written unless all
    four are: DUPLICATE, NO_WALLET or PAYMENT_MOVED_ON (paid already, or another amount) say
    which condition stopped it."""
    account_id, amount, now = entry.account_id, int(entry.amount), entry.created_at
    payment = Payment(account_pk(account_id), payment_sk(session_id))
    same_payment = (
        Payment.status.is_in(*NOT_PAID)
        & (Payment.amount == amount)
        & (Payment.currency == currency)
    )

    def write(tx: TransactWrite) -> None:
        check(tx)
        tx.save(marker, condition=_new(marker))
        tx.update(
            Wallet(*wallet_key(account_id)),
            actions=[Wallet.balance.add(amount), Wallet.updated_at.set(now)],
            condition=Wallet.pk.exists(),
        )
        tx.save(entry, condition=LedgerEntry.pk.does_not_exist())
        tx.update(
            payment,
            actions=_payment_actions(
                account_id,
                session_id,
                status="paid",
                amount=amount,
                currency=currency,
                payment_intent_id=payment_intent_id,
                receipt_url=receipt_url,
                now=now,
            ),
            condition=same_payment,
        )

    # PynamoDB sends checks, then puts, then updates: the day's charges 0, marker 1, ledger
    # entry 2, wallet 3, payment 4.
    conditions = {0: Written.CHARGES_MOVED, 3: Written.NO_WALLET, 4: Written.PAYMENT_MOVED_ON}
    for _ in range(SNAPSHOT_ATTEMPTS):
        check = day_charges_check(entry)
        written = _transact("credit_payment", write, conditions, marker=1)
        if written is not Written.CHARGES_MOVED:
            return written
    raise InternalError("The wallet is busy with requests; try again.")


# ------------------------------------------------------------------------------ disputes


DISPUTE_PREFIX = "DISPUTE#"
DISPUTE_SK = "DISPUTE"


def get_dispute(dispute_id: str) -> Dispute | None:
    return get_item(Dispute, f"{DISPUTE_PREFIX}{dispute_id}", DISPUTE_SK)


def open_dispute(
    marker: ProcessedEvent, account_id: str, dispute_id: str, amount: int, *, now: datetime
) -> Written:
    """ONE transaction: the event, ``Account.flagged`` (the account exists), the dispute
    (``open``, new) and ``amount`` moved from the wallet's balance to ``disputed``, so it can
    be neither spent nor debited until the dispute closes. The balance may go below zero when
    the disputed money was spent already: what is owed then blocks new requests."""
    dispute = Dispute(
        f"{DISPUTE_PREFIX}{dispute_id}",
        DISPUTE_SK,
        dispute_id=dispute_id,
        account_id=account_id,
        amount=amount,
        status="open",
        created_at=now,
        updated_at=now,
    )

    def write(tx: TransactWrite) -> None:
        tx.save(marker, condition=_new(marker))
        tx.save(dispute, condition=Dispute.pk.does_not_exist())
        tx.update(
            Account(account_pk(account_id), PROFILE_SK),
            actions=[Account.flagged.set(f"dispute {dispute_id}")],
            condition=Account.pk.exists(),
        )
        tx.update(
            Wallet(*wallet_key(account_id)),
            actions=[
                Wallet.balance.add(-amount),
                Wallet.disputed.add(amount),
                Wallet.updated_at.set(now),
            ],
            condition=Wallet.pk.exists(),
        )

    # Puts, then updates: marker 0, dispute 1, account 2, wallet 3.
    return _transact(
        "open_dispute",
        write,
        {1: Written.DISPUTE_MOVED_ON, 2: Written.NO_ACCOUNT, 3: Written.NO_ACCOUNT},
    )


def close_dispute(
    marker: ProcessedEvent, dispute: Dispute, *, won: bool, entry: LedgerEntry | None, now: datetime
) -> Written:
    """ONE transaction: the event, the open dispute moved to won or lost, and its amount out of
    ``disputed``: back to the balance when won; when lost, gone, with ``entry`` (the negative
    ``dispute`` ledger entry, which records the day's charges before it) in the ledger."""
    amount, account_id = int(dispute.amount), dispute.account_id
    check: Callable[[TransactWrite], None] | None = None

    def write(tx: TransactWrite) -> None:
        if check is not None:
            check(tx)
        tx.save(marker, condition=_new(marker))
        if entry is not None:
            tx.save(entry, condition=LedgerEntry.pk.does_not_exist())
        tx.update(
            Wallet(*wallet_key(account_id)),
            actions=[
                Wallet.disputed.add(-amount),
                *([Wallet.balance.add(amount)] if won else []),
                Wallet.updated_at.set(now),
            ],
            condition=Wallet.pk.exists(),
        )
        tx.update(
            Dispute(dispute.pk, dispute.sk),
            actions=[
                Dispute.status.set("won" if won else "lost"),
                Dispute.updated_at.set(now),
            ],
            condition=Dispute.status == "open",
        )
        tx.update(
            Account(account_pk(account_id), PROFILE_SK),
            actions=[
                Account.flagged.set(f"dispute {dispute.dispute_id} {'won' if won else 'lost'}")
            ],
            condition=Account.pk.exists(),
        )

    if entry is None:  # marker 0, wallet 1, dispute 2, account 3
        return _transact("close_dispute", write, {2: Written.DISPUTE_MOVED_ON})
    # the day's charges 0, marker 1, entry 2, wallet 3, dispute 4, account 5
    conditions = {0: Written.CHARGES_MOVED, 4: Written.DISPUTE_MOVED_ON}
    for _ in range(SNAPSHOT_ATTEMPTS):
        check = day_charges_check(entry)
        written = _transact("close_dispute", write, conditions, marker=1)
        if written is not Written.CHARGES_MOVED:
            return written
    raise InternalError("The wallet is busy with requests; try again.")


# ------------------------------------------------------------------------------ plumbing


def _new(marker: ProcessedEvent):
    return ProcessedEvent.pk.does_not_exist()


def _transact(
    operation: str, write, conditions: dict[int, Written] | None = None, *, marker: int = 0
) -> Written:
    """Run one transaction whose item ``marker`` is the event marker. A failed condition on the
    marker means the event was processed already (it wins over any other failed condition); on
    item N, ``conditions[N]``. Anything else is an InternalError (storage_errors).

    Item numbers are those of the request PynamoDB sends, which groups the items by kind
    (condition checks, deletes, puts, updates), each group in the order it was added: the
    marker, the first put and there is no check or delete, is always item 0."""
    with storage_errors(operation):
        try:
            with TransactWrite(connection=connection()) as tx:
                write(tx)
        except TransactWriteError as error:
            codes = cancellation_codes(error)
            if marker < len(codes) and codes[marker] == "ConditionalCheckFailed":
                return Written.DUPLICATE
            for index, written in (conditions or {}).items():
                if index < len(codes) and codes[index] == "ConditionalCheckFailed":
                    return written
            raise
    return Written.DONE
