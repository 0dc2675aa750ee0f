"""Usage in the console: requests made with the demo key appear in the table, open in detail,
draw the chart and come back in the CSV; a bad filter is told by the service's own words."""

from __future__ import annotations

import csv
import io
import re
from datetime import UTC, datetime, timedelta

import openai
import pytest
from playwright.sync_api import expect

from tests.browser.conftest import assert_accessible

pytestmark = pytest.mark.browser

MODELS = ("openai/gpt-4o-mini", "openai/gpt-4.1-mini")


def requests_with_the_demo_key(devstack: dict[str, str]) -> list[str]:
    client = openai.OpenAI(
        base_url=devstack["OPENAI_BASE_URL"], api_key=devstack["TOLLGATE_API_KEY"], max_retries=0
    )
    return [
        client.chat.completions.with_raw_response.create(
            model=model, messages=[{"role": "user", "content": "Say hello"}]
        ).headers["x-request-id"]
        for model in MODELS
    ]


def test_the_owners_requests_show_in_usage_detail_chart_and_csv(console, devstack):
    # given two requests made with the demo account's inference key
    made = requests_with_the_demo_key(devstack)
    console.sign_in(devstack["TOLLGATE_CONSOLE_EMAIL"], devstack["TOLLGATE_CONSOLE_PASSWORD"])
    page = console.page

    # when the owner opens each request (the page waits for the settle that lands after the
    # answer), then its detail shows the route, the tokens and the charge in full
    for request_id, model in zip(made, MODELS, strict=True):
        console.goto(f"/usage/{request_id}")
        expect(page.get_by_role("heading", level=1)).to_have_text(f"Request {request_id}")
        expect(page.locator("dl.detail")).to_contain_text(model)
        expect(page.locator("dl.detail")).to_contain_text("the model itself")
        expect(page.get_by_test_id("charge")).to_have_text(re.compile(r"^\$0\.\d+$"))
    assert_accessible(page)
    console.screenshot("usage-detail")

    # and the usage table lists both, each with a link to report it, under a drawn chart
    console.goto("/usage")
    for request_id in made:
        row = page.locator(f'tr[data-request-id="{request_id}"]')
        expect(row).to_be_visible()
        expect(row.get_by_role("link", name="Report this request")).to_have_attribute(
            "href", re.compile(rf"/console/tickets/new\?request_id={re.escape(request_id)}$")
        )
    expect(page.locator(".chart canvas")).to_have_count(1)
    assert_accessible(page)
    console.screenshot("usage")

    # when they filter on one model, only its request stays
    page.get_by_label("Model", exact=True).fill(MODELS[1])
    page.get_by_role("button", name="Filter").click()
    expect(page.locator(f'tr[data-request-id="{made[0]}"]')).to_have_count(0)
    expect(page.locator(f'tr[data-request-id="{made[1]}"]')).to_be_visible()
    expect(page.locator(".chart canvas")).to_have_count(1)

    # and the CSV of that filter holds it
    with page.expect_download() as downloading:
        page.get_by_role("link", name="Download CSV").click()
    download = downloading.value
    assert download.suggested_filename == "tollgate-usage.csv"
    rows = list(csv.DictReader(io.StringIO(download.path().read_text(encoding="utf-8"))))
    assert made[1] in {row["request_id"] for row in rows}
    assert {row["model"] for row in rows} == {MODELS[1]}


def test_a_bad_filter_is_told_and_older_usage_points_to_the_archives(console, devstack):
    console.sign_in(devstack["TOLLGATE_CONSOLE_EMAIL"], devstack["TOLLGATE_CONSOLE_PASSWORD"])
    page = console.page
    console.goto("/usage")

    # when the owner asks for usage from 100 days ago
    long_ago = (datetime.now(UTC) - timedelta(days=100)).date().isoformat()
    page.get_by_label("From (UTC)").fill(long_ago)
    console.expect_refusal(400)  # the browser logs it itself
    with page.expect_response(lambda r: "/console/usage?" in r.url) as answer:
        page.get_by_role("button", name="Filter").click()

    # then the service's own message says where it is
    assert answer.value.status == 400
    expect(page.get_by_role("alert")).to_contain_text("'from' is more than 90 days ago")

    # and the archives page lists the months (or says there are none yet)
    page.get_by_role("link", name="monthly archives").click()
    expect(page).to_have_title("Usage archives · Tollgate console")
    expect(page.locator("table, p.empty")).to_have_count(1)
    assert_accessible(page)
    console.screenshot("usage-archives")
