"""The platform operator in the console: signs in with the operator key, finds the demo
account, adjusts its wallet and sees the balance; answers a customer's ticket from the queue
and leaves an internal note. The demo owner reads the adjustment in the audit log."""

from __future__ import annotations

import re
from decimal import Decimal

import httpx
import pytest
from playwright.sync_api import Page, expect

from tests.browser.conftest import assert_accessible
from tests.e2e.stack import HTTP_TIMEOUT_S, new_customer

pytestmark = pytest.mark.browser


def sign_in_as_operator(console, devstack, *, screenshot: bool = False) -> Page:
    page = console.goto("/operator")
    expect(page.get_by_role("heading", name="Operator sign-in")).to_be_visible()
    if screenshot:
        assert_accessible(page)
        console.screenshot("operator-sign-in")
    page.get_by_label("Operator key").fill(devstack["TOLLGATE_OPERATOR_KEY"])
    page.get_by_role("button", name="Sign in as the operator").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Accounts")
    return page


def available(page: Page) -> Decimal:
    shown = page.get_by_test_id("available").inner_text().strip()
    return Decimal(shown.replace("$", "").replace(",", ""))


def adjust(page: Page, amount: str, direction: str, reason: str) -> None:
    page.get_by_label("Amount (USD)").fill(amount)
    page.get_by_label("Direction").select_option(direction)
    page.get_by_label("Reason", exact=True).fill(reason)
    with page.expect_navigation():  # to the account's page again, as it stands now
        page.get_by_role("button", name="Make the adjustment").click()
    expect(page.get_by_text("The adjustment was made.")).to_be_visible()


def test_the_operator_adjusts_the_demo_wallet_and_the_owner_reads_it_in_the_audit_log(
    console, second_console, devstack
):
    # given the operator signed in with the operator key
    page = sign_in_as_operator(console, devstack, screenshot=True)
    assert_accessible(page)
    console.screenshot("operator-accounts")

    # when they search for the demo account and open it
    page.get_by_label("Search (id, email or name)").fill(devstack["TOLLGATE_ACCOUNT_ID"])
    page.get_by_role("button", name="Search").click()
    found = page.locator("tbody tr", has_text=devstack["TOLLGATE_ACCOUNT_ID"])
    found.get_by_role("link").click()
    expect(page.get_by_test_id("status")).to_contain_text("active")
    before = available(page)

    # and credit $1.00 with a reason
    adjust(page, "1.00", "credit", "Goodwill for a slow week")

    # then the balance shows it
    assert available(page) == before + 1
    assert_accessible(page)
    console.screenshot("operator-account")

    # and the demo owner reads who did it, and from where, in the audit log
    owner = second_console
    owner.sign_in(devstack["TOLLGATE_CONSOLE_EMAIL"], devstack["TOLLGATE_CONSOLE_PASSWORD"])
    log = owner.goto("/audit")
    log.get_by_label("Action").fill("wallet.adjusted")
    log.get_by_role("button", name="Filter").click()
    row = log.locator("table.audit tbody tr").first
    expect(row).to_contain_text("operator")
    expect(row).to_contain_text("wallet.adjusted")
    assert_accessible(log)
    owner.screenshot("audit-log")

    # (the demo wallet is left as the other stories expect it)
    adjust(page, "1.00", "debit", "Undo the test credit")
    assert available(page) == before


def test_the_operator_answers_a_ticket_and_leaves_an_internal_note(console, devstack):
    # given a customer opened a ticket over the API
    customer = new_customer(devstack, credit_usd=None)
    subject = f"Charged twice? {customer.account_id}"
    opened = httpx.post(
        f"{devstack['TOLLGATE_URL']}/v1/tickets",
        json={"subject": subject, "category": "billing", "body": "I see two charges."},
        headers={"Authorization": f"Bearer {customer.admin_key}"},
        timeout=HTTP_TIMEOUT_S,
    )
    assert opened.status_code == 201, opened.text

    # when the operator opens it from the queue
    page = sign_in_as_operator(console, devstack)
    page.get_by_role("link", name="Support queue").click()
    page.get_by_label("Account id").fill(customer.account_id)
    page.get_by_role("button", name="Filter").click()
    # the filtered queue's address comes before its title is set: wait for both
    expect(page).to_have_url(re.compile(f"account_id={customer.account_id}"))
    expect(page).not_to_have_title("")
    assert_accessible(page)
    console.screenshot("operator-queue")
    page.get_by_role("link", name=subject).click()
    expect(page.get_by_role("heading", level=1)).to_have_text(subject)

    # and replies, then adds an internal note
    page.get_by_label("Message").fill("Only one was captured; the other is a hold.")
    page.get_by_role("button", name="Send the reply to the customer").click()
    expect(page.get_by_text("Your reply was sent to the customer.")).to_be_visible()
    expect(page.get_by_test_id("ticket-status")).to_have_text("waiting on customer")
    page.get_by_label("Message").fill("Checked the ledger: one charge, one released hold.")
    page.get_by_role("button", name="Add an internal note").click()
    expect(page.get_by_text("The internal note was added.")).to_be_visible()

    # then the thread holds both, the note marked internal
    expect(page.locator("ol.thread li.support")).to_contain_text("the other is a hold")
    expect(page.locator("ol.thread li.internal")).to_contain_text("Checked the ledger")
    assert_accessible(page)
    console.screenshot("operator-ticket")

    # and the customer sees the reply, never the note
    thread = httpx.get(
        f"{devstack['TOLLGATE_URL']}/v1/tickets/{opened.json()['id']}",
        headers={"Authorization": f"Bearer {customer.admin_key}"},
        timeout=HTTP_TIMEOUT_S,
    ).json()
    bodies = [message["body"] for message in thread["thread"]]
    assert "Only one was captured; the other is a hold." in bodies
    assert not any("ledger" in body for body in bodies)
