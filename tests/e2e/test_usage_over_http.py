"""A customer proxies requests with the OpenAI SDK, then reads them back from /v1/usage (JSON
and CSV) and /v1/usage/summary: tokens and charges, and never a word of the conversation."""

from __future__ import annotations

import csv
import io
from decimal import Decimal

import httpx
import openai
import pytest

from tests.e2e.stack import HTTP_TIMEOUT_S, new_customer, wallet

pytestmark = pytest.mark.e2e

SECRET_PROMPT = "the canary sings at midnight"


def admin(devstack, key: str) -> httpx.Client:
    return httpx.Client(
        base_url=devstack["TOLLGATE_URL"],
        headers={"Authorization": f"Bearer {key}"},
        timeout=HTTP_TIMEOUT_S,
    )


@pytest.fixture(scope="module")
def customer_with_usage(devstack):
    customer = new_customer(devstack, credit_usd="5.00")
    client = openai.OpenAI(
        base_url=devstack["OPENAI_BASE_URL"], api_key=customer.api_key, max_retries=0
    )
    answers = [
        client.chat.completions.with_raw_response.create(
            model=model, messages=[{"role": "user", "content": SECRET_PROMPT}]
        )
        for model in ("openai/gpt-4o-mini", "anthropic/claude-haiku-4-5")
    ]
    wallet(devstack, customer.account_id)  # the last answer's settle may still be under way
    return customer, answers


def test_usage_lists_the_proxied_requests_with_tokens_and_charges(devstack, customer_with_usage):
    customer, answers = customer_with_usage

    with admin(devstack, customer.admin_key) as api:
        listed = api.get("/v1/usage").json()

    by_id = {record["request_id"]: record for record in listed["data"]}
    for answer in answers:
        record = by_id[answer.headers["x-request-id"]]
        completion = answer.parse()
        assert record["input_tokens"] == completion.usage.prompt_tokens
        assert record["output_tokens"] == completion.usage.completion_tokens
        assert Decimal(record["charge_usd"]) == Decimal(answer.headers["x-tollgate-cost"])
        assert record["status"] == "settled"
    assert SECRET_PROMPT not in str(listed)


def test_usage_downloads_as_csv_that_a_spreadsheet_opens(devstack, customer_with_usage):
    customer, answers = customer_with_usage

    with admin(devstack, customer.admin_key) as api:
        answer = api.get("/v1/usage", params={"format": "csv"})

    assert answer.status_code == 200
    assert answer.headers["content-type"].startswith("text/csv")
    rows = list(csv.DictReader(io.StringIO(answer.text)))
    assert {row["request_id"] for row in rows} == {a.headers["x-request-id"] for a in answers}
    assert all(row["created_at"][4] == "-" and row["charge_usd"] for row in rows)
    assert SECRET_PROMPT not in answer.text


def test_one_request_and_the_summary(devstack, customer_with_usage):
    customer, answers = customer_with_usage
    request_id = answers[0].headers["x-request-id"]

    with admin(devstack, customer.admin_key) as api:
        one = api.get(f"/v1/usage/{request_id}").json()
        summary = api.get("/v1/usage/summary").json()

    assert one["request_id"] == request_id
    assert summary["total"]["requests"] == 2
    assert {row["model"] for row in summary["data"]} == {
        "openai/gpt-4o-mini",
        "anthropic/claude-haiku-4-5",
    }
    total = sum(Decimal(a.headers["x-tollgate-cost"]) for a in answers)
    assert Decimal(summary["total"]["charge_usd"]) == total
