"""Over HTTP, through devstack: a hundred clients at once on a wallet that affords ten holds,
half of them streaming, some meeting upstream faults. Each reads what it paid, and the
records, the wallet and the ledger all agree with what the clients read."""

from __future__ import annotations

import asyncio
import json
from decimal import Decimal

import httpx
import pytest

from tests.e2e.stack import (
    HTTP_TIMEOUT_S,
    charges_in_ledger,
    new_customer,
    usage_records,
    wallet,
)
from tollgate import pricing
from tollgate.catalog import load_catalog
from tollgate.proxy.chat import chat_input

pytestmark = pytest.mark.e2e

MODEL = "openai/gpt-4.1"
FAULTS = ["", "[[mock:fault=500]]", "[[mock:fault=cut]]", "[[mock:fault=malformed]]"]


def chat(text: str, *, stream: bool) -> dict:
    body = {"model": MODEL, "messages": [{"role": "user", "content": text}], "max_tokens": 200}
    return {**body, "stream": stream}


def observed_cost(answer: httpx.Response) -> Decimal | None:
    """The cost a client can read: the header, else the last stream event with usage.cost."""
    if "x-tollgate-cost" in answer.headers:
        return Decimal(answer.headers["x-tollgate-cost"])
    found = None
    for line in answer.text.splitlines():
        if not line.startswith("data: ") or line == "data: [DONE]":
            continue
        usage = json.loads(line[len("data: ") :]).get("usage")
        if isinstance(usage, dict) and "cost" in usage:
            found = Decimal(str(usage["cost"]))
    return found


def test_a_hundred_concurrent_clients_each_read_exactly_what_they_paid(devstack):
    # given a wallet that affords about ten holds
    texts = [f"Story {FAULTS[n % 4]}" for n in range(100)]
    longest = chat(max(texts, key=len), stream=False)
    hold = pricing.chat_hold(load_catalog().model(MODEL), chat_input(longest), max_output=200)
    credit = hold * 10 + hold // 2
    customer = new_customer(devstack, credit_usd=f"{Decimal(credit) / 10**9}")
    headers = {"Authorization": f"Bearer {customer.api_key}"}
    url = f"{devstack['OPENAI_BASE_URL']}/chat/completions"

    # when a hundred requests, every other one a stream, run at once
    async def everyone() -> list[httpx.Response]:
        limits = httpx.Limits(max_connections=100)
        async with httpx.AsyncClient(timeout=HTTP_TIMEOUT_S, limits=limits) as client:
            return await asyncio.gather(
                *(
                    client.post(url, json=chat(text, stream=n % 2 == 1), headers=headers)
                    for n, text in enumerate(texts)
                )
            )

    answers = asyncio.run(everyone())

    # then each client's observed cost is its record's charge, and they add up to the debit
    records = {r["request_id"]: r for r in usage_records(devstack, customer.account_id)}
    assert any(a.status_code == 200 for a in answers)
    assert any(a.status_code == 402 for a in answers)
    observed_total = 0
    for answer in answers:
        observed = observed_cost(answer)
        assert observed is not None, (answer.status_code, answer.text[-300:])
        if answer.status_code == 402:
            assert observed == 0
            continue
        record = records[answer.headers["x-request-id"]]
        observed_nanos = int(observed * 10**9)
        assert observed_nanos == int(record["charge"]), (answer.status_code, record)
        observed_total += observed_nanos
    balance, held = wallet(devstack, customer.account_id)
    assert held == 0
    assert credit - balance == observed_total == charges_in_ledger(devstack, customer.account_id)
