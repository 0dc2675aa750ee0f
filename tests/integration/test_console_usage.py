"""The console's usage pages, in process: the owner's requests (made through the proxy's own
hold and settle) filtered, paged by the service's cursor, charted and downloaded; and the
guards: another account's request or archive is not found, bad filters get the service's own
message with 400."""

from __future__ import annotations

import csv
import io
import json
import re
from datetime import timedelta
from html import unescape
from urllib.parse import parse_qs, urlsplit

import pytest

from tests.integration.console_client import ConsoleClient
from tests.integration.test_usage import Customer, proxied
from tollgate import clock, keys, ledger
from tollgate.store import archives as archive_store


@pytest.fixture
def owner(sign_up):
    return sign_up(email="owner@example.com")


def customer_of(person) -> Customer:
    """The person's account with credit and two inference keys."""
    ledger.credit(person.account_id, 100 * 10**9, kind="adjustment", reason="test")
    first, second = (
        keys.create_key(person.account_id, keys.NewKey(name=name, role="inference"))
        for name in ("ci", "batch")
    )
    return Customer(person.account_id, "", first.key.key_id, second.key.key_id)


def shown_request_ids(html: str) -> list[str]:
    return re.findall(r'<tr data-request-id="([^"]+)"', html)


def load_more_query(html: str) -> dict[str, str]:
    link = re.search(r'<a href="[^"]*" hx-get="([^"]+)"[^>]*>Load more</a>', html)
    assert link, "no Load more"
    return {k: v[-1] for k, v in parse_qs(urlsplit(unescape(link.group(1))).query).items()}


def test_the_owner_filters_pages_charts_and_downloads_their_usage(hotpath, owner):
    # given 21 answered requests (one page is 20) and one upstream error, newest last
    customer = customer_of(owner)
    now = clock.utcnow()
    made = [f"req-{n:02d}" for n in range(21)]
    for n, request_id in enumerate(made):
        model = "openai/gpt-4o" if n % 2 else "openai/gpt-4o-mini"
        proxied(hotpath, customer, request_id, now - timedelta(minutes=30 - n), model=model)
    proxied(hotpath, customer, "req-failed", now - timedelta(minutes=1), status="error")
    browser = ConsoleClient()
    browser.sign_in(owner)

    # when they open Usage: the newest 20, a "Load more" with the service's cursor
    first = browser.get("/console/usage")
    assert first.status == 200
    assert shown_request_ids(first.text) == ["req-failed", *reversed(made[2:])]
    assert "/console/tickets/new?request_id=req-20" in first.text
    # then "Load more" brings the rest as rows for the table, and no further "Load more"
    rest = browser.get("/console/usage", htmx=True, **load_more_query(first.text))
    assert shown_request_ids(rest.text) == ["req-01", "req-00"]
    assert "Load more" not in rest.text
    # and the chart has a spend line per model and the requests per day
    chart = json.loads(unescape(re.search(r'id="usage-chart">(.*?)</div>', first.text).group(1)))
    labels = [line["label"] for line in chart["series"]]
    assert set(labels) == {"openai/gpt-4o (USD)", "openai/gpt-4o-mini (USD)", "Requests"}
    assert sum(chart["series"][-1]["values"]) == 22

    # when they filter on errors (an htmx swap of the results)
    errors = browser.get("/console/usage", htmx=True, status="error", to="")
    assert shown_request_ids(errors.text) == ["req-failed"]
    assert "<h1>" not in errors.text

    # then the CSV download has every record of the filters
    download = browser.get("/console/usage/export", model="openai/gpt-4o")
    assert download.status == 200
    assert download.headers["content-disposition"] == 'attachment; filename="tollgate-usage.csv"'
    rows = list(csv.DictReader(io.StringIO(download.text)))
    assert sorted(r["request_id"] for r in rows) == [m for i, m in enumerate(made) if i % 2]


def test_a_request_shows_its_detail_and_another_accounts_is_not_found(hotpath, owner, sign_up):
    mine = customer_of(owner)
    stranger = sign_up(email="stranger@example.com")
    theirs = customer_of(stranger)
    proxied(hotpath, mine, "req-mine", clock.utcnow() - timedelta(minutes=1), charge=1_234_567)
    proxied(hotpath, theirs, "req-theirs", clock.utcnow() - timedelta(minutes=1))
    browser = ConsoleClient()
    browser.sign_in(owner)

    detail = browser.get("/console/usage/req-mine")

    assert detail.status == 200
    assert '<dd data-testid="charge"><span class="money">$0.001234567</span></dd>' in detail.text
    assert '<dd data-testid="hold"><span class="money">$0.10</span></dd>' in detail.text
    assert "the model itself" in detail.text
    hidden = browser.get("/console/usage/req-theirs")
    assert hidden.status == 404
    assert theirs.key_id not in hidden.text
    assert "req-theirs" not in browser.get("/console/usage").text


@pytest.mark.parametrize(
    ("query", "message"),
    [
        ({"from": "2020-01-01"}, "&#39;from&#39; is more than 90 days ago"),
        ({"to": "yesterday"}, "&#39;to&#39; must be an ISO 8601 date"),
        ({"status": "lost"}, "&#39;status&#39; must be one of"),
        ({"cursor": "bm90LWEtY3Vyc29y"}, "The cursor is not valid."),
    ],
)
def test_bad_filters_get_the_services_message_and_400(owner, query, message):
    browser = ConsoleClient()
    browser.sign_in(owner)

    page = browser.get("/console/usage", **query)
    swapped = browser.get("/console/usage", htmx=True, **query)

    assert page.status == 400
    assert message in page.text
    assert '<input id="filter-from"' in page.text  # the filters stay, to be corrected
    assert swapped.status == 400
    assert message in swapped.text
    assert swapped.headers["hx-retarget"] == "#messages"


def test_archives_list_the_accounts_months_and_never_anothers(owner, sign_up):
    browser = ConsoleClient()
    browser.sign_in(owner)
    empty = browser.get("/console/usage/archives")
    assert empty.status == 200
    assert "No archives yet" in empty.text

    # given a batch of the owner's June and one of a stranger's May
    stranger = sign_up(email="stranger@example.com")
    for account_id, month in ((owner.account_id, "2026-06"), (stranger.account_id, "2026-05")):
        archive_store.save_batch(
            account_id,
            month,
            object_key=archive_store.batch_key(account_id, month),
            manifest_key=archive_store.manifest_key(account_id, month),
            size_bytes=2048,
            record_count=7,
            sha256="ab" * 32,
            schema_version=2,
            created_at=clock.utcnow(),
            expires_at=clock.utcnow() + timedelta(days=365),
        )
    listed = browser.get("/console/usage/archives")
    assert "Download 2026-06" in listed.text
    assert "2026-05" not in listed.text
    assert "2,048 bytes" in listed.text

    # the download goes to a presigned link of the owner's own object
    download = browser.get("/console/usage/archives/2026-06")
    assert download.status == 303
    assert f"archives/{owner.account_id}/2026-06/" in download.location
    assert "X-Amz-Expires=300" in download.location

    # another account's month is not found, a malformed one is told; neither links anything
    theirs = browser.get("/console/usage/archives/2026-05")
    assert (theirs.status, theirs.location) == (404, "")
    malformed = browser.get("/console/usage/archives/2026-6")
    assert (malformed.status, malformed.location) == (400, "")
