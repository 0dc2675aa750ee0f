"""Support tickets in the console on devstack: the demo owner reports a real request from its
link, support answers over the API, the owner reads it, replies with a file uploaded straight
to the bucket, downloads it, closes and reopens; a request id that is not the account's is
told in the form and opens nothing."""

from __future__ import annotations

import httpx
import pytest
from playwright.sync_api import expect

from tests.browser.conftest import assert_accessible
from tests.e2e.stack import HTTP_TIMEOUT_S

pytestmark = pytest.mark.browser


def api(devstack: dict[str, str], key: str) -> httpx.Client:
    return httpx.Client(
        base_url=devstack["TOLLGATE_URL"],
        headers={"Authorization": f"Bearer {key}"},
        timeout=HTTP_TIMEOUT_S,
    )


def a_request(devstack: dict[str, str]) -> str:
    """A chat request with the demo inference key; its request id."""
    with api(devstack, devstack["TOLLGATE_API_KEY"]) as proxy:
        answer = proxy.post(
            "/v1/chat/completions",
            json={"model": "openai/gpt-4o-mini", "messages": [{"role": "user", "content": "Hi"}]},
        )
    assert answer.status_code == 200, answer.text
    return answer.headers["x-request-id"]


def test_the_owner_reports_a_request_reads_the_answer_replies_with_a_file_and_closes(
    console, devstack
):
    # Given a real request, and the demo owner signed in
    request_id = a_request(devstack)
    console.sign_in(devstack["TOLLGATE_CONSOLE_EMAIL"], devstack["TOLLGATE_CONSOLE_PASSWORD"])
    page = console.goto("/tickets")
    expect(page.get_by_role("heading", name="Support tickets")).to_be_visible()
    assert_accessible(page)
    console.screenshot("tickets")

    # When they follow the usage page's "Report this request" link and open the ticket
    console.goto(f"/tickets/new?request_id={request_id}")
    expect(page.get_by_label("Request ids (optional)")).to_have_value(request_id)
    assert_accessible(page)
    console.screenshot("ticket-new")
    page.get_by_label("Subject").fill("A slow answer")
    page.get_by_label("What happened?").fill("This request took long.")
    page.get_by_role("button", name="Open ticket").click()

    # Then the thread shows the request's metadata and the message
    expect(page.get_by_role("heading", level=1)).to_have_text("A slow answer")
    expect(page.get_by_role("cell", name=request_id)).to_be_visible()
    ticket_id = page.url.rsplit("/", 1)[-1]

    # When support answers over the API
    with api(devstack, devstack["TOLLGATE_OPERATOR_KEY"]) as operator:
        answered = operator.post(
            f"/operator/tickets/{ticket_id}/messages",
            json={"body": "Which region were you calling from?", "author_name": "Sam"},
        )
    assert answered.status_code == 201, answered.text

    # Then the owner reads it
    page.reload()
    expect(page.get_by_text("Which region were you calling from?")).to_be_visible()
    expect(page.get_by_test_id("ticket-status")).to_have_text("Waiting on you")

    # When they reply with a file, which the browser uploads straight to the bucket
    page.get_by_label("Files (optional)").set_input_files(
        files=[{"name": "trace.txt", "mimeType": "text/plain", "buffer": b"eu-west-1 12:03\n"}]
    )
    expect(page.get_by_text("trace.txt uploaded")).to_be_visible()
    page.get_by_label("Your message").fill("eu-west-1; the trace is attached.")
    page.get_by_role("button", name="Send reply").click()

    # Then the thread carries the file, which downloads
    expect(page.get_by_text("eu-west-1; the trace is attached.")).to_be_visible()
    expect(page.get_by_test_id("ticket-status")).to_have_text("Waiting on support")
    assert_accessible(page)
    console.screenshot("ticket")
    with page.expect_download() as downloading:
        page.get_by_role("link", name="trace.txt").click()
    assert downloading.value.suggested_filename == "trace.txt"

    # When they close it, and then reopen it
    page.get_by_role("button", name="Close ticket").click()
    expect(page.get_by_test_id("ticket-status")).to_have_text("Closed")
    page.get_by_role("button", name="Reopen ticket").click()
    expect(page.get_by_test_id("ticket-status")).to_have_text("Waiting on support")
    expect(page.get_by_role("button", name="Send reply")).to_be_visible()


def test_a_request_id_that_is_not_the_accounts_is_told_and_opens_nothing(console, devstack):
    console.sign_in(devstack["TOLLGATE_CONSOLE_EMAIL"], devstack["TOLLGATE_CONSOLE_PASSWORD"])
    page = console.goto("/tickets/new?request_id=req_not_ours")
    page.get_by_label("Subject").fill("Not ours")
    page.get_by_label("Category").select_option("technical")
    page.get_by_label("What happened?").fill("?")
    console.expect_refusal(404)  # the browser logs it itself
    with page.expect_response(lambda r: r.request.method == "POST") as answer:
        page.get_by_role("button", name="Open ticket").click()
    assert answer.value.status == 404
    expect(page.get_by_role("alert")).to_contain_text("No request 'req_not_ours'")
    expect(page.get_by_label("Subject")).to_have_value("Not ours")
    console.goto("/tickets")
    expect(page.get_by_role("link", name="Not ours")).to_have_count(0)
