"""A browser app calls the inference API with its own key: a page served from an origin the
key allows reads the chat answer and its stream, and a page from any other origin is refused by
the browser itself. The Authorization header makes each fetch non-simple, so Chromium asks the
gateway first with a CORS preflight (OPTIONS, no key) and sends the POST only when allowed."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import httpx
import pytest
from playwright.sync_api import Browser, Page

from tests.e2e.stack import HTTP_TIMEOUT_S, wallet

pytestmark = pytest.mark.browser

MODEL = "openai/gpt-4o-mini"
BLANK_PAGE = b"<!doctype html><title>A browser app</title>"

# Resolves to what the test needs to know of the answer, or to the name of the error the
# browser's fetch rejected with (a TypeError when CORS refuses it).
FETCH_CHAT = """async ([url, key, model, stream]) => {
  try {
    const answer = await fetch(url + "/v1/chat/completions", {
      method: "POST",
      headers: {Authorization: "Bearer " + key, "Content-Type": "application/json"},
      body: JSON.stringify({
        model, stream, max_tokens: 16, messages: [{role: "user", content: "Hi"}],
      }),
    });
    return {status: answer.status, requestId: answer.headers.get("x-request-id"),
            body: await answer.text()};
  } catch (error) {
    return {error: error.name};
  }
}"""


class BlankPage(BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        self.send_response(200)
        self.send_header("Content-Type", "text/html")
        self.send_header("Content-Length", str(len(BLANK_PAGE)))
        self.end_headers()
        self.wfile.write(BLANK_PAGE)

    def log_message(self, format: str, *args: Any) -> None:
        pass  # keep the test's output to the test


@contextmanager
def web_origin() -> Iterator[str]:
    """A site of its own on a free loopback port, serving a blank page: its origin."""
    server = ThreadingHTTPServer(("127.0.0.1", 0), BlankPage)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        yield f"http://127.0.0.1:{server.server_port}"
    finally:
        server.shutdown()
        server.server_close()


@pytest.fixture(scope="module")
def app_origin() -> Iterator[str]:
    with web_origin() as origin:
        yield origin


@pytest.fixture(scope="module")
def other_origin() -> Iterator[str]:
    with web_origin() as origin:
        yield origin


@pytest.fixture(scope="module")
def browser_key(devstack, app_origin) -> dict[str, Any]:
    """An inference key of the demo account that allows the app's origin, made by the
    account's admin key over the management API."""
    answer = httpx.post(
        f"{devstack['TOLLGATE_URL']}/v1/keys",
        json={"name": "browser app", "role": "inference", "allowed_origins": [app_origin]},
        headers={"Authorization": f"Bearer {devstack['TOLLGATE_ADMIN_KEY']}"},
        timeout=HTTP_TIMEOUT_S,
    )
    assert answer.status_code == 201, answer.text
    return answer.json()


@contextmanager
def page_at(browser: Browser, origin: str) -> Iterator[Page]:
    context = browser.new_context()
    try:
        page = context.new_page()
        page.goto(origin)
        yield page
    finally:
        context.close()


@dataclass(frozen=True)
class Fetched:
    """What the page's fetch came to; the body stays out of the repr, so out of any report."""

    status: int | None = None
    error: str | None = None
    request_id: str | None = None
    body: str = field(default="", repr=False)


def fetch_chat(page: Page, devstack, key: str, *, stream: bool = False) -> Fetched:
    answer = page.evaluate(FETCH_CHAT, [devstack["TOLLGATE_URL"], key, MODEL, stream])
    return Fetched(
        answer.get("status"), answer.get("error"), answer.get("requestId"), answer.get("body", "")
    )


def answer_shape(body: str) -> tuple[str, str, str, bool]:
    """A chat answer's object, model, type of content and whether it counted tokens."""
    answer = json.loads(body)
    content = answer["choices"][0]["message"]["content"]
    return (
        answer["object"],
        answer["model"],
        type(content).__name__,
        answer["usage"]["total_tokens"] > 0,
    )


def stream_events(body: str) -> list[str]:
    """The object of each event of a chat stream, and its closing [DONE]."""
    data = [line.removeprefix("data: ") for line in body.splitlines() if line.startswith("data: ")]
    return [event if event == "[DONE]" else json.loads(event)["object"] for event in data]


def usage_of_key(devstack, key_id: str) -> list[dict[str, Any]]:
    answer = httpx.get(
        f"{devstack['TOLLGATE_URL']}/v1/usage",
        params={"key_id": key_id},
        headers={"Authorization": f"Bearer {devstack['TOLLGATE_ADMIN_KEY']}"},
        timeout=HTTP_TIMEOUT_S,
    )
    assert answer.status_code == 200
    records: list[dict[str, Any]] = answer.json()["data"]
    return records


def test_a_page_on_an_allowed_origin_reads_the_answer_and_the_stream(
    browser, devstack, app_origin, browser_key
):
    # given a page served from the origin the key allows
    with page_at(browser, app_origin) as page:
        # when it calls the chat API with fetch, once whole and once streamed
        whole = fetch_chat(page, devstack, browser_key["secret"])
        streamed = fetch_chat(page, devstack, browser_key["secret"], stream=True)

    # then the preflight let both through and the page reads the answers and their headers
    assert whole.status == 200
    shape = answer_shape(whole.body)
    assert shape == ("chat.completion", MODEL, "str", True)
    assert whole.request_id, "x-request-id is exposed to the page"

    assert streamed.status == 200
    *chunks, done = stream_events(streamed.body)
    assert chunks and set(chunks) == {"chat.completion.chunk"}
    assert done == "[DONE]"


def test_a_page_on_another_origin_is_refused_before_anything_is_charged(
    browser, devstack, other_origin, browser_key
):
    # given a page served from an origin no key allows, and the account's settled wallet
    before = wallet(devstack, devstack["TOLLGATE_ACCOUNT_ID"])
    used = usage_of_key(devstack, browser_key["id"])

    # when it calls the chat API with the key
    with page_at(browser, other_origin) as page:
        refused = fetch_chat(page, devstack, browser_key["secret"])

    # then the browser refuses the fetch, and the refused preflight kept the request from
    # ever reaching the gateway: nothing held, nothing charged, no new usage for the key
    assert (refused.status, refused.error) == (None, "TypeError")
    assert wallet(devstack, devstack["TOLLGATE_ACCOUNT_ID"]) == before
    assert usage_of_key(devstack, browser_key["id"]) == used
