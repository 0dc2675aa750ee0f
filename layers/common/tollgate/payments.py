"""Stripe webhook events: verified, recorded once, turned into credits, payment states and
dispute flags.

``handle_webhook`` is the whole of ``POST /webhooks/stripe``:

1. the ``Stripe-Signature`` header is verified on the raw body with the webhook signing secret
   (its own secret, which only this function may read; 5 minutes of tolerance); a missing or
   wrong signature, a stale timestamp or a body that is not a JSON event is a BadRequest (400)
   and nothing is written;
2. an event already processed (``tollgate.store.payments``: a marker per event id) is
   acknowledged without effect;
3. the event's effect and its marker are written in ONE transaction:

   - ``checkout.session.completed`` with ``payment_status == "paid"`` and
     ``checkout.session.async_payment_succeeded`` credit ``amount_total`` (cents; times 10^7 for
     nano-USD) to the account in the session's ``metadata.account_id``: marker, balance,
     ``topup`` ledger entry (reference: the session id) and the payment ``paid`` with its
     payment intent and receipt URL; the payment's condition (not paid yet) makes the two
     events of one session credit once, in either order;
   - ``checkout.session.completed`` still ``unpaid`` (an async method): payment ``processing``;
   - ``checkout.session.async_payment_failed`` / ``checkout.session.expired``: ``failed`` /
     ``expired``;
   - ``charge.dispute.created``: the account is flagged ``dispute <id>`` for the operator, and
     the disputed amount moves from the wallet's balance to ``disputed``: it can be neither
     spent (the hold checks the balance) nor debited while the dispute is open, and when it
     was spent already the balance goes below zero until the customer tops up;
   - ``charge.dispute.closed``: won (or an inquiry closed) gives the amount back to the
     balance; lost takes it out of ``disputed`` with a ``dispute`` ledger entry;
   - any other type: only the marker.

   Credits and disputes then append an audit event (actor ``stripe``); a credit queues the
   ``payment_confirmed`` mail to the account's owners (with the receipt link when Stripe gave
   one), which can never fail the webhook (``tollgate.notifications``).

Answers: 200 once the event's outcome is durable, whatever it was; a 5xx (storage, Stripe API
for disputes, configuration) only when it is not, so that Stripe retries.

Only sessions this deployment created are acted on: checkout records each session it creates
as an ``open`` payment under its account, and a session event is looked up there first (by the
account in its metadata and the session id). Anything else, however validly signed (a session
created outside this deployment, another account's session, an amount nobody checked out), is
**unknown_session**: only the event's marker is written, nothing is credited or recorded, and
the operator gets an error log (ids only) and the ``PaymentsForUnknownSessions`` metric, which
an alarm watches.

Three outcomes are recorded rather than retried, because no retry could change them; all are
answered 200 so Stripe stops, and all leave an error log (ids only) and a metric for the
operator: unknown_session (above), and

- **mismatch**: the session's amount or currency differs from the open payment checkout
  recorded (or is not a positive USD amount): nothing is credited, the payment becomes
  ``mismatch``. Someone must look at it; the money is in Stripe, to be refunded or credited
  by hand with an adjustment.
- **unknown account**: the account whose checkout created the session has no wallet any more:
  nothing is credited, the payment is recorded ``failed``.
"""

from __future__ import annotations

import base64
import dataclasses
import re
from collections.abc import Callable, Mapping
from datetime import datetime
from typing import Any

import stripe

from tollgate import audit, clock, ledger, notifications
from tollgate import secrets as tollgate_secrets
from tollgate.errors import BadRequest, InternalError, UpstreamError
from tollgate.money import format_usd
from tollgate.observability import logger, metrics
from tollgate.settings import Settings
from tollgate.store import payments as store
from tollgate.store.payments import Written
from tollgate.stripe_clients import stripe_client
from tollgate.validation import strict_json

SIGNATURE_HEADER = "stripe-signature"
TOLERANCE_SECONDS = 300
NANOS_PER_CENT = 10_000_000
CREDIT_CURRENCY = "usd"
ACTOR = "stripe"
STRIPE_TIMEOUT_SECONDS = 5

_ACCOUNT_ID = re.compile(r"[A-Za-z0-9_-]{1,64}")
_STRIPE_ID = re.compile(r"[A-Za-z0-9_]{1,255}")


@dataclasses.dataclass(frozen=True, slots=True)
class StripeEvent:
    """The parts of a verified event the webhook reads."""

    id: str
    type: str
    object: dict[str, Any]


@dataclasses.dataclass(frozen=True, slots=True)
class WebhookResult:
    """What processing an event did: ``outcome`` is one of credited, already_credited,
    processing, failed, expired, mismatch, unknown_session, unknown_account, unattributed,
    flagged, dispute_won, dispute_lost, already_closed, ignored, duplicate."""

    event_id: str
    event_type: str
    outcome: str

    def view(self) -> dict[str, Any]:
        return {"received": True, "event": self.event_id, "outcome": self.outcome}


@dataclasses.dataclass(frozen=True, slots=True)
class _Context:
    settings: Settings
    api_key: str | None
    request_id: str | None
    now: datetime


# ------------------------------------------------------------------------------ the request


def raw_body(event: Mapping[str, Any]) -> bytes:
    """The exact bytes Stripe signed: API Gateway hands binary-safe bodies base64-encoded."""
    body = event.get("body") or ""
    if event.get("isBase64Encoded"):
        try:
            return base64.b64decode(body, validate=True)
        except ValueError:
            raise BadRequest("The body is not valid base64.", code="malformed_event") from None
    return body.encode("utf-8")


def signature_header(event: Mapping[str, Any]) -> str | None:
    """The ``Stripe-Signature`` header, whatever its case."""
    for name, value in (event.get("headers") or {}).items():
        if name.lower() == SIGNATURE_HEADER and value:
            return value
    for name, values in (event.get("multiValueHeaders") or {}).items():
        if name.lower() == SIGNATURE_HEADER and values:
            return values[-1]
    return None


def verify_event(
    payload: bytes, signature: str | None, webhook_secrets: tuple[str, ...]
) -> StripeEvent:
    """The event, if ``signature`` is Stripe's signature of ``payload`` by one of the secrets
    less than five minutes ago and the payload is an event; BadRequest otherwise."""
    if not webhook_secrets:
        logger.error("no Stripe webhook signing secret; webhooks cannot be verified")
        raise InternalError("Payments are not configured.")
    if not signature:
        raise BadRequest("The Stripe-Signature header is missing.", code="missing_signature")
    try:
        text = payload.decode("utf-8")
    except UnicodeDecodeError:
        raise BadRequest("The body is not UTF-8.", code="malformed_event") from None
    if not any(_signed_by(text, signature, secret) for secret in webhook_secrets):
        raise BadRequest(
            "The Stripe-Signature header does not match the body, or is too old.",
            code="invalid_signature",
        )
    try:
        document = strict_json(text)
    except ValueError:
        raise BadRequest("The body is not JSON.", code="malformed_event") from None
    if not isinstance(document, dict):
        raise BadRequest("The body is not a Stripe event.", code="malformed_event")
    data = document.get("data")
    stripe_object = data.get("object") if isinstance(data, dict) else None
    event_id, event_type = document.get("id"), document.get("type")
    if not (
        isinstance(event_id, str)
        and _STRIPE_ID.fullmatch(event_id)
        and isinstance(event_type, str)
        and event_type
        and isinstance(stripe_object, dict)
    ):
        raise BadRequest("The body is not a Stripe event.", code="malformed_event")
    return StripeEvent(event_id, event_type, stripe_object)


def _signed_by(text: str, signature: str, secret: str) -> bool:
    try:
        stripe.WebhookSignature.verify_header(text, signature, secret, tolerance=TOLERANCE_SECONDS)
    except stripe.SignatureVerificationError:
        return False
    return True


# ------------------------------------------------------------------------------ processing


def handle_webhook(
    payload: bytes,
    signature: str | None,
    *,
    settings: Settings,
    request_id: str | None = None,
    now: datetime | None = None,
) -> WebhookResult:
    """Verify, deduplicate and apply one webhook delivery (see the module docstring)."""
    event = verify_event(payload, signature, tollgate_secrets.stripe_webhook_secrets(settings))
    api_key = tollgate_secrets.stripe_api_key(settings)
    context = _Context(settings, api_key, request_id, now or clock.utcnow())
    log = {"event_id": event.id, "event_type": event.type}
    if store.is_processed(event.id):
        outcome = "duplicate"
    else:
        outcome = _HANDLERS.get(event.type, _ignore)(event, context)
    logger.info("stripe event processed", extra={**log, "outcome": outcome})
    metrics.add_metric(name="Webhook" + outcome.title().replace("_", ""), unit="Count", value=1)
    return WebhookResult(event.id, event.type, outcome)


@dataclasses.dataclass(frozen=True, slots=True)
class _Session:
    """The checkout session an event is about."""

    id: str
    account_id: str | None
    amount_total: int | None  # cents
    currency: str
    payment_intent_id: str | None

    @property
    def amount_nanos(self) -> int | None:
        """The amount in nano-USD, or None unless it is a positive USD amount."""
        if self.currency != CREDIT_CURRENCY or not self.amount_total or self.amount_total <= 0:
            return None
        return self.amount_total * NANOS_PER_CENT


def _session(event: StripeEvent) -> _Session | None:
    session = event.object
    session_id = session.get("id")
    if not isinstance(session_id, str) or not _STRIPE_ID.fullmatch(session_id):
        return None
    metadata = session.get("metadata")
    account_id = metadata.get("account_id") if isinstance(metadata, dict) else None
    amount = session.get("amount_total")
    currency = session.get("currency")
    intent = session.get("payment_intent")
    if isinstance(intent, dict):  # expanded
        intent = intent.get("id")
    return _Session(
        id=session_id,
        account_id=account_id
        if isinstance(account_id, str) and _ACCOUNT_ID.fullmatch(account_id)
        else None,
        amount_total=amount if isinstance(amount, int) and not isinstance(amount, bool) else None,
        currency=currency.lower() if isinstance(currency, str) else "",
        payment_intent_id=intent if isinstance(intent, str) and intent else None,
    )


def _marker(event: StripeEvent, context: _Context, account_id: str | None = None):
    return store.new_marker(event.id, event.type, account_id, now=context.now)


def _ignore(event: StripeEvent, context: _Context) -> str:
    written = store.mark_processed(_marker(event, context))
    return "duplicate" if written is Written.DUPLICATE else "ignored"


def _unattributed(event: StripeEvent, context: _Context, why: str) -> str:
    """An event that names no account of ours: acknowledged, for the operator to look at."""
    logger.error("stripe event without an account", extra={"event_id": event.id, "why": why})
    written = store.mark_processed(_marker(event, context))
    return "duplicate" if written is Written.DUPLICATE else "unattributed"


def _checkout_completed(event: StripeEvent, context: _Context) -> str:
    status = event.object.get("payment_status")
    if status == "paid":
        return _credit(event, context)
    if status == "unpaid":
        return _record_status(event, context, "processing")
    return _ignore(event, context)  # no_payment_required: nothing was paid, nothing to credit


def _checkout_failed(event: StripeEvent, context: _Context) -> str:
    return _record_status(event, context, "failed")


def _checkout_expired(event: StripeEvent, context: _Context) -> str:
    return _record_status(event, context, "expired")


def _record_status(event: StripeEvent, context: _Context, status: str) -> str:
    session = _session(event)
    if session is None or session.account_id is None:
        return _unattributed(event, context, "no session or account id")
    if store.get_payment(session.account_id, session.id) is None:
        return _unknown_session(event, context, session)
    written = _write_status(event, context, session, status)
    if written is Written.DUPLICATE:
        return "duplicate"
    return "already_settled" if written is Written.PAYMENT_MOVED_ON else status


def _credit(event: StripeEvent, context: _Context) -> str:
    session = _session(event)
    if session is None or session.account_id is None:
        return _unattributed(event, context, "no session or account id")
    log = {"event_id": event.id, "account_id": session.account_id, "payment_id": session.id}
    payment = store.get_payment(session.account_id, session.id)
    if payment is None:
        return _unknown_session(event, context, session)
    if payment.status == "paid":  # credited by its sibling event
        return _already_credited(event, context)
    amount = session.amount_nanos
    if amount is None or (int(payment.amount), payment.currency) != (amount, session.currency):
        return _mismatch(event, context, session, log)

    receipt_url = _receipt_url(context, session.payment_intent_id, log)
    entry = ledger.new_entry(
        session.account_id,
        amount,
        kind="topup",
        reason="Stripe payment",
        reference=session.id,
        receipt_url=receipt_url,
        now=context.now,
    )
    written = store.credit_payment(
        _marker(event, context, session.account_id),
        entry,
        session_id=session.id,
        currency=session.currency,
        payment_intent_id=session.payment_intent_id,
        receipt_url=receipt_url,
    )
    if written is Written.DUPLICATE:
        return "duplicate"
    if written is Written.NO_WALLET:
        return _unknown_account(event, context, session, log)
    if written is Written.PAYMENT_MOVED_ON:  # a sibling event credited it in the meantime
        payment = store.get_payment(session.account_id, session.id)
        if payment is not None and payment.status == "paid":
            return _already_credited(event, context)
        return _mismatch(event, context, session, log)

    metrics.add_metric(name="CreditedNanoUSD", unit="Count", value=amount)
    _audit(
        session.account_id,
        context,
        action="wallet.credited",
        target=f"payment:{session.id}",
        changes={"amount": (None, format_usd(amount)), "kind": (None, "topup")},
    )
    notifications.send(
        "payment_confirmed",
        session.account_id,
        context={
            "amount_usd": format_usd(amount),
            "payment_id": session.id,
            "receipt_url": receipt_url,
        },
    )
    return "credited"


def _already_credited(event: StripeEvent, context: _Context) -> str:
    written = store.mark_processed(_marker(event, context))
    return "duplicate" if written is Written.DUPLICATE else "already_credited"


def _unknown_session(event: StripeEvent, context: _Context, session: _Session) -> str:
    """Not a session this deployment created: nothing credited or recorded, only the marker
    (see the module docstring)."""
    logger.error(
        "stripe event for a checkout session this deployment did not create; ignored",
        extra={"event_id": event.id, "account_id": session.account_id, "payment_id": session.id},
    )
    metrics.add_metric(name="PaymentsForUnknownSessions", unit="Count", value=1)
    written = store.mark_processed(_marker(event, context))
    return "duplicate" if written is Written.DUPLICATE else "unknown_session"


def _mismatch(event: StripeEvent, context: _Context, session: _Session, log: dict) -> str:
    """Not credited: recorded as ``mismatch`` (see the module docstring)."""
    logger.error("stripe payment does not match its checkout; not credited", extra=log)
    metrics.add_metric(name="PaymentMismatches", unit="Count", value=1)
    return _not_credited(event, context, session, status="mismatch", outcome="mismatch")


def _unknown_account(event: StripeEvent, context: _Context, session: _Session, log: dict) -> str:
    """Not credited: the payment is recorded ``failed`` (see the module docstring)."""
    logger.error("stripe payment for an account without a wallet; not credited", extra=log)
    metrics.add_metric(name="PaymentsForUnknownAccounts", unit="Count", value=1)
    return _not_credited(event, context, session, status="failed", outcome="unknown_account")


def _not_credited(
    event: StripeEvent, context: _Context, session: _Session, *, status: str, outcome: str
) -> str:
    written = _write_status(event, context, session, status)
    return "duplicate" if written is Written.DUPLICATE else outcome


def _write_status(event: StripeEvent, context: _Context, session: _Session, status: str) -> Written:
    """The session's payment moved to ``status`` with the event's marker (one transaction)."""
    assert session.account_id is not None, "only an attributed session has a payment"
    return store.record_payment_status(
        _marker(event, context, session.account_id),
        account_id=session.account_id,
        session_id=session.id,
        status=status,
        amount=session.amount_nanos or 0,
        currency=session.currency,
        payment_intent_id=session.payment_intent_id,
        now=context.now,
    )


def _dispute_created(event: StripeEvent, context: _Context) -> str:
    dispute = event.object
    dispute_id = dispute.get("id")
    if not (isinstance(dispute_id, str) and _STRIPE_ID.fullmatch(dispute_id)):
        return _unattributed(event, context, "dispute without an id")
    charge = dispute.get("charge") if isinstance(dispute.get("charge"), str) else None
    intent = dispute.get("payment_intent")
    intent = intent if isinstance(intent, str) and intent else None
    metadata = dispute.get("metadata")
    account_id = metadata.get("account_id") if isinstance(metadata, dict) else None
    if not (isinstance(account_id, str) and _ACCOUNT_ID.fullmatch(account_id)):
        account_id = _account_of_payment_intent(context, intent)
    if account_id is None:
        return _unattributed(event, context, "dispute of an unknown payment")
    log = {"event_id": event.id, "account_id": account_id, "dispute_id": dispute_id}
    flag = f"dispute {dispute_id}"
    amount = _dispute_amount(dispute)
    written = store.open_dispute(
        _marker(event, context, account_id), account_id, dispute_id, amount, now=context.now
    )
    if written is Written.DUPLICATE:
        return "duplicate"
    if written is Written.NO_ACCOUNT:
        return _unattributed(event, context, "dispute names an account that does not exist")
    if written is Written.DISPUTE_MOVED_ON:  # the same dispute, seen under another event id
        return _ignore(event, context)
    logger.warning("payment disputed; account flagged, amount held back", extra=log)
    metrics.add_metric(name="PaymentsDisputed", unit="Count", value=1)
    reason = dispute.get("reason") if isinstance(dispute.get("reason"), str) else None
    _audit(
        account_id,
        context,
        action="payment.disputed",
        target=f"payment:{charge or intent or dispute_id}",
        changes={
            "flagged": (None, flag),
            "reason": (None, reason),
            "disputed_usd": (None, format_usd(amount)),
        },
    )
    return "flagged"


def _dispute_amount(dispute: dict[str, Any]) -> int:
    """The disputed amount in nano-USD (Stripe gives cents); 0 unless a positive USD amount."""
    amount, currency = dispute.get("amount"), dispute.get("currency")
    if not (isinstance(amount, int) and not isinstance(amount, bool) and amount > 0):
        return 0
    return amount * NANOS_PER_CENT if currency == CREDIT_CURRENCY else 0


# Closed disputes that leave the money with the customer; "lost" takes it.
RELEASED_DISPUTE_STATUSES = ("won", "warning_closed", "prevented")


def _dispute_closed(event: StripeEvent, context: _Context) -> str:
    """A dispute closed: the held-back amount is released (won) or debited (lost)."""
    dispute_id = event.object.get("id")
    status = event.object.get("status")
    found = None
    if isinstance(dispute_id, str) and _STRIPE_ID.fullmatch(dispute_id):
        found = store.get_dispute(dispute_id)
    if found is None:
        return _unattributed(event, context, "closed dispute never opened here")
    won = status in RELEASED_DISPUTE_STATUSES
    if not won and status != "lost":
        logger.error("closed dispute with an unknown status", extra={"event_id": event.id})
        return _ignore(event, context)
    entry = None
    if not won and int(found.amount) > 0:
        entry = ledger.new_entry(
            found.account_id,
            -int(found.amount),
            kind="dispute",
            reason="payment dispute lost",
            reference=found.dispute_id,
            now=context.now,
        )
    marker = _marker(event, context, found.account_id)
    written = store.close_dispute(marker, found, won=won, entry=entry, now=context.now)
    if written is Written.DUPLICATE:
        return "duplicate"
    if written is Written.DISPUTE_MOVED_ON:
        return "duplicate" if _ignore(event, context) == "duplicate" else "already_closed"
    outcome = "dispute_won" if won else "dispute_lost"
    _audit(
        found.account_id,
        context,
        action="payment.dispute_closed",
        target=f"dispute:{found.dispute_id}",
        changes={
            "status": ("open", status),
            "disputed_usd": (format_usd(int(found.amount)), "0.00"),
        },
    )
    return outcome


_HANDLERS: dict[str, Callable[[StripeEvent, _Context], str]] = {
    "checkout.session.completed": _checkout_completed,
    "checkout.session.async_payment_succeeded": _credit,
    "checkout.session.async_payment_failed": _checkout_failed,
    "checkout.session.expired": _checkout_expired,
    "charge.dispute.created": _dispute_created,
    "charge.dispute.closed": _dispute_closed,
}


def _audit(account_id: str, context: _Context, **event: Any) -> None:
    """Append the audit event of a change already durable. If that fails the change stands
    (a retry would find the event processed and could not add it): error log and metric."""
    try:
        audit.record(account_id, actor=ACTOR, request_id=context.request_id, **event)
    except Exception:
        logger.exception("audit event not recorded", extra={"action": event.get("action")})
        metrics.add_metric(name="AuditFailures", unit="Count", value=1)


# ------------------------------------------------------------------------------ Stripe API


def _client(api_key: str, api_base: str | None) -> stripe.StripeClient:
    """Short timeouts, one network retry: Stripe retries a webhook that fails anyway."""
    return stripe_client(api_key, api_base, timeout_seconds=STRIPE_TIMEOUT_SECONDS, retries=1)


def _receipt_url(context: _Context, payment_intent_id: str | None, log: dict) -> str | None:
    """The receipt of the payment intent's charge; None if Stripe does not give it: a credit
    never waits on a receipt."""
    if payment_intent_id is None or context.api_key is None:
        return None
    try:
        intent = _client(context.api_key, context.settings.stripe_api_base).v1.payment_intents
        found = intent.retrieve(payment_intent_id, params={"expand": ["latest_charge"]})
        charge = getattr(found, "latest_charge", None)  # expanded: a Charge, not its id
        url = getattr(charge, "receipt_url", None)
    except Exception as error:  # any failure: credit without the receipt
        logger.warning("receipt URL not available", extra={**log, "error": type(error).__name__})
        return None
    return url if isinstance(url, str) and url else None


def _account_of_payment_intent(context: _Context, payment_intent_id: str | None) -> str | None:
    """The account whose payment record holds this payment intent: Stripe names the checkout
    session of the intent (our payments are keyed by session, under their account), and the
    payment record confirms it. A Stripe failure is an UpstreamError, so Stripe retries."""
    if payment_intent_id is None or context.api_key is None:
        return None
    client = _client(context.api_key, context.settings.stripe_api_base)
    try:
        sessions = client.v1.checkout.sessions.list(
            params={"payment_intent": payment_intent_id, "limit": 1}
        )
    except stripe.StripeError as error:
        logger.warning("checkout session lookup failed", extra={"error": type(error).__name__})
        raise UpstreamError("Stripe could not be reached; try again.") from error
    for session in sessions.data:
        metadata = getattr(session, "metadata", None)
        account_id = metadata["account_id"] if metadata and "account_id" in metadata else None
        if not (isinstance(account_id, str) and _ACCOUNT_ID.fullmatch(account_id)):
            continue
        payment = store.get_payment(account_id, session.id)
        if payment is not None and payment.payment_intent_id in (None, payment_intent_id):
            return account_id
    return None
