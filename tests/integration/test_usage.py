"""GET /v1/usage, /v1/usage/{request_id} and /v1/usage/summary: an account's request metadata
for the last 90 days, built here through the proxy's own hold and settle transactions."""

from __future__ import annotations

import csv
import io
import json
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import pytest

from tests.integration.conftest import RECORDER, event, handle
from tollgate import clock, keys, ledger, usage
from tollgate.key_policy import KeyPolicy
from tollgate.store import usage as usage_store
from tollgate.store.hotpath import Hold, HotPath, UsageRecord

NOW = datetime(2026, 11, 23, 12, 0, tzinfo=UTC)
FUNCTION = "UsageFunction"
CONTENT_FIELDS = {"messages", "prompt", "input", "content", "choices", "output", "response"}


@dataclass
class Customer:
    account_id: str
    admin_key: str
    key_id: str  # an inference key's id, which the proxied requests use
    other_key_id: str


@pytest.fixture(autouse=True)
def fixed_clock(monkeypatch):
    monkeypatch.setattr(clock, "utcnow", lambda: NOW)


@pytest.fixture
def customer(new_account) -> Customer:
    return a_customer(new_account)


def a_customer(new_account) -> Customer:
    account = new_account()
    ledger.credit(account.account_id, 100 * 10**9, kind="adjustment", reason="test", now=NOW)
    first, second = (
        keys.create_key(account.account_id, keys.NewKey(name=name, role="inference"))
        for name in ("ci", "batch")
    )
    return Customer(account.account_id, account.admin_key, first.key.key_id, second.key.key_id)


def proxied(
    hotpath: HotPath,
    customer: Customer,
    request_id: str,
    at: datetime,
    *,
    key_id: str | None = None,
    model: str = "openai/gpt-4o-mini",
    status: str = "settled",
    endpoint: str = "chat.completions",
    charge: int = 1_500_000,
) -> None:
    """A request as the proxy records it: a hold, then its settle with the usage."""
    hold = held(hotpath, customer, request_id, at, key_id=key_id, model=model)
    settled(hotpath, hold, status=status, endpoint=endpoint, charge=charge)


def held(
    hotpath: HotPath,
    customer: Customer,
    request_id: str,
    at: datetime = NOW - timedelta(seconds=1),
    *,
    key_id: str | None = None,
    model: str = "openai/gpt-4o-mini",
) -> Hold:
    """A request's hold: the proxy takes it before the upstream call and releases it in the
    settle, after the answer."""
    key_id = key_id or customer.key_id
    hold = Hold(
        request_id, customer.account_id, key_id, model, 10**8, at, at + timedelta(minutes=6)
    )
    hotpath.hold(hold, KeyPolicy())
    return hold


def settled(
    hotpath: HotPath,
    hold: Hold,
    *,
    status: str = "settled",
    endpoint: str = "chat.completions",
    charge: int = 1_500_000,
    video_seconds: int | None = None,
) -> None:
    failed = status != "settled"
    usage = UsageRecord(
        request_id=hold.request_id,
        account_id=hold.account_id,
        key_id=hold.key_id,
        model=hold.model,
        provider=hold.model.split("/", 1)[0],
        upstream_model=hold.model.split("/", 1)[1],
        route=0,
        endpoint=endpoint,
        stream=False,
        status_code=502 if failed else 200,
        status=status,
        created_at=hold.created_at,
        input_tokens=0 if failed else 120,
        output_tokens=0 if failed else 30,
        error_type="upstream_error" if failed else None,
        latency_ms=850,
        hold=hold.amount,
        charge=0 if failed else charge,
        video_seconds=video_seconds,
    )
    assert hotpath.settle(hold, usage, KeyPolicy())


def usage_call(name: str, key: str, **options) -> tuple[int, dict, object]:
    result = handle(FUNCTION, event(name, key=key, **options))
    headers = {k.lower(): v[-1] for k, v in (result.get("multiValueHeaders") or {}).items()}
    headers.update({k.lower(): v for k, v in (result.get("headers") or {}).items()})
    body = result["body"]
    if headers.get("content-type", "").startswith("application/json") and body:
        body = json.loads(body)
    return result["statusCode"], headers, body


def listed(customer: Customer, **query: str) -> dict:
    status, _, body = usage_call("usage_list", customer.admin_key, query=query)
    assert status == 200, body
    return body


# ------------------------------------------------------------------------------ the list


def test_proxied_requests_are_listed_newest_first_with_tokens_and_charge(hotpath, customer):
    proxied(hotpath, customer, "req-1", NOW - timedelta(hours=3))
    proxied(hotpath, customer, "req-2", NOW - timedelta(hours=1), charge=2_000_000)

    body = listed(customer)

    assert [r["request_id"] for r in body["data"]] == ["req-2", "req-1"]
    newest = body["data"][0]
    assert newest["key_id"] == customer.key_id
    assert (newest["input_tokens"], newest["output_tokens"], newest["total_tokens"]) == (
        120,
        30,
        150,
    )
    assert (newest["charge_usd"], newest["status"], newest["status_code"]) == (
        "0.002",
        "settled",
        200,
    )
    assert newest["created_at"] == int((NOW - timedelta(hours=1)).timestamp())
    assert not CONTENT_FIELDS & set(newest)
    assert body["has_more"] is False


def test_pages_cover_every_record_exactly_once(hotpath, customer):
    for n in range(7):
        proxied(hotpath, customer, f"req-{n}", NOW - timedelta(minutes=10 * n))

    seen, cursor = [], None
    while True:
        body = listed(customer, limit="3", **({"cursor": cursor} if cursor else {}))
        seen += [r["request_id"] for r in body["data"]]
        cursor = body["next_cursor"]
        if not body["has_more"]:
            break

    assert seen == [f"req-{n}" for n in range(7)]


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ({"model": "anthropic/claude-haiku-4-5"}, ["req-claude"]),
        ({"status": "error"}, ["req-failed"]),
        ({"endpoint": "embeddings"}, ["req-embed"]),
        ({"from": "2026-11-22", "to": "2026-11-22"}, ["req-yesterday"]),
    ],
)
def test_filters_narrow_the_list(hotpath, customer, query, expected):
    proxied(hotpath, customer, "req-yesterday", NOW - timedelta(days=1))
    proxied(
        hotpath,
        customer,
        "req-claude",
        NOW - timedelta(hours=4),
        model="anthropic/claude-haiku-4-5",
    )
    proxied(hotpath, customer, "req-failed", NOW - timedelta(hours=3), status="error")
    proxied(
        hotpath,
        customer,
        "req-embed",
        NOW - timedelta(hours=2),
        model="openai/text-embedding-3-small",
        endpoint="embeddings",
    )

    assert [r["request_id"] for r in listed(customer, **query)["data"]] == expected


@pytest.mark.parametrize("status", ["settled", "error", "cut", "client_closed", "abandoned"])
def test_every_status_a_record_can_have_filters_the_list(hotpath, customer, status):
    # given a record of each status a usage record can have
    for written in ("settled", "error", "cut", "client_closed", "abandoned"):
        proxied(hotpath, customer, f"req-{written}", NOW - timedelta(hours=1), status=written)

    # when the list is filtered by one of them
    answer = listed(customer, status=status)

    # then it is accepted and shows that record alone
    assert [r["request_id"] for r in answer["data"]] == [f"req-{status}"]


def test_the_key_filter_shows_one_keys_requests(hotpath, customer):
    proxied(hotpath, customer, "req-ci", NOW - timedelta(hours=2))
    proxied(hotpath, customer, "req-batch", NOW - timedelta(hours=1), key_id=customer.other_key_id)

    body = listed(customer, key_id=customer.other_key_id)

    assert [r["request_id"] for r in body["data"]] == ["req-batch"]


def test_nothing_older_than_90_days_is_listed_even_before_ttl_deletes_it(hotpath, customer):
    proxied(hotpath, customer, "req-recent", NOW - timedelta(days=89))
    proxied(hotpath, customer, "req-archived", NOW - timedelta(days=95))  # in the table still
    proxied(hotpath, customer, "req-expired", NOW - timedelta(days=120))  # TTL passed, not deleted

    assert [r["request_id"] for r in listed(customer)["data"]] == ["req-recent"]
    for request_id in ("req-archived", "req-expired"):
        status, _, body = usage_call(
            "usage_get", customer.admin_key, path_parameters={"request_id": request_id}
        )
        assert (status, body["error"]["code"]) == (404, "usage_not_found")


@pytest.mark.parametrize(
    ("query", "param"),
    [
        ({"from": "2026-08-01"}, "from"),  # more than 90 days ago: the archives have it
        ({"from": "yesterday"}, "from"),
        ({"to": "2026-13-01"}, "to"),
        ({"from": "2026-11-23", "to": "2026-11-20"}, "from"),
        ({"status": "pending"}, "status"),
        ({"endpoint": "completions"}, "endpoint"),
        ({"limit": "0"}, "limit"),
        ({"format": "xlsx"}, "format"),
        ({"cursor": "not-a-cursor"}, "cursor"),
    ],
)
def test_a_bad_filter_is_a_400_naming_it(customer, query, param):
    status, _, body = usage_call("usage_list", customer.admin_key, query=query)

    assert status == 400
    assert body["error"]["param"] == param


def test_from_a_few_hours_past_90_days_is_clamped_not_refused(hotpath, customer):
    proxied(hotpath, customer, "req-1", NOW - timedelta(days=1))

    body = listed(customer, **{"from": str(int((NOW - timedelta(days=90, hours=3)).timestamp()))})

    assert [r["request_id"] for r in body["data"]] == ["req-1"]


def test_another_accounts_cursor_is_refused(hotpath, customer, new_account):
    for n in range(3):
        proxied(hotpath, customer, f"req-{n}", NOW - timedelta(minutes=n))
    cursor = listed(customer, limit="1")["next_cursor"]
    stranger = a_customer(new_account)

    status, _, body = usage_call("usage_list", stranger.admin_key, query={"cursor": cursor})

    assert (status, body["error"]["param"]) == (400, "cursor")


def test_an_inference_key_cannot_read_usage(customer):
    inference = keys.create_key(customer.account_id, keys.NewKey(name="x", role="inference"))

    status, _, body = usage_call("usage_list", inference.secret, query={})

    assert (status, body["error"]["code"]) == (403, "admin_key_required")


# ------------------------------------------------------------------------------ CSV


def test_the_csv_download_has_a_header_row_and_spreadsheet_times(hotpath, customer):
    proxied(hotpath, customer, "req-1", NOW - timedelta(hours=2))
    proxied(hotpath, customer, "req-2", NOW - timedelta(hours=1), status="error")

    status, headers, body = usage_call("usage_csv", customer.admin_key, query={"format": "csv"})

    assert status == 200
    assert headers["content-type"].startswith("text/csv")
    assert 'filename="tollgate-usage.csv"' in headers["content-disposition"]
    rows = list(csv.DictReader(io.StringIO(body)))
    assert [(r["request_id"], r["status"], r["charge_usd"]) for r in rows] == [
        ("req-2", "error", "0.00"),
        ("req-1", "settled", "0.0015"),
    ]
    assert rows[1]["created_at"] == "2026-11-23 10:00:00"
    assert (rows[1]["stream"], rows[1]["total_tokens"]) == ("false", "150")


def test_the_csv_ends_with_the_seconds_a_video_job_delivered(hotpath, customer):
    # given a chat request, then a video job that delivered 8 seconds
    proxied(hotpath, customer, "req-chat", NOW - timedelta(hours=2))
    veo = "gemini/veo-3.0-generate-001"
    video = held(hotpath, customer, "req-video", NOW - timedelta(hours=1), model=veo)
    settled(hotpath, video, endpoint="videos", video_seconds=8)

    # when the usage is downloaded as CSV
    _, _, body = usage_call("usage_csv", customer.admin_key, query={"format": "csv"})

    # then the last column is the video's seconds, empty for the chat
    header, *rows = csv.reader(io.StringIO(body))
    assert header[-2:] == ["usage_estimated", "video_seconds"]
    assert [(row[0], row[-1]) for row in rows] == [("req-video", "8"), ("req-chat", "")]


# ------------------------------------------------------------------------------ one record


def test_one_record_by_its_request_id(hotpath, customer):
    proxied(hotpath, customer, "req-1", NOW - timedelta(hours=2))

    status, _, body = usage_call(
        "usage_get", customer.admin_key, path_parameters={"request_id": "req-1"}
    )

    assert status == 200
    assert (body["request_id"], body["model"], body["charge_usd"]) == (
        "req-1",
        "openai/gpt-4o-mini",
        "0.0015",
    )


def test_another_accounts_request_is_not_found(hotpath, customer, new_account):
    proxied(hotpath, customer, "req-1", NOW - timedelta(hours=2))
    stranger = a_customer(new_account)

    status, _, body = usage_call(
        "usage_get", stranger.admin_key, path_parameters={"request_id": "req-1"}
    )

    assert (status, body["error"]["code"]) == (404, "usage_not_found")


def test_a_record_asked_for_before_its_settle_landed_is_waited_for(hotpath, customer, monkeypatch):
    # given a request whose answer went out and whose settle lands while the API looks
    hold = held(hotpath, customer, "req-1")
    pending = usage_store.settle_pending
    looked = []

    def settle_as_the_api_looks(account_id: str, request_id: str) -> bool:
        answer = pending(account_id, request_id)
        if not looked:
            with RECORDER.paused():  # the proxy's settle, not the usage API's
                settled(hotpath, hold)
        looked.append(answer)
        return answer

    monkeypatch.setattr(usage_store, "settle_pending", settle_as_the_api_looks)

    # when the client asks for its record
    status, _, body = usage_call(
        "usage_get", customer.admin_key, path_parameters={"request_id": "req-1"}
    )

    # then it gets the record, not a 404
    assert looked == [True]
    assert (status, body["request_id"], body["charge_usd"]) == (200, "req-1", "0.0015")


def test_a_request_that_never_settles_is_not_found_after_a_bounded_wait(
    hotpath, customer, monkeypatch
):
    monkeypatch.setattr(usage, "PENDING_WAIT_SECONDS", 0.2)
    held(hotpath, customer, "req-1")

    status, _, body = usage_call(
        "usage_get", customer.admin_key, path_parameters={"request_id": "req-1"}
    )

    assert (status, body["error"]["code"]) == (404, "usage_not_found")


def test_another_accounts_pending_request_is_not_found_at_once(
    hotpath, customer, new_account, monkeypatch
):
    held(hotpath, customer, "req-1")
    stranger = a_customer(new_account)
    monkeypatch.setattr(usage, "PENDING_WAIT_SECONDS", 600)  # a wait here would hang the test

    status, _, body = usage_call(
        "usage_get", stranger.admin_key, path_parameters={"request_id": "req-1"}
    )

    assert (status, body["error"]["code"]) == (404, "usage_not_found")


# ------------------------------------------------------------------------------ the summary


def test_the_summary_adds_up_per_day_key_and_model(hotpath, customer):
    yesterday = NOW - timedelta(days=1)
    proxied(hotpath, customer, "req-1", yesterday, charge=1_000_000)
    proxied(hotpath, customer, "req-2", yesterday + timedelta(minutes=5), charge=2_000_000)
    proxied(hotpath, customer, "req-3", NOW - timedelta(hours=1), status="error")
    proxied(hotpath, customer, "req-4", NOW - timedelta(hours=1), key_id=customer.other_key_id)

    status, _, body = usage_call("usage_summary", customer.admin_key, query={"from": "2026-11-22"})

    assert status == 200
    rows = [
        (r["day"], r["key_id"], r["requests"], r["errors"], r["charge_usd"]) for r in body["data"]
    ]
    assert sorted(rows) == sorted(
        [
            ("2026-11-22", customer.key_id, 2, 0, "0.003"),
            ("2026-11-23", customer.key_id, 1, 1, "0.00"),
            ("2026-11-23", customer.other_key_id, 1, 0, "0.0015"),
        ]
    )
    assert body["total"] == {
        "requests": 4,
        "errors": 1,
        "input_tokens": 360,
        "output_tokens": 90,
        "total_tokens": 450,
        "charge_usd": "0.0045",
    }
    assert (body["from"], body["to"]) == ("2026-11-22", "2026-11-23")


def test_the_summary_filters_by_key(hotpath, customer):
    proxied(hotpath, customer, "req-1", NOW - timedelta(hours=2))
    proxied(hotpath, customer, "req-2", NOW - timedelta(hours=1), key_id=customer.other_key_id)

    status, _, body = usage_call(
        "usage_summary", customer.admin_key, query={"key_id": customer.other_key_id}
    )

    assert status == 200
    assert [r["key_id"] for r in body["data"]] == [customer.other_key_id]


def test_the_summary_refuses_filters_it_cannot_apply(customer):
    status, _, body = usage_call("usage_summary", customer.admin_key, query={"status": "error"})

    assert (status, body["error"]["param"]) == (400, "status")
