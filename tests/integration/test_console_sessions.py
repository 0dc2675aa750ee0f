"""The console's session and its guards, in process: sign-in sets HttpOnly cookies, a form
without this session's CSRF token or from another origin is refused, the person acts only on
accounts they belong to, and signing out ends the session everywhere."""

from __future__ import annotations

import base64
import json
from datetime import UTC, datetime

import pytest

from tests.integration.console_client import ConsoleClient
from tollgate import clock
from tollgate.store import members as member_store


@pytest.fixture
def owner(sign_up):
    return sign_up(email="owner@example.com")


def test_signing_in_sets_httponly_lax_cookies_and_shows_the_overview(owner):
    browser = ConsoleClient()

    browser.get("/console/sign-in")
    signed_in = browser.post("/console/sign-in", {"email": owner.email, "password": owner.password})
    page = browser.follow(signed_in)

    assert page.status == 200
    assert "<h1>Overview</h1>" in page.text
    written = {c.split("=", 1)[0]: c for c in signed_in.cookies}
    for name in ("tg_session", "tg_refresh"):
        assert "HttpOnly" in written[name] and "SameSite=Lax" in written[name]
        assert owner.password not in written[name]
    assert page.headers["content-security-policy"].startswith("default-src 'none'")
    assert "unsafe-inline" not in page.headers["content-security-policy"]


def test_a_form_without_the_sessions_csrf_token_changes_nothing(owner):
    browser = ConsoleClient()
    browser.sign_in(owner)

    refused = browser.post("/console/sign-out", csrf="0" * 64)

    assert refused.status == 403
    assert "tg_session" in browser.cookies
    assert browser.get("/console/overview").status == 200


def test_a_form_posted_from_another_origin_is_refused(owner):
    browser = ConsoleClient()
    browser.sign_in(owner)

    refused = browser.post("/console/sign-out", origin="https://evil.example")

    assert refused.status == 403
    assert browser.get("/console/overview").status == 200


def test_the_person_cannot_switch_to_an_account_they_do_not_belong_to(owner, sign_up):
    stranger = sign_up(email="stranger@example.com")
    browser = ConsoleClient()
    browser.sign_in(owner)

    refused = browser.post("/console/switch-account", {"account_id": stranger.account_id})

    assert refused.status == 403
    assert "not a member" in refused.text


def test_signing_out_ends_the_session_even_for_a_copied_cookie(owner):
    browser = ConsoleClient()
    browser.sign_in(owner)
    copied = dict(browser.cookies)

    signed_out = browser.post("/console/sign-out")

    assert signed_out.status == 303
    assert "tg_session" not in browser.cookies
    thief = ConsoleClient()
    thief.cookies = {"tg_session": copied["tg_session"]}
    bounced = thief.get("/console/overview")
    assert bounced.status == 303
    assert bounced.location == "/console/sign-in?next=/console/overview"


def test_a_signed_out_visitor_is_sent_to_sign_in_and_back(owner):
    browser = ConsoleClient()

    bounced = browser.get("/console/overview")

    assert bounced.status == 303
    assert bounced.location == "/console/sign-in?next=/console/overview"
    browser.follow(bounced)
    landed = browser.post(
        "/console/sign-in",
        {"email": owner.email, "password": owner.password, "next": "/console/overview"},
    )
    assert landed.location == "/console/overview"


@pytest.mark.parametrize("target", ["https://evil.example/", "//evil.example/x", "/v1/keys"])
def test_sign_in_never_sends_the_person_off_the_console(owner, target):
    browser = ConsoleClient()
    browser.get("/console/sign-in")

    landed = browser.post(
        "/console/sign-in", {"email": owner.email, "password": owner.password, "next": target}
    )

    assert landed.location == "/console/overview"


def session_of(browser: ConsoleClient) -> dict:
    raw = browser.cookies["tg_session"]
    return json.loads(base64.urlsafe_b64decode(raw + "=" * (-len(raw) % 4)))


def test_an_access_token_about_to_end_is_refreshed_server_side(owner, monkeypatch):
    # given a session whose access token ends in less than a minute
    browser = ConsoleClient()
    browser.sign_in(owner)
    before = session_of(browser)
    almost_over = datetime.fromtimestamp(before["x"] - 30, UTC)
    monkeypatch.setattr(clock, "utcnow", lambda: almost_over)

    # when the person opens a page
    page = browser.get("/console/overview")

    # then it is served, with a fresh access token in a rewritten cookie, same CSRF nonce
    assert page.status == 200, page.text
    after = session_of(browser)
    assert after["a"] != before["a"] and after["x"] > before["x"] - 30
    assert after["n"] == before["n"] and after["c"] == before["c"]


def test_a_session_whose_refresh_token_is_refused_ends_at_sign_in(owner, monkeypatch):
    browser = ConsoleClient()
    browser.sign_in(owner)
    browser.cookies["tg_refresh"] = "not-a-refresh-token"
    expiry = session_of(browser)["x"]
    monkeypatch.setattr(clock, "utcnow", lambda: datetime.fromtimestamp(expiry + 1, UTC))

    bounced = browser.get("/console/overview")

    assert bounced.status == 303
    assert bounced.location == "/console/sign-in?next=/console/overview"
    assert "tg_session" not in browser.cookies and "tg_refresh" not in browser.cookies


def test_a_person_in_two_accounts_switches_between_them(owner, sign_up):
    # given the owner is also a viewer of another account
    other = sign_up(email="other-owner@example.com", company="Other Co")
    member_store.member_item(
        other.account_id,
        owner.person_id,
        email=owner.email,
        name="Owner",
        role="viewer",
        joined_at=clock.utcnow(),
    ).save()
    browser = ConsoleClient()
    first = browser.sign_in(owner)
    assert 'id="account-switcher"' in first.text and "Other Co (viewer)" in first.text

    # when they switch to it
    switched = browser.post("/console/switch-account", {"account_id": other.account_id})

    # then the console acts on the other account, with the role they hold there
    assert switched.status == 303
    assert session_of(browser)["c"] == other.account_id
    overview = browser.follow(switched)
    assert '<option value="' + other.account_id + '" selected>' in overview.text
    assert "/console/keys" in overview.text  # a viewer reads keys
