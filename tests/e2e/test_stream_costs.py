"""Over HTTP, through devstack: a streaming client finds its cost where the README says, and a
client that hangs up mid-stream pays only what it was sent."""

from __future__ import annotations

import time
from decimal import Decimal

import anthropic
import httpx
import openai
import pytest

from tests.e2e.stack import new_customer, wallet

pytestmark = pytest.mark.e2e

RECORD_WAIT_SECONDS = 30  # a bound, not a race: the test polls until the record is there


def usage_record(devstack, admin_key: str, request_id: str) -> httpx.Response:
    return httpx.get(
        f"{devstack['TOLLGATE_URL']}/v1/usage/{request_id}",
        headers={"Authorization": f"Bearer {admin_key}"},
        timeout=30,
    )


def test_an_openai_sdk_stream_reads_its_hold_first_and_its_cost_last(devstack):
    customer = new_customer(devstack, credit_usd="1.00")
    client = openai.OpenAI(
        base_url=devstack["OPENAI_BASE_URL"], api_key=customer.api_key, max_retries=0
    )

    with client.chat.completions.with_streaming_response.create(
        model="openai/gpt-4o-mini", messages=[{"role": "user", "content": "Hi"}], stream=True
    ) as response:
        hold = Decimal(response.headers["x-tollgate-hold"])
        costs = [chunk.usage.cost for chunk in response.parse() if chunk.usage is not None]
        request_id = response.headers["x-request-id"]

    # the SDK stops at [DONE] and the settle follows it: asked at once, the API waits for it
    record = usage_record(devstack, customer.admin_key, request_id)
    assert record.status_code == 200
    balance, held = wallet(devstack, customer.account_id)
    (cost,) = costs
    assert Decimal(str(cost)) == Decimal(record.json()["charge_usd"]) <= hold
    assert held == 0 and Decimal("1.00") - Decimal(balance) / 10**9 == Decimal(str(cost))


def test_a_non_streamed_answers_record_is_there_when_asked_for_at_once(devstack):
    # given an answer, sent before its settle
    customer = new_customer(devstack, credit_usd="1.00")
    client = openai.OpenAI(
        base_url=devstack["OPENAI_BASE_URL"], api_key=customer.api_key, max_retries=0
    )
    response = client.chat.completions.with_raw_response.create(
        model="openai/gpt-4o-mini", messages=[{"role": "user", "content": "Hi"}]
    )

    # when the client asks for its record the moment it has the answer
    record = usage_record(devstack, customer.admin_key, response.headers["x-request-id"])

    # then it is there, with the cost the answer told
    assert record.status_code == 200, record.text
    assert record.json()["charge_usd"] == response.headers["x-tollgate-cost"]
    assert Decimal(str(response.parse().usage.cost)) == Decimal(record.json()["charge_usd"])


def test_an_anthropic_sdk_stream_reads_its_cost_in_message_delta(devstack):
    customer = new_customer(devstack, credit_usd="1.00")
    client = anthropic.Anthropic(
        base_url=devstack["TOLLGATE_URL"], api_key=customer.api_key, max_retries=0
    )

    with client.messages.stream(
        model="anthropic/claude-haiku-4-5",
        max_tokens=100,
        messages=[{"role": "user", "content": "Hi"}],
    ) as stream:
        costs = [event.usage.cost for event in stream if event.type == "message_delta"]
        request_id = stream.response.headers["x-request-id"]

    wallet(devstack, customer.account_id)  # the settle follows message_stop
    record = usage_record(devstack, customer.admin_key, request_id).json()
    assert [Decimal(str(c)) for c in costs] == [Decimal(record["charge_usd"])]


def test_a_client_that_hangs_up_mid_stream_pays_for_what_it_was_sent(devstack):
    # given a long, paced stream
    customer = new_customer(devstack, credit_usd="1.00")
    body = {
        "model": "openai/gpt-4.1",
        "messages": [{"role": "user", "content": "A story [[mock:chunk_delay_ms=200]]"}],
        "max_tokens": 200,
        "stream": True,
    }
    headers = {"Authorization": f"Bearer {customer.api_key}"}

    # when the client reads two events and closes the connection
    with (
        httpx.Client(timeout=30) as http,
        http.stream(
            "POST", f"{devstack['OPENAI_BASE_URL']}/chat/completions", json=body, headers=headers
        ) as response,
    ):
        request_id = response.headers["x-request-id"]
        lines = response.iter_lines()
        seen = 0
        while seen < 2:
            seen += next(lines).startswith("data: ")

    # then the record says client_closed and charges an estimate of the delivered output
    deadline = time.monotonic() + RECORD_WAIT_SECONDS
    while (found := usage_record(devstack, customer.admin_key, request_id)).status_code == 404:
        assert time.monotonic() < deadline, "no usage record after the client left"
        time.sleep(0.2)
    record = found.json()
    assert record["status"] == "client_closed" and record["usage_estimated"] is True
    assert 0 < record["output_tokens"] < 20  # the mock's reply is longer
    balance, held = wallet(devstack, customer.account_id)
    assert held == 0
    assert Decimal("1.00") - Decimal(balance) / 10**9 == Decimal(record["charge_usd"])
