"""Privacy of the console's pages: after a prompt with a canary phrase went through the proxy,
no page the demo owner can reach shows the phrase, the answer, or any secret: API keys, the
operator key, Stripe's secrets, the person's password or session tokens. (The one secret a
page ever shows, a new key's, is shown once by the keys page's create answer, a POST.)"""

from __future__ import annotations

import base64
import json
import re
from urllib.parse import urljoin, urlsplit

import httpx
import openai
import pytest

from tests.e2e.stack import HTTP_TIMEOUT_S

pytestmark = pytest.mark.e2e

CANARY = "the canary sings at midnight over the console"
MAX_PAGES = 80
LINK = re.compile(r'href="([^"#]+)"')
SKIPPED = ("/console/static/", "/console/sign-out")


def signed_in(devstack) -> httpx.Client:
    browser = httpx.Client(timeout=HTTP_TIMEOUT_S, follow_redirects=True)
    base = devstack["TOLLGATE_CONSOLE_URL"]
    page = browser.get(f"{base}/sign-in").text
    csrf = re.search(r'name="csrf" value="([0-9a-f]+)"', page).group(1)
    landed = browser.post(
        f"{base}/sign-in",
        data={
            "csrf": csrf,
            "email": devstack["TOLLGATE_CONSOLE_EMAIL"],
            "password": devstack["TOLLGATE_CONSOLE_PASSWORD"],
        },
        headers={"origin": devstack["TOLLGATE_URL"]},
    )
    assert landed.status_code == 200 and "<h1>Overview</h1>" in landed.text, landed.text
    return browser


def session_tokens(browser: httpx.Client) -> dict[str, str]:
    """The cookies' secrets: the refresh token, and the access token inside the session."""
    raw = browser.cookies["tg_session"]
    session = json.loads(base64.urlsafe_b64decode(raw + "=" * (-len(raw) % 4)))
    return {"access token": session["a"], "refresh token": browser.cookies["tg_refresh"]}


def pages(browser: httpx.Client, start: str) -> dict[str, str]:
    """Every console page reachable by links from ``start`` (GET only), by URL."""
    host = urlsplit(start).netloc
    seen: dict[str, str] = {}
    todo = [start]
    while todo and len(seen) < MAX_PAGES:
        url = todo.pop()
        if url in seen:
            continue
        answer = browser.get(url)
        if "text/html" not in answer.headers.get("content-type", ""):
            seen[url] = ""
            continue
        seen[url] = answer.text
        for link in LINK.findall(answer.text):
            target = urljoin(url, link.replace("&amp;", "&"))
            parts = urlsplit(target)
            if (
                parts.netloc == host
                and parts.path.startswith("/console/")
                and not any(parts.path.startswith(skip) for skip in SKIPPED)
            ):
                todo.append(target)
    return seen


def test_no_console_page_shows_a_prompt_an_answer_or_a_secret(devstack):
    # given a request through the proxy whose prompt carries the canary
    client = openai.OpenAI(
        base_url=devstack["OPENAI_BASE_URL"], api_key=devstack["TOLLGATE_API_KEY"], max_retries=0
    )
    answer = client.chat.completions.create(
        model="openai/gpt-4o-mini", messages=[{"role": "user", "content": CANARY}]
    )
    reply = answer.choices[0].message.content or ""
    browser = signed_in(devstack)
    tokens = session_tokens(browser)

    # when every page the owner can reach is read
    found = pages(browser, f"{devstack['TOLLGATE_CONSOLE_URL']}/overview")

    # then none holds the canary, the answer or a secret
    assert len(found) >= 2, list(found)
    secrets = {
        "inference key": devstack["TOLLGATE_API_KEY"],
        "admin key": devstack["TOLLGATE_ADMIN_KEY"],
        "operator key": devstack["TOLLGATE_OPERATOR_KEY"],
        "webhook secret": devstack["STRIPE_WEBHOOK_SECRET"],
        "password": devstack["TOLLGATE_CONSOLE_PASSWORD"],
        "canary": CANARY,
        **tokens,
    }
    if len(reply) > 24:
        secrets["answer"] = reply
    for url, html in found.items():
        leaked = [name for name, secret in secrets.items() if secret and secret in html]
        assert not leaked, f"{url} shows {leaked}"
    assert "sk_test_" not in "".join(found.values())
