"""Helpers for tests that drive the running devstack: its tables, funded accounts, keys."""

from __future__ import annotations

import io
import json
import subprocess
import sys
import time
import uuid
import zipfile
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from typing import Any

import boto3
import httpx

ROOT = Path(__file__).resolve().parents[2]
# A deadline for each HTTP answer (httpx's default is 5 s), generous for a loaded machine.
HTTP_TIMEOUT_S = 120
COMMAND_TIMEOUT_S = 600  # the same for a `python -m devstack ...` command
# A non-streamed answer reaches its client a transaction before its settle is done: what the
# settle writes (wallet, records) is read once nothing is held, waiting at most this long.
SETTLE_WAIT_S = 60


def stack_environment(devstack: dict[str, str]) -> dict[str, str]:
    state = json.loads((Path(devstack["STATE_DIR"]) / "state.json").read_text())
    return state["environment"]


def dynamodb(devstack: dict[str, str]) -> Any:
    return boto3.resource(
        "dynamodb",
        endpoint_url=devstack["AWS_ENDPOINT_URL"],
        region_name=devstack["AWS_REGION"],
        aws_access_key_id="devstack",
        aws_secret_access_key="devstack",
    )


def table(devstack: dict[str, str], variable: str) -> Any:
    return dynamodb(devstack).Table(stack_environment(devstack)[variable])


@dataclass
class Customer:
    account_id: str
    admin_key: str
    api_key: str


def new_customer(devstack: dict[str, str], *, credit_usd: str | None) -> Customer:
    """An account made by the operator over HTTP, with an inference key and credit."""
    url = devstack["TOLLGATE_URL"]
    operator = {"Authorization": f"Bearer {devstack['TOLLGATE_OPERATOR_KEY']}"}
    email = f"customer-{uuid.uuid4().hex[:12]}@example.com"
    created = httpx.post(
        f"{url}/operator/accounts",
        json={"email": email, "name": "E2E"},
        headers=operator,
        timeout=HTTP_TIMEOUT_S,
    ).json()
    admin = created["admin_key"]["secret"]
    key = httpx.post(
        f"{url}/v1/keys",
        json={"name": "e2e", "role": "inference"},
        headers={"Authorization": f"Bearer {admin}"},
        timeout=HTTP_TIMEOUT_S,
    ).json()["secret"]
    customer = Customer(created["account"]["id"], admin, key)
    if credit_usd is not None:
        credit(devstack, customer.account_id, credit_usd)
    return customer


def credit(devstack: dict[str, str], account_id: str, amount_usd: str) -> None:
    subprocess.run(
        [
            sys.executable,
            "-m",
            "devstack",
            "--state-dir",
            devstack["STATE_DIR"],
            "credit",
            account_id,
            amount_usd,
        ],
        cwd=ROOT,
        check=True,
        capture_output=True,
        timeout=COMMAND_TIMEOUT_S,
    )


def wallet(devstack: dict[str, str], account_id: str) -> tuple[int, int]:
    """(balance, held) in nano-USD once the account's answered requests are settled (held 0),
    or as it is after ``SETTLE_WAIT_S``."""
    deadline = time.monotonic() + SETTLE_WAIT_S
    while True:
        item = table(devstack, "WALLET_TABLE").get_item(
            Key={"pk": f"ACCOUNT#{account_id}", "sk": "WALLET"}, ConsistentRead=True
        )["Item"]
        if not int(item["held"]) or time.monotonic() > deadline:
            return int(item["balance"]), int(item["held"])
        time.sleep(0.05)


def usage_records(devstack: dict[str, str], account_id: str) -> list[dict[str, Any]]:
    """The account's usage records once its answered requests are settled."""
    from boto3.dynamodb.conditions import Key

    wallet(devstack, account_id)
    answer = table(devstack, "METADATA_TABLE").query(
        KeyConditionExpression=Key("pk").eq(f"ACCOUNT#{account_id}")
        & Key("sk").begins_with("USAGE#"),
        ConsistentRead=True,
    )
    return answer["Items"]


def nanos(usd: str | float | Decimal) -> int:
    return int(Decimal(str(usd)) * 10**9)


def charges_in_ledger(devstack: dict[str, str], account_id: str) -> int:
    """What the ledger says the account was charged, in nano-USD (a positive number)."""
    from boto3.dynamodb.conditions import Key

    items = table(devstack, "WALLET_TABLE").query(
        KeyConditionExpression=Key("pk").eq(f"ACCOUNT#{account_id}")
        & Key("sk").begins_with("LEDGER#"),
        ConsistentRead=True,
    )["Items"]
    return -sum(int(item["amount"]) for item in items if item["kind"] == "charge")


# A deadline for an export to be written, generous for a loaded machine: not a wait.
EXPORT_DEADLINE_S = 600


def export_account(devstack: dict[str, str], admin_key: str) -> dict[str, Any]:
    """Start an export of the key's account over HTTP and poll it until it is no longer under
    way (or the deadline passed): its last view."""
    with httpx.Client(
        base_url=devstack["TOLLGATE_URL"],
        headers={"Authorization": f"Bearer {admin_key}"},
        timeout=HTTP_TIMEOUT_S,
    ) as api:
        started = api.post("/v1/account/exports")
        assert started.status_code == 202, started.text
        export = started.json()
        deadline = time.monotonic() + EXPORT_DEADLINE_S
        while export["status"] in ("pending", "running") and time.monotonic() < deadline:
            time.sleep(0.5)
            export = api.get(f"/v1/account/exports/{export['id']}").json()
    return export


def export_files(export: dict[str, Any]) -> dict[str, bytes]:
    """The files of a ready export's ZIP, downloaded through its link."""
    download = httpx.get(export["download_url"], timeout=HTTP_TIMEOUT_S)
    assert download.status_code == 200
    with zipfile.ZipFile(io.BytesIO(download.content)) as archive:
        return {name: archive.read(name) for name in archive.namelist()}
