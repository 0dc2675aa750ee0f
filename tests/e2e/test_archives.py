"""Archives end to end: a customer proxies requests today, ArchiveFunction runs through
`python -m devstack invoke` with a clock months ahead, and the customer downloads the month's
batch through /v1/archives: the request ids are there, the conversation is not.

The stack started today, and devstack seeds the archive job's first day with that day, so a
far clock archives today's usage whatever ran before; a second run changes nothing.
"""

from __future__ import annotations

import gzip
import json
import subprocess
import sys
from datetime import UTC, date, datetime, timedelta

import httpx
import openai
import pytest

from tests.e2e.conftest import ROOT
from tests.e2e.stack import COMMAND_TIMEOUT_S, HTTP_TIMEOUT_S, new_customer, usage_records

pytestmark = pytest.mark.e2e

SECRET_PROMPT = "the archivist keeps no words"


def admin(devstack, key: str) -> httpx.Client:
    return httpx.Client(
        base_url=devstack["TOLLGATE_URL"],
        headers={"Authorization": f"Bearer {key}"},
        timeout=HTTP_TIMEOUT_S,
    )


def run_archive(devstack, now: datetime) -> dict:
    done = subprocess.run(
        [
            sys.executable, "-m", "devstack", "--state-dir", devstack["STATE_DIR"],
            "invoke", "ArchiveFunction", "--event", str(ROOT / "events" / "archive_scheduled.json"),
            "--now", now.strftime("%Y-%m-%dT%H:%M:%SZ"),
        ],
        cwd=ROOT, capture_output=True, text=True, timeout=COMMAND_TIMEOUT_S, check=True,
    )  # fmt: skip
    return json.loads(done.stdout)


def when_complete(month: date) -> datetime:
    """A run after which the month is archived: its last day is past 90 days."""
    following = (month.replace(day=28) + timedelta(days=4)).replace(day=1)
    return datetime.combine(following, datetime.min.time(), UTC) + timedelta(days=91, hours=3)


@pytest.fixture(scope="module")
def archived(devstack):
    """A customer's requests of today, archived by a run in the future: the customer, the ids
    and the month."""
    customer = new_customer(devstack, credit_usd="5.00")
    client = openai.OpenAI(
        base_url=devstack["OPENAI_BASE_URL"], api_key=customer.api_key, max_retries=0
    )
    request_ids = [
        client.chat.completions.with_raw_response.create(
            model="openai/gpt-4o-mini", messages=[{"role": "user", "content": SECRET_PROMPT}]
        ).headers["x-request-id"]
        for _ in range(2)
    ]
    made = [r["created_at"] for r in usage_records(devstack, customer.account_id)]
    month = max(datetime.fromisoformat(at.replace("+0000", "+00:00")) for at in made).date()
    assert {m[:7] for m in made} == {month.strftime("%Y-%m")}, "requests crossed a month"
    summary = run_archive(devstack, when_complete(month.replace(day=1)))
    return customer, request_ids, month.strftime("%Y-%m"), summary


def test_a_run_months_ahead_batches_todays_month(archived):
    _, _, month, summary = archived

    assert month in summary["months_batched"]
    assert summary["complete"] is True


def test_the_owner_lists_the_month_with_its_size_and_count(devstack, archived):
    customer, _, month, _ = archived

    with admin(devstack, customer.admin_key) as api:
        listed = api.get("/v1/archives").json()

    assert [(a["month"], a["record_count"]) for a in listed["data"]] == [(month, 2)]
    assert listed["data"][0]["size_bytes"] > 0


def test_the_download_link_serves_the_batch_with_ids_and_no_content(devstack, archived):
    customer, request_ids, month, _ = archived

    with admin(devstack, customer.admin_key) as api:
        answer = api.get(f"/v1/archives/{month}", follow_redirects=False)
    download = httpx.get(answer.headers["location"], timeout=HTTP_TIMEOUT_S)

    assert answer.status_code == 302
    assert download.status_code == 200
    assert SECRET_PROMPT.encode() not in gzip.decompress(download.content)
    lines = [json.loads(line) for line in gzip.decompress(download.content).splitlines()]
    assert sorted(line["request_id"] for line in lines) == sorted(request_ids)
    assert {line["account_id"] for line in lines} == {customer.account_id}


def test_another_customer_cannot_get_the_month(devstack, archived):
    _, _, month, _ = archived
    other = new_customer(devstack, credit_usd=None)

    with admin(devstack, other.admin_key) as api:
        answer = api.get(f"/v1/archives/{month}", follow_redirects=False)

    assert answer.status_code == 404
    assert answer.json()["error"]["code"] == "archive_not_found"


def test_a_second_run_at_the_same_time_changes_nothing(devstack, archived):
    _, _, _, first = archived

    again = run_archive(devstack, datetime.fromisoformat(first["now"]))

    assert (again["days_archived"], again["months_batched"]) == ([], [])
