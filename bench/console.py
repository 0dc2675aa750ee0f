"""The console's first page on devstack, in headless Chromium: how long it takes to load
after warm-up and how much it weighs (`python -m bench console`, also part of `make bench`).

Devstack as `make run` starts it; the demo owner signs in; the overview (the page sign-in
lands on) is loaded WARM_UP times, then LOADS times with the browser's cache as a returning
person has it (assets cached: their URLs carry their digest) and LOADS times with an empty
cache (a first visit). Load time is the Navigation Timing load event. The weight is every
byte the empty-cache load fetched (HTML, CSS, JS), as served and gzip-compressed (what an
operator's CDN or API Gateway compression would send). Targets: 300 ms, 150 KB.
"""

from __future__ import annotations

import gzip
import statistics
import tempfile
from pathlib import Path

import httpx
from playwright.sync_api import Browser, BrowserContext, sync_playwright

from bench import measure, processes

WARM_UP = 5
LOADS = 20
TARGET_MS = 300
TARGET_KB = 150
CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
LOAD_MS = (
    "() => { const n = performance.getEntriesByType('navigation')[0];"
    " return n.loadEventEnd - n.startTime; }"
)


def signed_in(browser: Browser, contract: dict[str, str]) -> BrowserContext:
    context = browser.new_context()
    page = context.new_page()
    page.goto(f"{contract['TOLLGATE_CONSOLE_URL']}/sign-in")
    page.get_by_label("Email").fill(contract["TOLLGATE_CONSOLE_EMAIL"])
    page.get_by_label("Password").fill(contract["TOLLGATE_CONSOLE_PASSWORD"])
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_url("**/console/overview")
    return context


def load_times(context: BrowserContext, url: str, count: int, *, cached: bool) -> list[float]:
    page = context.new_page()
    if not cached:
        context.new_cdp_session(page).send("Network.setCacheDisabled", {"cacheDisabled": True})
    times = []
    for _ in range(count):
        page.goto(url, wait_until="load")
        times.append(page.evaluate(LOAD_MS))
    page.close()
    return times


def weight(context: BrowserContext, url: str) -> tuple[int, int, int]:
    """(files, bytes as served, bytes gzip-compressed) of one empty-cache load."""
    page = context.new_page()
    context.new_cdp_session(page).send("Network.setCacheDisabled", {"cacheDisabled": True})
    bodies: list[bytes] = []
    page.on("response", lambda response: bodies.append(response.body()))
    page.goto(url, wait_until="load")
    page.close()
    return len(bodies), sum(map(len, bodies)), sum(len(gzip.compress(b, 6)) for b in bodies)


def report() -> None:
    with tempfile.TemporaryDirectory(prefix="bench-console-") as work:
        devstack = processes.start_devstack(Path(work) / "devstack")
        try:
            contract = devstack.printed
            url = f"{contract['TOLLGATE_CONSOLE_URL']}/overview"
            httpx.get(contract["TOLLGATE_CONSOLE_URL"] + "/sign-in").raise_for_status()
            with sync_playwright() as playwright:
                browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
                context = signed_in(browser, contract)
                load_times(context, url, WARM_UP, cached=True)
                warm = load_times(context, url, LOADS, cached=True)
                cold = load_times(context, url, LOADS, cached=False)
                files, served, compressed = weight(context, url)
                browser.close()
        finally:
            devstack.stop()
    print(f"console: first page (overview) on devstack, {LOADS} loads after {WARM_UP} warm-up")
    for name, times in (("cached assets", warm), ("empty cache", cold)):
        print(
            f"  load, {name:<13} median {statistics.median(times):6.1f} ms  "
            f"p95 {measure.percentile(times, 0.95):6.1f} ms  (target < {TARGET_MS} ms)"
        )
    print(
        f"  weight: {files} files, {served / 1024:.1f} KB as served, "
        f"{compressed / 1024:.1f} KB gzip-compressed (target < {TARGET_KB} KB)"
    )
    print(f"  load average: {processes.load_average()}")
