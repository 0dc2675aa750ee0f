"""Money still adds up after many requests with faults mixed in, the settle after the answer
included: the wallet's debit, the usage records' charges and the ledger's charge entries of
the account agree to the nano-dollar, and nothing stays held.

Reads devstack's own tables (its DynamoDB emulator, through boto3), not our code's figures.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import boto3
import httpx
from boto3.dynamodb.conditions import Key

REQUESTS = 1000
CONCURRENCY = 8
MODEL = "openai/gpt-4o-mini"
FAULTS = ("", "[[mock:fault=500]]", "[[mock:fault=cut]]", "[[mock:fault=malformed]]")
SETTLE_DEADLINE_SECONDS = 120  # a bound for the last settles to land, not a wait


@dataclass(frozen=True)
class Books:
    """An account's money as its tables hold it, in nano-USD."""

    balance: int
    held: int
    ledger_charges: int  # the ledger's charge entries, as a positive sum
    record_charges: dict[str, int]  # request id -> the usage record's charge


class Tables:
    """devstack's wallet and metadata tables, read consistently."""

    def __init__(self, contract: dict[str, str]) -> None:
        state = json.loads((Path(contract["DEVSTACK_ENV_FILE"]).parent / "state.json").read_text())
        names = state["environment"]
        dynamodb = boto3.resource(
            "dynamodb",
            endpoint_url=contract["AWS_ENDPOINT_URL"],
            region_name=contract["AWS_REGION"],
            aws_access_key_id="devstack",
            aws_secret_access_key="devstack",
        )
        self.wallet = dynamodb.Table(names["WALLET_TABLE"])
        self.metadata = dynamodb.Table(names["METADATA_TABLE"])

    def books(self, account_id: str) -> Books:
        pk = f"ACCOUNT#{account_id}"
        wallet = self.wallet.get_item(Key={"pk": pk, "sk": "WALLET"}, ConsistentRead=True)["Item"]
        ledger = self._query(self.wallet, pk, "LEDGER#")
        records = self._query(self.metadata, pk, "USAGE#")
        return Books(
            balance=int(wallet["balance"]),
            held=int(wallet["held"]),
            ledger_charges=-sum(int(i["amount"]) for i in ledger if i.get("kind") == "charge"),
            record_charges={str(r["request_id"]): int(r["charge"]) for r in records},
        )

    def settled_books(self, account_id: str) -> Books:
        """The books once nothing is held: the last settles follow their answers."""
        deadline = time.monotonic() + SETTLE_DEADLINE_SECONDS
        while True:
            books = self.books(account_id)
            if books.held == 0 or time.monotonic() > deadline:
                return books
            time.sleep(0.2)

    @staticmethod
    def _query(table: Any, pk: str, prefix: str) -> list[dict[str, Any]]:
        items: list[dict[str, Any]] = []
        query = {
            "KeyConditionExpression": Key("pk").eq(pk) & Key("sk").begins_with(prefix),
            "ConsistentRead": True,
        }
        while True:
            page = table.query(**query)
            items.extend(page["Items"])
            if "LastEvaluatedKey" not in page:
                return items
            query["ExclusiveStartKey"] = page["LastEvaluatedKey"]


async def send_all(base_url: str, key: str) -> list[tuple[int, str]]:
    """REQUESTS chat requests, every other one streamed, a fault marker in three of four,
    CONCURRENCY at a time: (status, request id) of each."""
    gate = asyncio.Semaphore(CONCURRENCY)
    headers = {"Authorization": f"Bearer {key}"}

    async def one(client: httpx.AsyncClient, n: int) -> tuple[int, str]:
        body = {
            "model": MODEL,
            "messages": [{"role": "user", "content": f"Reconcile {FAULTS[n % len(FAULTS)]}"}],
            "max_tokens": 30,
            "stream": n % 2 == 1,
        }
        async with gate:
            answer = await client.post(f"{base_url}/chat/completions", json=body, headers=headers)
            return answer.status_code, answer.headers.get("x-request-id", "")

    async with httpx.AsyncClient(timeout=120) as client:
        return await asyncio.gather(*(one(client, n) for n in range(REQUESTS)))


def report(contract: dict[str, str]) -> bool:
    """Send the requests through devstack and print whether the books agree."""
    account_id = contract["TOLLGATE_ACCOUNT_ID"]
    tables = Tables(contract)
    before = tables.settled_books(account_id)
    answers = asyncio.run(send_all(contract["OPENAI_BASE_URL"], contract["TOLLGATE_API_KEY"]))
    after = tables.settled_books(account_id)

    debit = before.balance - after.balance
    ledger = after.ledger_charges - before.ledger_charges
    new_records = {r: c for r, c in after.record_charges.items() if r not in before.record_charges}
    asked = {request_id for _, request_id in answers}
    records = sum(new_records.values())
    agree = after.held == 0 and debit == ledger == records and asked == set(new_records)
    statuses = ", ".join(f"{n}x {s}" for s, n in sorted(Counter(s for s, _ in answers).items()))
    print(
        f"reconcile: {REQUESTS} chat requests, half streamed, a fault marker in three of four,"
        f" {CONCURRENCY} at a time ({statuses})"
    )
    print(
        f"  wallet debit {debit} = usage records {records} = ledger charges {ledger} (nano-USD);"
        f" held after {after.held}; a record for each request: {asked == set(new_records)}"
    )
    print(f"  books agree: {'yes' if agree else 'NO'}")
    return agree
