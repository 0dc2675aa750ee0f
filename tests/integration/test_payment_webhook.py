"""POST /webhooks/stripe: signed events credit wallets exactly once and record payments."""

from __future__ import annotations

import base64
import copy
import dataclasses
import json
import threading
import time
from collections.abc import Iterator
from datetime import timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlparse

import boto3
import pytest
import stripe
from aws_lambda_powertools.utilities import parameters

import functions.payment_webhook.app as webhook_app
from devstack.lambda_runtime import LambdaContext
from tests.integration.conftest import EVENTS, event, handle
from tests.support import mail
from tests.support.environment import OPERATOR_KEY
from tollgate import audit, billing, clock, keys, payments
from tollgate.errors import PaymentRequired
from tollgate.key_policy import KeyPolicy
from tollgate.money import parse_usd
from tollgate.settings import get_settings
from tollgate.store import keys as key_store
from tollgate.store import payments as payment_store
from tollgate.store import wallet as wallet_store
from tollgate.store.hotpath import Hold
from tollgate.store.layout import account_pk
from tollgate.store.models import LedgerEntry
from tollgate.stripe_clients import stripe_client

FUNCTION = "PaymentWebhookFunction"
WEBHOOK_SECRET = "whsec_test"  # what the `aws` fixture provisions in the Stripe secret
NANOS_PER_CENT = 10_000_000
RECEIPT = "https://pay.stripe.com/receipts/payment/CAcaFwoVYWNjdF9leGFtcGxl"


# ------------------------------------------------------------------------------ Stripe's side


class StripeApi:
    """A loopback stand-in for the two Stripe API calls the webhook makes."""

    def __init__(self) -> None:
        self.receipts: dict[str, str] = {}  # payment intent → its charge's receipt URL
        self.sessions: list[dict[str, Any]] = []  # checkout sessions, for the intent lookup
        self.requests: list[str] = []
        self.down = False  # the checkout session lookup answers 503
        self.created = 0  # checkout sessions created: cs_test_1, cs_test_2, ...
        api = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                url = urlparse(self.path)
                api.requests.append(url.path)
                if url.path.startswith("/v1/payment_intents/"):
                    intent = url.path.rsplit("/", 1)[1]
                    if intent not in api.receipts:
                        return self.answer(404, {"error": {"type": "invalid_request_error"}})
                    charge = {"id": "ch_1", "object": "charge", "receipt_url": api.receipts[intent]}
                    body = {"id": intent, "object": "payment_intent", "latest_charge": charge}
                    return self.answer(200, body)
                if url.path == "/v1/checkout/sessions" and api.down:
                    return self.answer(503, {"error": {"type": "api_error"}})
                if url.path == "/v1/checkout/sessions":
                    wanted = parse_qs(url.query).get("payment_intent", [None])[0]
                    found = [s for s in api.sessions if s["payment_intent"] == wanted]
                    body = {"object": "list", "data": found, "has_more": False, "url": url.path}
                    return self.answer(200, body)
                return self.answer(404, {"error": {"type": "invalid_request_error"}})

            def do_POST(self) -> None:
                url = urlparse(self.path)
                api.requests.append(url.path)
                length = int(self.headers.get("Content-Length") or 0)
                form = parse_qs(self.rfile.read(length).decode())
                if url.path != "/v1/checkout/sessions":
                    return self.answer(404, {"error": {"type": "invalid_request_error"}})
                api.created += 1
                session_id = f"cs_test_{api.created}"
                body = {
                    "id": session_id,
                    "object": "checkout.session",
                    "url": f"{api.url}/pay/{session_id}",
                    "expires_at": int(time.time()) + 86400,
                    "metadata": {"account_id": form["metadata[account_id]"][0]},
                }
                return self.answer(200, body)

            def answer(self, status: int, body: Any) -> None:
                raw = json.dumps(body).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Stripe-Should-Retry", "false")  # no SDK retry, no waiting
                self.send_header("Content-Length", str(len(raw)))
                self.end_headers()
                self.wfile.write(raw)

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"


@pytest.fixture(autouse=True)
def stripe_api(monkeypatch) -> Iterator[StripeApi]:
    """Every test talks to the loopback Stripe, never to api.stripe.com."""
    api = StripeApi()
    thread = threading.Thread(target=api.server.serve_forever, daemon=True)
    thread.start()
    settings = dataclasses.replace(webhook_app.settings, stripe_api_base=api.url)
    monkeypatch.setattr(webhook_app, "settings", settings)
    stripe_client.cache_clear()
    yield api
    api.server.shutdown()
    api.server.server_close()
    stripe_client.cache_clear()


# ------------------------------------------------------------------------------ deliveries


def stripe_event(
    event_type: str, stripe_object: dict[str, Any], *, event_id: str | None = None
) -> dict[str, Any]:
    counter = next(_event_ids)
    return {
        "id": event_id or f"evt_test{counter:06d}",
        "object": "event",
        "api_version": "2025-09-30.clover",
        "created": int(time.time()),
        "data": {"object": stripe_object},
        "livemode": False,
        "pending_webhooks": 1,
        "type": event_type,
    }


_event_ids = iter(range(1, 1_000_000))


def checkout_session(
    account_id: str,
    session_id: str = "cs_test_1",
    *,
    amount: int = 2000,
    currency: str = "usd",
    payment_status: str = "paid",
    payment_intent: str | None = "pi_test_1",
) -> dict[str, Any]:
    return {
        "id": session_id,
        "object": "checkout.session",
        "amount_total": amount,
        "currency": currency,
        "metadata": {"account_id": account_id},
        "mode": "payment",
        "payment_intent": payment_intent,
        "payment_status": payment_status,
        "status": "complete",
    }


def sign(payload: str, *, secret: str = WEBHOOK_SECRET, at: float | None = None) -> str:
    timestamp = int(time.time() if at is None else at)
    signature = stripe.WebhookSignature._compute_signature(f"{timestamp}.{payload}", secret)
    return f"t={timestamp},v1={signature}"


def delivery(
    body: dict[str, Any] | str,
    *,
    secret: str = WEBHOOK_SECRET,
    at: float | None = None,
    signature: str | None = None,
    base64_encoded: bool = False,
) -> dict[str, Any]:
    """events/stripe_webhook_completed.json with this body, signed as Stripe would."""
    request = copy.deepcopy(json.loads((EVENTS / "stripe_webhook_completed.json").read_text()))
    payload = body if isinstance(body, str) else json.dumps(body)
    header = signature if signature is not None else sign(payload, secret=secret, at=at)
    request["headers"]["Stripe-Signature"] = header
    request["multiValueHeaders"]["Stripe-Signature"] = [header]
    if base64_encoded:
        request["body"] = base64.b64encode(payload.encode()).decode()
        request["isBase64Encoded"] = True
    else:
        request["body"] = payload
    return request


@pytest.fixture
def deliver(invoke):
    def call(body: dict[str, Any] | str, **options: Any):
        return invoke(FUNCTION, delivery(body, **options))

    return call


# ------------------------------------------------------------------------------ what is stored


def balance(account_id: str) -> int:
    return int(wallet_store.get_wallet(account_id).balance)


def ledger(account_id: str) -> list[LedgerEntry]:
    return list(
        LedgerEntry.query(
            account_pk(account_id), LedgerEntry.sk.startswith("LEDGER#"), consistent_read=True
        )
    )


def processed_events() -> int:
    client = boto3.client("dynamodb", region_name=get_settings().region)
    items = client.scan(TableName=get_settings().wallet_table)["Items"]
    return sum(item["pk"]["S"].startswith("STRIPE_EVENT#") for item in items)


@pytest.fixture
def checkout(stripe_api):
    """Top-ups started the way customers start them: billing's checkout, which creates the
    session on (loopback) Stripe and records it as an open payment. The first session of a
    test is cs_test_1, the next cs_test_2."""

    def open_checkout(account_id: str, amount_usd: str = "20.00") -> str:
        settings = dataclasses.replace(get_settings(), stripe_api_base=stripe_api.url)
        return billing.create_checkout(account_id, parse_usd(amount_usd), settings)["id"]

    return open_checkout


@pytest.fixture
def account(new_account):
    """A new account (the `aws` fixture checks every ledger against its wallet afterwards)."""
    return new_account


# ------------------------------------------------------------------------------ credits


def test_a_paid_checkout_credits_the_wallet_once_across_ten_replays(
    deliver, account, checkout, stripe_api
):
    # given a paid checkout session for an account with an open payment from checkout
    customer = account()
    checkout(customer.account_id, "20.00")
    stripe_api.receipts["pi_test_1"] = RECEIPT
    completed = stripe_event("checkout.session.completed", checkout_session(customer.account_id))

    # when Stripe delivers the event eleven times
    answers = [deliver(completed) for _ in range(11)]

    # then every delivery is acknowledged, and the wallet was credited $20 once
    assert [a.status for a in answers] == [200] * 11
    assert answers[0].body["outcome"] == "credited"
    assert {a.body["outcome"] for a in answers[1:]} == {"duplicate"}
    assert balance(customer.account_id) == 20 * 10**9
    (entry,) = ledger(customer.account_id)
    assert (entry.kind, int(entry.amount), entry.reference) == ("topup", 20 * 10**9, "cs_test_1")
    assert entry.receipt_url == RECEIPT
    payment = payment_store.get_payment(customer.account_id, "cs_test_1")
    assert payment.status == "paid"
    assert payment.payment_intent_id == "pi_test_1"
    assert payment.receipt_url == RECEIPT
    assert stripe_api.requests.count("/v1/payment_intents/pi_test_1") == 1


def test_a_credit_mails_one_payment_confirmation_with_its_receipt_link(
    deliver, account, checkout, stripe_api
):
    # given a paid checkout session whose charge has a receipt
    mail.verify_sender()
    customer = account("payer@example.com")
    checkout(customer.account_id, "20.00")
    stripe_api.receipts["pi_test_1"] = RECEIPT
    completed = stripe_event("checkout.session.completed", checkout_session(customer.account_id))

    # when Stripe delivers the event three times and the mailer runs
    for _ in range(3):
        deliver(completed)
    mail.run_mailer(handle)

    # then the owner got one confirmation of 20.00 USD, with the receipt link
    (sent,) = mail.sent_mails()
    assert sent.to == "payer@example.com"
    assert "20.00 USD" in sent.subject
    assert RECEIPT in sent.text and "cs_test_1" in sent.text


def test_a_signed_payment_for_a_session_we_never_created_is_not_credited(deliver, account, capsys):
    # given an account that never started a checkout
    customer = account()
    forged = checkout_session(customer.account_id, "cs_test_forged", amount=99_999_999)

    # when a validly signed completed event for 999,999.99 USD arrives, twice
    answer = deliver(stripe_event("checkout.session.completed", forged))
    replay = deliver(stripe_event("checkout.session.async_payment_succeeded", forged))

    # then it is acknowledged with nothing credited or recorded, and the alarm's metric emitted
    assert (answer.status, answer.body["outcome"]) == (200, "unknown_session")
    assert (replay.status, replay.body["outcome"]) == (200, "unknown_session")
    assert balance(customer.account_id) == 0
    assert ledger(customer.account_id) == []
    assert payment_store.get_payment(customer.account_id, "cs_test_forged") is None
    assert '"PaymentsForUnknownSessions":[1.0]' in capsys.readouterr().out


@pytest.mark.parametrize(
    "event_type",
    [
        "checkout.session.completed",
        "checkout.session.async_payment_failed",
        "checkout.session.expired",
    ],
)
def test_no_session_event_records_a_payment_we_never_created(deliver, account, event_type):
    # given an unpaid session that this deployment never created
    customer = account()
    session = checkout_session(customer.account_id, "cs_test_other", payment_status="unpaid")

    answer = deliver(stripe_event(event_type, session))
    later = deliver(stripe_event("checkout.session.async_payment_succeeded", session))

    # then no payment is recorded, so a later success cannot credit it either
    assert (answer.status, answer.body["outcome"]) == (200, "unknown_session")
    assert later.body["outcome"] == "unknown_session"
    assert payment_store.get_payment(customer.account_id, "cs_test_other") is None
    assert balance(customer.account_id) == 0


def test_another_accounts_session_is_not_credited_to_the_account_its_metadata_names(
    deliver, account, checkout
):
    # given a session checkout created for one customer
    payer, other = account(), account()
    session_id = checkout(payer.account_id, "20.00")

    # when a signed event for that session names another account in its metadata
    answer = deliver(
        stripe_event("checkout.session.completed", checkout_session(other.account_id, session_id))
    )

    # then neither account is credited
    assert answer.body["outcome"] == "unknown_session"
    assert (balance(payer.account_id), balance(other.account_id)) == (0, 0)
    assert payment_store.get_payment(payer.account_id, session_id).status == "open"


def test_a_credit_is_audited_as_wallet_credited_by_stripe(deliver, account, checkout):
    customer = account()
    checkout(customer.account_id)

    deliver(stripe_event("checkout.session.completed", checkout_session(customer.account_id)))

    events, _ = audit.list_events(customer.account_id, action="wallet.credited")
    (credited,) = events
    assert (credited.actor, credited.target) == ("stripe", "payment:cs_test_1")
    assert credited.changes["amount"] == {"before": None, "after": "20.00"}
    assert audit.verify_chain(customer.account_id).ok


def test_a_receipt_that_cannot_be_fetched_does_not_block_the_credit(
    deliver, account, checkout, stripe_api
):
    # given Stripe does not answer for the payment intent
    customer = account()
    checkout(customer.account_id)
    assert "pi_test_1" not in stripe_api.receipts

    answer = deliver(
        stripe_event("checkout.session.completed", checkout_session(customer.account_id))
    )

    assert answer.status == 200
    assert balance(customer.account_id) == 20 * 10**9
    assert payment_store.get_payment(customer.account_id, "cs_test_1").receipt_url is None


def test_concurrent_duplicate_deliveries_credit_once(invoke, account, checkout, atomic_requests):
    # given the same event delivered by eight connections at once
    customer = account()
    checkout(customer.account_id)
    completed = delivery(
        stripe_event("checkout.session.completed", checkout_session(customer.account_id))
    )
    start = threading.Barrier(8)
    statuses: list[int] = []
    errors: list[BaseException] = []

    def deliver_once() -> None:
        try:
            start.wait()
            context = LambdaContext(function_name=FUNCTION, region=get_settings().region)
            statuses.append(
                webhook_app.lambda_handler(copy.deepcopy(completed), context)["statusCode"]
            )
        except BaseException as error:  # surfaced below
            errors.append(error)

    threads = [threading.Thread(target=deliver_once) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    # then all are acknowledged and the wallet holds one credit
    assert errors == []
    assert statuses == [200] * 8
    assert balance(customer.account_id) == 20 * 10**9
    assert len(ledger(customer.account_id)) == 1
    # and a later replay, checked against the function's IAM, changes nothing
    assert invoke(FUNCTION, completed).body["outcome"] == "duplicate"


def test_async_success_before_completed_credits_once(deliver, account, checkout):
    # given an async payment: Stripe sends async_payment_succeeded, then the late completed
    customer = account()
    checkout(customer.account_id)
    session = checkout_session(customer.account_id, payment_status="paid")
    succeeded = stripe_event("checkout.session.async_payment_succeeded", session)
    completed = stripe_event("checkout.session.completed", session)

    first, second = deliver(succeeded), deliver(completed)

    assert (first.status, first.body["outcome"]) == (200, "credited")
    assert (second.status, second.body["outcome"]) == (200, "already_credited")
    assert balance(customer.account_id) == 20 * 10**9
    assert len(ledger(customer.account_id)) == 1


def test_an_unpaid_completed_session_is_processing_until_the_async_success(
    deliver, account, checkout
):
    customer = account()
    checkout(customer.account_id)
    unpaid = checkout_session(customer.account_id, payment_status="unpaid")

    pending = deliver(stripe_event("checkout.session.completed", unpaid))
    status_while_pending = payment_store.get_payment(customer.account_id, "cs_test_1").status
    balance_while_pending = balance(customer.account_id)
    paid = deliver(stripe_event("checkout.session.async_payment_succeeded", unpaid))

    assert pending.body["outcome"] == "processing"
    assert (status_while_pending, balance_while_pending) == ("processing", 0)
    assert paid.body["outcome"] == "credited"
    assert payment_store.get_payment(customer.account_id, "cs_test_1").status == "paid"
    assert balance(customer.account_id) == 20 * 10**9


def test_a_late_unpaid_completed_does_not_undo_a_paid_payment(deliver, account, checkout):
    customer = account()
    checkout(customer.account_id)
    session = checkout_session(customer.account_id, payment_status="unpaid")
    deliver(stripe_event("checkout.session.async_payment_succeeded", session))

    answer = deliver(stripe_event("checkout.session.completed", session))

    assert (answer.status, answer.body["outcome"]) == (200, "already_settled")
    assert payment_store.get_payment(customer.account_id, "cs_test_1").status == "paid"


def test_a_base64_encoded_body_is_verified_on_its_decoded_bytes(deliver, account, checkout):
    customer = account()
    checkout(customer.account_id)
    completed = stripe_event("checkout.session.completed", checkout_session(customer.account_id))

    answer = deliver(json.dumps(completed, ensure_ascii=False) + "\n", base64_encoded=True)

    assert (answer.status, answer.body["outcome"]) == (200, "credited")
    assert balance(customer.account_id) == 20 * 10**9


def test_while_the_signing_secret_rolls_both_secrets_verify(deliver, account, checkout):
    # given the operator put the new signing secret beside the old one, comma-separated
    boto3.client("secretsmanager", region_name=get_settings().region).put_secret_value(
        SecretId=get_settings().stripe_webhook_secret,
        SecretString=f"{WEBHOOK_SECRET}, whsec_new",
    )
    parameters.clear_caches()
    customer = account()
    checkout(customer.account_id)
    completed = stripe_event("checkout.session.completed", checkout_session(customer.account_id))

    # when Stripe signs with the new one
    answer = deliver(completed, secret="whsec_new")

    # then it is verified and credited
    assert (answer.status, answer.body["outcome"]) == (200, "credited")


# ------------------------------------------------------------------------------ rejected


@pytest.mark.parametrize(
    "options",
    [
        {"secret": "whsec_someone_else"},
        {"at": time.time() - 301},
        {"signature": ""},
        {"signature": "t=1,v1=deadbeef"},
    ],
    ids=["wrong secret", "stale timestamp", "no signature", "garbage signature"],
)
def test_an_unverified_delivery_is_refused_and_writes_nothing(deliver, account, options):
    customer = account()
    completed = stripe_event("checkout.session.completed", checkout_session(customer.account_id))

    answer = deliver(completed, **options)

    assert answer.status == 400
    assert answer.body["error"]["code"] in ("invalid_signature", "missing_signature")
    assert answer.body["error"]["request_id"] == "d1b7c2e0-7b61-11e6-9a41-93e8deadbeef"
    assert balance(customer.account_id) == 0
    assert processed_events() == 0


def test_a_missing_signature_header_is_refused(invoke, account):
    customer = account()
    request = delivery(
        stripe_event("checkout.session.completed", checkout_session(customer.account_id))
    )
    del request["headers"]["Stripe-Signature"], request["multiValueHeaders"]["Stripe-Signature"]

    answer = invoke(FUNCTION, request)

    assert (answer.status, answer.body["error"]["code"]) == (400, "missing_signature")
    assert processed_events() == 0


@pytest.mark.parametrize("body", ["{not json", "[]", '{"id": "evt_1", "type": "x"}'])
def test_a_signed_body_that_is_not_an_event_is_refused(deliver, body):
    answer = deliver(body)

    assert (answer.status, answer.body["error"]["code"]) == (400, "malformed_event")
    assert processed_events() == 0


# ------------------------------------------------------------------------------ not credited


@pytest.mark.parametrize(
    "paid",
    [{"amount": 2500}, {"currency": "eur"}],
    ids=["another amount", "another currency"],
)
def test_a_payment_that_does_not_match_its_checkout_is_not_credited(
    deliver, account, checkout, paid
):
    # given checkout opened a $20 USD payment
    customer = account()
    checkout(customer.account_id, "20.00")
    completed = stripe_event(
        "checkout.session.completed", checkout_session(customer.account_id, **paid)
    )

    # when Stripe reports another amount or currency for the session
    answer = deliver(completed)
    replay = deliver(completed)

    # then it is acknowledged (Stripe stops retrying), recorded as a mismatch, not credited
    assert (answer.status, answer.body["outcome"]) == (200, "mismatch")
    assert replay.body["outcome"] == "duplicate"
    assert balance(customer.account_id) == 0
    payment = payment_store.get_payment(customer.account_id, "cs_test_1")
    assert (payment.status, int(payment.amount), payment.currency) == (
        "mismatch",
        20 * 10**9,
        "usd",
    )
    assert processed_events() == 1


def test_a_non_usd_payment_is_not_credited(deliver, account, checkout):
    customer = account()
    checkout(customer.account_id)

    answer = deliver(
        stripe_event(
            "checkout.session.completed", checkout_session(customer.account_id, currency="eur")
        )
    )

    assert answer.body["outcome"] == "mismatch"
    assert balance(customer.account_id) == 0


def test_a_payment_for_an_unknown_account_is_acknowledged_and_records_nothing(deliver):
    completed = stripe_event("checkout.session.completed", checkout_session("acct_nobody"))

    answer = deliver(completed)
    replay = deliver(completed)

    assert (answer.status, answer.body["outcome"]) == (200, "unknown_session")
    assert replay.body["outcome"] == "duplicate"
    assert payment_store.get_payment("acct_nobody", "cs_test_1") is None
    assert wallet_store.get_wallet("acct_nobody") is None
    assert ledger("acct_nobody") == []


def test_a_session_without_an_account_is_acknowledged_without_effect(deliver):
    session = checkout_session("acct_x")
    session["metadata"] = {}

    answer = deliver(stripe_event("checkout.session.completed", session))

    assert (answer.status, answer.body["outcome"]) == (200, "unattributed")
    assert processed_events() == 1


@pytest.mark.parametrize(
    ("event_type", "status"),
    [
        ("checkout.session.async_payment_failed", "failed"),
        ("checkout.session.expired", "expired"),
    ],
)
def test_failed_and_expired_sessions_are_recorded(deliver, account, checkout, event_type, status):
    customer = account()
    checkout(customer.account_id)
    session = checkout_session(customer.account_id, payment_status="unpaid")

    answer = deliver(stripe_event(event_type, session))

    assert (answer.status, answer.body["outcome"]) == (200, status)
    assert payment_store.get_payment(customer.account_id, "cs_test_1").status == status
    assert balance(customer.account_id) == 0
    assert processed_events() == 1


# ------------------------------------------------------------------------------ disputes


def dispute(**fields: Any) -> dict[str, Any]:
    return {
        "id": "dp_test_1",
        "object": "dispute",
        "amount": 2000,
        "charge": "ch_test_1",
        "currency": "usd",
        "metadata": {},
        "payment_intent": "pi_test_1",
        "reason": "fraudulent",
        "status": "needs_response",
        **fields,
    }


def test_a_dispute_flags_the_account_of_its_payment_and_is_audited(
    deliver, account, checkout, stripe_api
):
    # given a credited payment whose checkout session Stripe knows
    customer = account()
    checkout(customer.account_id)
    session = checkout_session(customer.account_id)
    deliver(stripe_event("checkout.session.completed", session))
    stripe_api.sessions.append(session)

    # when the cardholder disputes the charge
    answer = deliver(stripe_event("charge.dispute.created", dispute()))

    # then the account is flagged for the operator and the trail says why
    assert (answer.status, answer.body["outcome"]) == (200, "flagged")
    assert key_store.get_account(customer.account_id).flagged == "dispute dp_test_1"
    events, _ = audit.list_events(customer.account_id, action="payment.disputed")
    (disputed,) = events
    assert (disputed.actor, disputed.target) == ("stripe", "payment:ch_test_1")
    # and the disputed 20.00 is held back, not taken: the dispute is not decided yet
    wallet = wallet_store.get_wallet(customer.account_id)
    assert (int(wallet.balance), int(wallet.disputed)) == (0, 20 * 10**9)


def test_a_dispute_naming_its_account_in_metadata_flags_it(deliver, account):
    customer = account()

    answer = deliver(
        stripe_event(
            "charge.dispute.created", dispute(metadata={"account_id": customer.account_id})
        )
    )

    assert answer.body["outcome"] == "flagged"
    assert key_store.get_account(customer.account_id).flagged == "dispute dp_test_1"


def test_a_dispute_that_stripe_cannot_attribute_now_is_retried_later(
    deliver, account, checkout, stripe_api
):
    # given a payment checkout recorded, and Stripe's API down when its dispute arrives
    customer = account()
    checkout(customer.account_id)
    stripe_api.sessions.append(checkout_session(customer.account_id))
    stripe_api.down = True
    disputed = stripe_event("charge.dispute.created", dispute())

    failed = deliver(disputed)
    stripe_api.down = False
    retried = deliver(disputed)

    # then the first delivery fails with a 5xx and writes nothing; Stripe's retry flags it
    assert (failed.status, failed.body["error"]["code"]) == (502, "upstream_error")
    assert retried.body["outcome"] == "flagged"
    assert processed_events() == 1


def test_a_dispute_of_an_unknown_payment_is_acknowledged(deliver):
    answer = deliver(stripe_event("charge.dispute.created", dispute(payment_intent="pi_other")))

    assert (answer.status, answer.body["outcome"]) == (200, "unattributed")
    assert processed_events() == 1


# ------------------------------------------------------------------------------ other events


def test_an_unknown_event_type_is_acknowledged_without_effect(deliver, account):
    customer = account()
    other = stripe_event("customer.created", {"id": "cus_1", "object": "customer"})

    answer = deliver(other)

    assert (answer.status, answer.body["outcome"]) == (200, "ignored")
    assert deliver(other).body["outcome"] == "duplicate"
    assert processed_events() == 1
    assert balance(customer.account_id) == 0


def test_a_storage_failure_answers_5xx_so_stripe_retries(deliver, account, checkout, monkeypatch):
    customer = account()
    checkout(customer.account_id)

    def unavailable(*args, **kwargs):
        raise payments.InternalError("The request could not be completed; try again.")

    monkeypatch.setattr(payment_store, "credit_payment", unavailable)
    answer = deliver(
        stripe_event("checkout.session.completed", checkout_session(customer.account_id))
    )

    assert answer.status == 500
    assert answer.body["error"]["code"] == "internal_error"
    assert balance(customer.account_id) == 0
    assert processed_events() == 0


# ------------------------------------------------------------------------------ disputed money


@pytest.fixture
def disputed_top_up(deliver, account, checkout, stripe_api, invoke):
    """A customer whose 20.00 top-up (its only money) is disputed by the cardholder."""
    customer = account()
    checkout(customer.account_id, "20.00")
    session = checkout_session(customer.account_id)
    deliver(stripe_event("checkout.session.completed", session))
    stripe_api.sessions.append(session)
    opened = deliver(stripe_event("charge.dispute.created", dispute()))
    assert (opened.status, opened.body["outcome"]) == (200, "flagged")
    return customer


def wallet_seen_by(invoke, key: str) -> dict[str, Any]:
    answer = invoke("BillingFunction", event("wallet_get", key=key))
    assert answer.status == 200, answer.body
    return answer.body


def a_request_hold(hotpath, account_id: str, usd: str) -> None:
    inference = keys.create_key(account_id, keys.NewKey(name="ci", role="inference"))
    now = clock.utcnow()
    hold = Hold(
        "req-after-dispute",
        account_id,
        inference.key.key_id,
        "openai/gpt-4o-mini",
        parse_usd(usd),
        now,
        now + timedelta(minutes=6),
    )
    hotpath.hold(hold, KeyPolicy())


def test_a_disputed_top_up_is_held_back_so_it_cannot_be_spent(invoke, hotpath, disputed_top_up):
    customer = disputed_top_up

    # then the disputed 20.00 is no longer available, though it is still the wallet's money
    wallet = wallet_seen_by(invoke, customer.admin_key)
    assert (wallet["balance_usd"], wallet["available_usd"], wallet["disputed_usd"]) == (
        "20.00",
        "0.00",
        "20.00",
    )
    # and no request can hold any of it
    with pytest.raises(PaymentRequired):
        a_request_hold(hotpath, customer.account_id, "0.01")


def test_the_operator_sees_the_dispute_flag_and_the_disputed_amount(invoke, disputed_top_up):
    customer = disputed_top_up

    answer = invoke(
        "AccountFunction",
        event(
            "adjustment_create",
            key=OPERATOR_KEY,
            body={"amount_usd": "1.00", "direction": "credit", "reason": "goodwill"},
            path_parameters={"account_id": customer.account_id},
        ),
    )

    assert answer.status == 201, answer.body
    assert answer.body["account_flagged"] == "dispute dp_test_1"
    assert answer.body["wallet"]["disputed_usd"] == "20.00"
    assert answer.body["wallet"]["available_usd"] == "1.00"


def test_the_operator_reads_the_disputed_account_with_its_flag_and_held_back_money(
    invoke, disputed_top_up
):
    customer = disputed_top_up

    # when the operator reads the account, without adjusting anything
    path = {"account_id": customer.account_id}
    answer = invoke("AccountFunction", event("account_get", key=OPERATOR_KEY, path_parameters=path))

    # then the dispute flag and the disputed 20.00, held back from what is available
    assert answer.status == 200, answer.body
    assert answer.body["flagged"] == "dispute dp_test_1"
    wallet = answer.body["wallet"]
    assert (wallet["balance_usd"], wallet["available_usd"], wallet["disputed_usd"]) == (
        "20.00",
        "0.00",
        "20.00",
    )


def test_a_dispute_won_releases_the_held_back_money(deliver, invoke, disputed_top_up):
    customer = disputed_top_up

    answer = deliver(stripe_event("charge.dispute.closed", dispute(status="won")))

    assert (answer.status, answer.body["outcome"]) == (200, "dispute_won")
    wallet = wallet_seen_by(invoke, customer.admin_key)
    assert (wallet["balance_usd"], wallet["available_usd"], wallet["disputed_usd"]) == (
        "20.00",
        "20.00",
        "0.00",
    )
    assert [e.kind for e in ledger(customer.account_id)] == ["topup"]


def test_a_dispute_lost_takes_the_money_with_a_ledger_entry(deliver, invoke, disputed_top_up):
    customer = disputed_top_up

    answer = deliver(stripe_event("charge.dispute.closed", dispute(status="lost")))
    replay = deliver(stripe_event("charge.dispute.closed", dispute(status="lost")))

    assert (answer.status, answer.body["outcome"]) == (200, "dispute_lost")
    assert replay.body["outcome"] == "already_closed"
    wallet = wallet_seen_by(invoke, customer.admin_key)
    assert (wallet["balance_usd"], wallet["available_usd"], wallet["disputed_usd"]) == (
        "0.00",
        "0.00",
        "0.00",
    )
    lost = [e for e in ledger(customer.account_id) if e.kind == "dispute"]
    assert [(int(e.amount), e.reference) for e in lost] == [(-20 * 10**9, "dp_test_1")]


def test_a_dispute_of_money_already_spent_takes_the_available_balance_below_zero(
    deliver, invoke, account, checkout, stripe_api, hotpath
):
    # given 20.00 topped up and 5.00 of it held by a request in flight
    customer = account()
    checkout(customer.account_id, "20.00")
    session = checkout_session(customer.account_id)
    deliver(stripe_event("checkout.session.completed", session))
    stripe_api.sessions.append(session)
    a_request_hold(hotpath, customer.account_id, "5.00")

    # when the 20.00 is disputed
    deliver(stripe_event("charge.dispute.created", dispute()))

    # then what is owed shows as a negative available balance
    wallet = wallet_seen_by(invoke, customer.admin_key)
    assert (wallet["held_usd"], wallet["available_usd"], wallet["disputed_usd"]) == (
        "5.00",
        "-5.00",
        "20.00",
    )
