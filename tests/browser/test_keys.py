"""The API keys page in a real browser: the owner creates a key, copies its secret (shown
once), calls the gateway with it through the OpenAI SDK, restricts it to one model from the
catalog, and revokes it."""

from __future__ import annotations

import time

import openai
import pytest
from playwright.sync_api import expect

from tests.browser.conftest import assert_accessible

pytestmark = pytest.mark.browser


def chat(devstack, secret: str, model: str = "openai/gpt-4o-mini"):
    client = openai.OpenAI(base_url=devstack["OPENAI_BASE_URL"], api_key=secret, max_retries=0)
    return client.chat.completions.create(
        model=model, messages=[{"role": "user", "content": "Hello"}], max_tokens=20
    )


def test_the_owner_creates_copies_uses_restricts_and_revokes_a_key(console, devstack):
    page = console.page
    page.context.grant_permissions(["clipboard-read", "clipboard-write"])
    name = f"Browser key {time.time_ns()}"
    console.sign_in(devstack["TOLLGATE_CONSOLE_EMAIL"], devstack["TOLLGATE_CONSOLE_PASSWORD"])

    # given the keys page of the demo account
    page.get_by_role("link", name="API keys").click()
    expect(page).to_have_title("API keys · Tollgate console")
    assert_accessible(page)
    console.screenshot("keys")

    # when the owner creates a key
    page.get_by_role("link", name="Create key").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Create an API key")
    assert_accessible(page)
    console.screenshot("keys-new")
    page.get_by_label("Name", exact=True).fill(name)
    page.get_by_label("Environment").fill("production")
    page.get_by_role("button", name="Create key").click()

    # then its secret is shown once, with a warning, and the Copy button copies it
    expect(page.get_by_text("You will not see this secret again")).to_be_visible()
    secret = page.get_by_label(f"Secret of {name}").input_value()
    assert secret.startswith("tg-")
    page.get_by_role("button", name="Copy").click()
    expect(page.get_by_role("button", name="Copied")).to_be_visible()
    assert page.evaluate("navigator.clipboard.readText()") == secret
    console.screenshot("keys-created")

    # and it calls the gateway through the OpenAI SDK
    assert chat(devstack, secret).choices

    # when the owner opens the key, which shows no secret, and allows only one model
    page.get_by_role("link", name="Go to the key").click()
    expect(page.get_by_role("heading", level=1)).to_have_text(f"Key {name}")
    assert secret not in page.content()
    assert_accessible(page)
    console.screenshot("key-detail")
    page.get_by_label("Allowed networks").fill("10.0.0.0/33")
    console.expect_refusal(400)  # the browser logs it itself
    with page.expect_response(lambda r: r.request.method == "POST") as refused:
        page.get_by_role("button", name="Save policy").click()
    assert refused.value.status == 400
    expect(page.get_by_role("alert")).to_contain_text("'10.0.0.0/33' is not an IPv4 or IPv6")
    page.get_by_label("Allowed networks").fill("")
    page.get_by_label("anthropic/claude-haiku-4-5", exact=True).check()
    page.get_by_role("button", name="Save policy").click()
    expect(page.get_by_text("The key's policy is saved.")).to_be_visible()

    # then the key refuses other models and serves the chosen one
    with pytest.raises(openai.PermissionDeniedError):
        chat(devstack, secret)
    assert chat(devstack, secret, model="anthropic/claude-haiku-4-5").choices

    # when the owner revokes it, after confirming
    page.get_by_role("link", name="Revoke…").click()
    expect(page.get_by_role("heading", level=1)).to_have_text(f"Revoke {name}?")
    assert_accessible(page)
    console.screenshot("keys-revoke")
    page.get_by_role("button", name="Revoke key").click()

    # then the list shows it revoked and the gateway refuses its secret
    expect(page.get_by_test_id("key-status")).to_have_text("revoked")
    with pytest.raises(openai.AuthenticationError):
        chat(devstack, secret, model="anthropic/claude-haiku-4-5")
    page.get_by_role("link", name="All keys").click()
    expect(page.get_by_role("row").filter(has_text=name)).to_contain_text("revoked")
