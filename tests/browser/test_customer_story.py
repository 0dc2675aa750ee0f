"""Issue 14's story, end to end in one browser on devstack, as a new customer lives it: sign
up, verify from the outbox, sign in, top up through the Stripe stand-in and see the balance
rise, create a key and copy it, use it with the OpenAI SDK, find the request in usage and its
chart, report it from its row, read support's answer, invite a viewer who sees no "Create
key" button and is refused posting the form by hand, export the account and delete it.
Each area's own tests (test_keys, test_billing, ...) go into the details."""

from __future__ import annotations

import re

import httpx
import openai
import pytest
from playwright.sync_api import expect

from tests.browser.conftest import PASSWORD, new_email
from tests.e2e.stack import HTTP_TIMEOUT_S
from tests.e2e.test_people_story_over_http import INVITATION_LINK, mailed

pytestmark = pytest.mark.browser


def test_a_new_customer_lives_the_whole_console_story(console, second_console, devstack):
    page = console.page
    page.context.grant_permissions(["clipboard-read", "clipboard-write"])

    # sign up, verify with the mailed code, sign in: an empty account
    email = new_email("story")
    console.sign_up(email, "Cleo Customer")
    console.sign_in(email)
    expect(page.get_by_test_id("available")).to_have_text("$0.00")

    # top up $20 through the Stripe stand-in; the balance rises
    console.goto("/billing")
    page.get_by_label("Amount (USD)").fill("20")
    page.get_by_role("button", name="Continue to payment").click()
    page.get_by_role("button", name="Pay 20.00 USD").click()
    expect(page.get_by_test_id("topup-status")).to_contain_text("paid: $20.00")
    console.goto("/overview")
    expect(page.get_by_test_id("available")).to_have_text("$20.00")

    # create a key, copy its secret, use it with the OpenAI SDK
    console.goto("/keys/new")
    page.get_by_label("Name", exact=True).fill("story key")
    page.get_by_role("button", name="Create key").click()
    secret = page.get_by_label("Secret of story key").input_value()
    page.get_by_role("button", name="Copy").click()
    assert page.evaluate("navigator.clipboard.readText()") == secret
    client = openai.OpenAI(base_url=devstack["OPENAI_BASE_URL"], api_key=secret, max_retries=0)
    request_id = client.chat.completions.with_raw_response.create(
        model="openai/gpt-4o-mini", messages=[{"role": "user", "content": "Hello"}]
    ).headers["x-request-id"]

    # the request is in usage (its detail waits for the settle) and in the chart
    console.goto(f"/usage/{request_id}")
    expect(page.get_by_test_id("charge")).to_have_text(re.compile(r"^\$0\.\d+$"))
    console.goto("/usage")
    row = page.locator(f'tr[data-request-id="{request_id}"]')
    expect(row).to_be_visible()
    expect(page.locator(".chart canvas")).to_have_count(1)

    # report it from its row; support answers; the customer reads the answer
    row.get_by_role("link", name="Report this request").click()
    expect(page.get_by_label("Request ids (optional)")).to_have_value(request_id)
    page.get_by_label("Subject").fill("Was this request billed right?")
    page.get_by_label("What happened?").fill("Please check its charge.")
    page.get_by_role("button", name="Open ticket").click()
    expect(page.get_by_role("cell", name=request_id)).to_be_visible()
    ticket_id = page.url.rsplit("/", 1)[-1]
    answered = httpx.post(
        f"{devstack['TOLLGATE_URL']}/operator/tickets/{ticket_id}/messages",
        json={"body": "It was billed at the catalog price.", "author_name": "Sam"},
        headers={"Authorization": f"Bearer {devstack['TOLLGATE_OPERATOR_KEY']}"},
        timeout=HTTP_TIMEOUT_S,
    )
    assert answered.status_code == 201, answered.text
    page.reload()
    expect(page.get_by_text("It was billed at the catalog price.")).to_be_visible()

    # invite a viewer, who joins and sees no "Create key" button, and is refused by hand
    viewer = new_email("story-viewer")
    console.goto("/team")
    page.get_by_label("Email", exact=True).fill(viewer)
    page.get_by_label("Role", exact=True).select_option("viewer")
    page.get_by_role("button", name="Send invitation").click()
    expect(page.get_by_text(f"{viewer} is invited as viewer.")).to_be_visible()
    link = mailed(devstack, viewer, INVITATION_LINK)
    assert link is not None
    second_console.sign_up(viewer, "Vic Viewer")
    tab = second_console.page
    tab.goto(link.group(0))
    tab.get_by_role("link", name="Sign in to accept").click()
    tab.get_by_label("Email").fill(viewer)
    tab.get_by_label("Password").fill(PASSWORD)
    tab.get_by_role("button", name="Sign in").click()
    tab.get_by_role("button", name="Accept invitation").click()
    expect(tab).to_have_url(f"{second_console.base}/overview?joined")
    expect(tab.get_by_text("You joined the account.")).to_be_visible()
    second_console.goto("/keys")
    expect(tab.get_by_role("row").filter(has_text="story key")).to_be_visible()
    expect(tab.get_by_role("link", name="Create key")).to_have_count(0)
    csrf = tab.locator("input[name=csrf]").first.input_value()
    refused = tab.request.post(
        f"{second_console.base}/keys", form={"csrf": csrf, "name": "sneaky", "role": "admin"}
    )
    assert refused.status == 403
    second_console.goto("/keys")
    expect(tab.get_by_role("row").filter(has_text="sneaky")).to_have_count(0)

    # export the account and download it
    console.goto("/account")
    page.get_by_role("button", name="Start an export").click()
    with page.expect_download() as downloaded:
        page.get_by_role("link", name="Download ZIP").click()
    assert downloaded.value.suggested_filename.endswith(".zip")

    # delete the account, typing its name back; the restore window is shown
    name = page.get_by_label("Account name", exact=True).input_value()
    page.get_by_label("Type the account name").fill(name)
    page.get_by_role("button", name="Delete the account").click()
    expect(page.get_by_role("alert").filter(has_text="scheduled for deletion")).to_contain_text(
        "Everything it holds is purged on"
    )
