"""Billing in a real browser: the demo owner tops up through devstack's Stripe stand-in, comes
back to the console, watches the payment settle and finds it in payments and the ledger.
Other tests share the demo account: figures are compared before and after, never absolute."""

from __future__ import annotations

import re
from decimal import Decimal

import pytest
from playwright.sync_api import expect

from tests.browser.conftest import assert_accessible

pytestmark = pytest.mark.browser


def dollars(text: str) -> Decimal:
    return Decimal(text.strip().replace("$", "").replace(",", ""))


def test_the_owner_tops_up_20_dollars_and_sees_the_payment_settle(console, devstack):
    # given the demo owner on the billing page
    console.sign_in(devstack["TOLLGATE_CONSOLE_EMAIL"], devstack["TOLLGATE_CONSOLE_PASSWORD"])
    page = console.goto("/billing")
    expect(page.get_by_role("heading", level=1)).to_have_text("Billing")
    before = dollars(page.get_by_test_id("balance").inner_text())
    assert_accessible(page)
    console.screenshot("billing")

    # when they top up $20 and pay on Stripe's page
    page.get_by_label("Amount (USD)").fill("20")
    page.get_by_role("button", name="Continue to payment").click()
    expect(page.get_by_role("button", name="Pay 20.00 USD")).to_be_visible()
    page.get_by_role("button", name="Pay 20.00 USD").click()

    # then they are back in the console, which follows the payment until it is credited
    expect(page).to_have_url(re.compile(r"/console/billing/topup/cs_\w+$"))
    payment_id = page.url.rsplit("/", 1)[1]
    expect(page.get_by_test_id("topup-status")).to_contain_text("paid: $20.00")
    after = dollars(page.get_by_test_id("balance").inner_text())
    assert after - before == Decimal("20.00")
    assert_accessible(page)
    console.screenshot("billing-topup")

    # and the payment is listed with its receipt, and the ledger has the top-up
    page.get_by_role("link", name="Back to billing").click()
    payments = page.get_by_role("region", name="Payments")
    payment = payments.get_by_role("row").filter(has_text=payment_id)
    expect(payment).to_contain_text("paid")
    expect(payment.get_by_role("link", name="Receipt")).to_have_attribute(
        "href", re.compile(r"/receipts/ch_")
    )
    ledger = page.get_by_role("region", name="Ledger")
    top_up = ledger.get_by_role("row").filter(has_text=payment_id)
    expect(top_up).to_contain_text("topup")
    expect(top_up).to_contain_text("$20.00")
    expect(page.get_by_test_id("balance")).to_have_text(f"${after:,.2f}")
    with page.expect_download() as downloaded:
        page.get_by_role("link", name="Download the ledger (CSV)").click()
    assert payment_id in downloaded.value.path().read_text()
