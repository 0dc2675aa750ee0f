"""Signing in to the console, signing up through it, and what a signed-out visitor gets."""

from __future__ import annotations

from decimal import ROUND_HALF_UP, Decimal

import httpx
import pytest
from playwright.sync_api import expect

from tests.browser.conftest import assert_accessible, new_email

pytestmark = pytest.mark.browser

CENT = Decimal("0.01")


def test_the_demo_owner_signs_in_and_sees_the_balance_and_the_chart(console, devstack):
    # given devstack's demo account and its owner's printed credentials
    console.goto("/")
    assert_accessible(console.page)
    console.screenshot("sign-in")

    # when they sign in
    console.sign_in(devstack["TOLLGATE_CONSOLE_EMAIL"], devstack["TOLLGATE_CONSOLE_PASSWORD"])

    # then the overview shows the wallet's available balance and draws the 30-day chart
    page = console.page
    expect(page).to_have_title("Overview · Tollgate console")
    expect(page.get_by_test_id("available")).to_have_text(f"${available_usd(devstack):,}")
    expect(page.locator(".chart canvas")).to_have_count(1)
    assert_accessible(page)
    console.screenshot("overview")


def available_usd(devstack: dict[str, str]) -> Decimal:
    """The demo wallet as the API tells it (other tests top it up and spend from it)."""
    wallet = httpx.get(
        f"{devstack['TOLLGATE_URL']}/v1/wallet",
        headers={"Authorization": f"Bearer {devstack['TOLLGATE_ADMIN_KEY']}"},
    )
    wallet.raise_for_status()
    return Decimal(wallet.json()["available_usd"]).quantize(CENT, rounding=ROUND_HALF_UP)


def test_a_newcomer_signs_up_verifies_and_lands_on_an_empty_overview(console):
    email = new_email("newcomer")
    console.sign_up(email, "Nora Newcomer")
    expect(console.page.get_by_role("textbox", name="Email")).to_have_value(email)

    console.sign_in(email)

    expect(console.page.get_by_test_id("available")).to_have_text("$0.00")
    expect(console.page.get_by_text("Your available balance is below")).to_be_visible()
    expect(console.page.get_by_text("No requests in the last 30 days")).to_be_visible()


def test_a_wrong_password_is_told_and_nothing_is_signed_in(console, devstack):
    console.goto("/sign-in")
    console.page.get_by_label("Email").fill(devstack["TOLLGATE_CONSOLE_EMAIL"])
    console.page.get_by_label("Password").fill("not-the-password-1A!")
    console.expect_refusal(401)  # the browser logs it itself
    with console.page.expect_response(lambda r: r.request.method == "POST") as answer:
        console.page.get_by_role("button", name="Sign in").click()
    assert answer.value.status == 401
    expect(console.page.get_by_role("alert")).to_have_text("Incorrect email or password.")

    console.goto("/overview")
    expect(console.page).to_have_url(f"{console.base}/sign-in?next=/console/overview")


def test_signing_out_ends_the_session_for_every_copy_of_its_cookie(console, devstack):
    console.sign_in(devstack["TOLLGATE_CONSOLE_EMAIL"], devstack["TOLLGATE_CONSOLE_PASSWORD"])
    cookies = {c["name"]: c["value"] for c in console.page.context.cookies()}
    assert cookies["tg_session"]
    assert all(c["httpOnly"] and c["sameSite"] == "Lax" for c in console.page.context.cookies())

    console.page.get_by_role("button", name="Sign out").click()
    expect(console.page.get_by_text("You are signed out.")).to_be_visible()

    # the stolen cookie of the ended session opens nothing
    replayed = httpx.get(f"{console.base}/overview", cookies={"tg_session": cookies["tg_session"]})
    assert replayed.status_code == 303
    assert replayed.headers["location"].endswith("/console/sign-in?next=/console/overview")


def test_the_api_reference_lists_the_management_operations_without_errors(console, devstack):
    # given the gateway's own Swagger UI page (no sign-in: the reference is public)
    console.page.goto(f"{devstack['TOLLGATE_URL']}/docs")

    # then it renders the document's operations, under its CSP, with nothing refused
    expect(
        console.page.locator(".opblock-summary-path", has_text="/v1/wallet/ledger")
    ).to_be_visible()
    expect(console.page.locator(".opblock").first).to_be_visible()
