"""The console's billing page in process: who may see the wallet and who may top it up (the
server refuses what the page hides), the API's own word on a bad amount, the page a payer
returns to following the payment until the webhook credits it, and the ledger as CSV."""

from __future__ import annotations

import csv
import io

import pytest

from tests.integration.console_client import ConsoleClient
from tollgate import clock, money
from tollgate.store import payments as payment_store
from tollgate.store.keys import account_pk
from tollgate.store.models import LedgerEntry, Payment

TOPUP_FORM = 'action="/console/billing/topup"'


@pytest.fixture
def owner(sign_up):
    return sign_up(email="owner@example.com")


def browser_of(person) -> ConsoleClient:
    browser = ConsoleClient()
    browser.sign_in(person)
    return browser


def payments_of(account_id: str) -> list[Payment]:
    return list(Payment.query(account_pk(account_id), Payment.sk.startswith("PAYMENT#")))


def open_payment(account_id: str, session_id: str, usd: str) -> None:
    """What checkout records when Stripe has made the session."""
    payment_store.create_open_payment(
        account_id, session_id, money.parse_usd(usd), "usd", "https://stripe.test/c", clock.utcnow()
    )


def webhook_credits(account_id: str, session_id: str, usd: str) -> None:
    """What the webhook writes on checkout.session.completed."""
    paid_at = clock.utcnow()
    entry = LedgerEntry(
        account_pk(account_id),
        f"LEDGER#{paid_at.isoformat()}#le_{session_id}",
        entry_id=f"le_{session_id}",
        account_id=account_id,
        kind="topup",
        amount=money.parse_usd(usd),
        reason="Stripe top-up",
        reference=session_id,
        created_at=paid_at,
    )
    payment_store.credit_payment(
        payment_store.new_marker(
            f"evt_{session_id}", "checkout.session.completed", None, now=paid_at
        ),
        entry,
        session_id=session_id,
        currency="usd",
        payment_intent_id="pi_1",
        receipt_url="https://pay.stripe.test/receipts/r1",
    )


def test_a_developer_may_not_see_billing(owner, signed_in_member):
    developer = signed_in_member(owner.account_id, "developer")

    refused = browser_of(developer).get("/console/billing")

    assert refused.status == 403
    assert "Billing</h1>" not in refused.text


def test_a_viewer_sees_the_wallet_but_no_top_up_and_is_refused_posting_it_by_hand(
    owner, signed_in_member
):
    viewer = browser_of(signed_in_member(owner.account_id, "viewer"))

    page = viewer.get("/console/billing")
    posted = viewer.post("/console/billing/topup", {"amount_usd": "20.00"})

    assert page.status == 200
    assert "<h1>Billing</h1>" in page.text and "No payments yet." in page.text
    assert TOPUP_FORM not in page.text
    assert posted.status == 403
    assert payments_of(owner.account_id) == []


@pytest.mark.parametrize(
    ("amount", "message"),
    [
        ("4.99", "&#39;amount_usd&#39; must be between 5.00 and 1000.00 USD."),
        ("twenty", "&#39;amount_usd&#39; must be a decimal string with at most 2 decimals"),
    ],
)
def test_an_amount_outside_the_bounds_is_told_in_the_apis_words_and_opens_nothing(
    owner, amount, message
):
    browser = browser_of(owner)
    assert TOPUP_FORM in browser.get("/console/billing").text

    refused = browser.post("/console/billing/topup", {"amount_usd": amount}, htmx=True)

    assert refused.status == 400
    assert message in refused.text
    assert refused.headers["hx-retarget"] == "#messages"
    assert payments_of(owner.account_id) == []


def test_the_return_page_follows_the_payment_until_the_webhook_credits_it(owner):
    browser = browser_of(owner)
    open_payment(owner.account_id, "cs_test_return", "20.00")

    waiting = browser.get("/console/billing/topup/cs_test_return")
    webhook_credits(owner.account_id, "cs_test_return", "20.00")
    settled = browser.get("/console/billing/topup/cs_test_return", htmx=True)

    assert waiting.status == 200
    assert 'hx-trigger="every 2s"' in waiting.text and "Waiting for Stripe" in waiting.text
    assert settled.status == 200
    assert "hx-trigger" not in settled.text and "<html" not in settled.text
    assert "Payment received" in settled.text
    assert '<strong data-testid="balance"><span class="money" title="$20.00">$20.00<' in (
        settled.text
    )
    billing = browser.get("/console/billing")
    assert "https://pay.stripe.test/receipts/r1" in billing.text
    assert "cs_test_return" in billing.text and "topup" in billing.text


def test_another_accounts_payment_is_not_found_on_the_return_page(owner, sign_up):
    stranger = sign_up(email="stranger@example.com")
    open_payment(stranger.account_id, "cs_test_theirs", "50.00")

    refused = browser_of(owner).get("/console/billing/topup/cs_test_theirs")

    assert refused.status == 404
    assert "No payment with id" in refused.text and "50.00" not in refused.text


def test_the_ledger_downloads_as_csv_with_the_running_balance(owner):
    open_payment(owner.account_id, "cs_test_csv", "20.00")
    webhook_credits(owner.account_id, "cs_test_csv", "20.00")

    download = browser_of(owner).get("/console/billing/ledger.csv")

    assert download.status == 200
    assert download.headers["content-type"].startswith("text/csv")
    assert 'filename="tollgate-ledger.csv"' in download.headers["content-disposition"]
    rows = list(csv.DictReader(io.StringIO(download.text)))
    assert [(r["kind"], r["amount_usd"], r["balance_after_usd"]) for r in rows] == [
        ("topup", "20.00", "20.00")
    ]
