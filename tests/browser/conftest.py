"""The console in a real browser: Debian's Chromium (``make chromium``), headless, driven by
Playwright for Python against devstack. Playwright's own browser download cannot work here,
so it launches the system's Chromium by path."""

from __future__ import annotations

import os
import re
import shutil
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Browser, ConsoleMessage, Page, expect, sync_playwright

from tests.e2e.conftest import ROOT
from tests.e2e.test_people_story_over_http import CODE, mailed

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
# Without the background-networking flags Chromium keeps dialling Google's hosts, which this
# machine's closed network refuses; --no-sandbox because CI runs as root.
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
SCREENSHOTS = ROOT / "docs" / "console"
PASSWORD = "Correct-horse-9"
UI_TIMEOUT_MS = 60_000  # a deadline, not a wait: generous for a loaded machine

expect.set_options(timeout=UI_TIMEOUT_MS)


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    """One Chromium per test file: Playwright's sync API runs an event loop in this thread
    while it is open, and a later test's asyncio.run() in the same worker would fail."""
    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield launched
        launched.close()


class Console:
    """One person's browser tab on the console."""

    def __init__(self, page: Page, devstack: dict[str, str]) -> None:
        self.page = page
        self.devstack = devstack
        self.base = devstack["TOLLGATE_CONSOLE_URL"]
        self.errors: list[str] = []
        self.expected_statuses: set[int] = set()
        page.on("pageerror", lambda error: self.errors.append(str(error)))
        page.on("console", self._on_console)

    def _on_console(self, message: ConsoleMessage) -> None:
        if message.type != "error":
            return
        refused = re.search(r"(?:status of|Status Error Code) (\d{3})", message.text)
        if refused and int(refused.group(1)) in self.expected_statuses:
            return
        self.errors.append(message.text)

    def expect_refusal(self, status: int) -> None:
        """The browser logs every refused request itself (asynchronously); a refusal the
        test provokes on purpose is not a fault of the page."""
        self.expected_statuses.add(status)

    def goto(self, path: str = "") -> Page:
        self.page.goto(f"{self.base}{path}")
        return self.page

    def sign_in(self, email: str, password: str = PASSWORD) -> None:
        self.goto("/sign-in")
        self.page.get_by_label("Email").fill(email)
        self.page.get_by_label("Password").fill(password)
        self.page.get_by_role("button", name="Sign in").click()
        expect(self.page.get_by_role("heading", level=1)).not_to_have_text("Sign in")

    def sign_up(self, email: str, name: str, password: str = PASSWORD) -> None:
        """Sign up, then verify with the code from devstack's outbox; ends on sign-in."""
        self.goto("/sign-up")
        self.page.get_by_label("Your name").fill(name)
        self.page.get_by_label("Email").fill(email)
        self.page.get_by_label("Password").fill(password)
        self.page.get_by_role("button", name="Create account").click()
        expect(self.page.get_by_role("heading", name="Verify your email")).to_be_visible()
        found = mailed(self.devstack, email, CODE)
        assert found, f"no verification code mailed to {email}"
        self.page.get_by_label("6-digit code").fill(found.group(1))
        self.page.get_by_role("button", name="Verify").click()
        expect(self.page.get_by_role("heading", name="Sign in")).to_be_visible()

    def screenshot(self, name: str) -> None:
        """Saved under docs/console/ by `make screenshots` (TOLLGATE_SCREENSHOTS=1) only."""
        if os.environ.get("TOLLGATE_SCREENSHOTS") == "1":
            SCREENSHOTS.mkdir(parents=True, exist_ok=True)
            self.page.evaluate("() => document.activeElement && document.activeElement.blur()")
            self.page.screenshot(path=str(SCREENSHOTS / f"{name}.png"), full_page=True)


@pytest.fixture
def console(browser: Browser, devstack: dict[str, str]) -> Iterator[Console]:
    context = browser.new_context(viewport={"width": 1280, "height": 800})
    context.set_default_timeout(UI_TIMEOUT_MS)
    try:
        tab = Console(context.new_page(), devstack)
        yield tab
        assert not tab.errors, f"the page reported errors: {tab.errors}"
    finally:
        context.close()


@pytest.fixture
def second_console(browser: Browser, devstack: dict[str, str]) -> Iterator[Console]:
    """Another person's browser (cookies of its own)."""
    context = browser.new_context(viewport={"width": 1280, "height": 800})
    context.set_default_timeout(UI_TIMEOUT_MS)
    try:
        yield Console(context.new_page(), devstack)
    finally:
        context.close()


def new_email(label: str) -> str:
    return f"{label}-{time.time_ns()}@example.com"


# ------------------------------------------------------------------------------ accessibility

UNLABELLED_FIELDS = """() => [...document.querySelectorAll('input, select, textarea')]
  .filter(el => el.type !== 'hidden' && !(el.labels && el.labels.length)
    && !el.getAttribute('aria-label') && !el.getAttribute('aria-labelledby'))
  .map(el => el.outerHTML)"""

INTERACTIVE = """() => [...document.querySelectorAll(
    'a[href], button, input, select, textarea, summary, [hx-get], [hx-post], [hx-delete],'
    + ' [hx-patch], [onclick], [tabindex]')]
  .filter(el => el.type !== 'hidden' && !el.disabled && el.getClientRects().length > 0
    && getComputedStyle(el).visibility !== 'hidden' && !el.closest('.u-legend'))
  .map(el => ({html: el.outerHTML.slice(0, 120), tabIndex: el.tabIndex,
    id: el.dataset.a11yId || (el.dataset.a11yId = Math.random().toString(36).slice(2))}))"""

FOCUSED_ID = "() => document.activeElement && document.activeElement.dataset.a11yId || null"


def assert_accessible(page: Page, *, max_tabs: int = 200) -> None:
    """The basics on the page as it is: a title and one h1, a label for every field, and every
    visible control reached by pressing Tab (in focusable elements, never by tabindex > 0)."""
    assert page.title().strip(), "the page has no title"
    assert page.locator("h1").count() == 1, "a page has exactly one h1"
    assert page.evaluate(UNLABELLED_FIELDS) == [], "every form field needs a label"
    controls = page.evaluate(INTERACTIVE)
    assert all(c["tabIndex"] == 0 for c in controls if c["tabIndex"] >= 0), [
        c["html"] for c in controls if c["tabIndex"] > 0
    ]
    unreachable = [c["html"] for c in controls if c["tabIndex"] < 0 and "tabindex" not in c["html"]]
    assert not unreachable, f"controls that Tab cannot reach: {unreachable}"
    wanted = {c["id"] for c in controls if c["tabIndex"] == 0}
    page.evaluate("() => { document.activeElement && document.activeElement.blur(); }")
    reached: set[str] = set()
    for _ in range(min(max_tabs, len(wanted) * 2 + 5)):
        page.keyboard.press("Tab")
        focused = page.evaluate(FOCUSED_ID)
        if focused:
            reached.add(focused)
        if wanted <= reached:
            break
    missing = [c["html"] for c in controls if c["id"] in wanted - reached]
    assert not missing, f"not reached by the keyboard: {missing}"


def text_of(page: Page, selector: str) -> str:
    return re.sub(r"\s+", " ", page.locator(selector).inner_text()).strip()


def repo_path(*parts: str) -> Path:
    return ROOT.joinpath(*parts)
