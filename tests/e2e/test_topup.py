"""A top-up end to end: `python -m devstack pay` opens a Checkout Session through the API,
pays it on the Stripe stand-in, whose signed webhook credits the wallet exactly once."""

from __future__ import annotations

import csv
import io
import json
import subprocess
import sys
from decimal import Decimal

import httpx
import pytest

from tests.e2e.conftest import ROOT
from tests.e2e.stack import COMMAND_TIMEOUT_S, HTTP_TIMEOUT_S, new_customer

pytestmark = pytest.mark.e2e


def pay(devstack, amount: str, account_id: str | None = None) -> dict:
    command = [sys.executable, "-m", "devstack", "--state-dir", devstack["STATE_DIR"], "pay"]
    command += ["--amount", amount] + (["--account", account_id] if account_id else [])
    done = subprocess.run(
        command, cwd=ROOT, capture_output=True, text=True, timeout=COMMAND_TIMEOUT_S, check=True
    )
    return json.loads(done.stdout)


def admin(devstack, key: str) -> httpx.Client:
    return httpx.Client(
        base_url=devstack["TOLLGATE_URL"],
        headers={"Authorization": f"Bearer {key}"},
        timeout=HTTP_TIMEOUT_S,
    )


def test_pay_credits_exactly_the_amount_once_with_its_payment_and_receipt(devstack):
    customer = new_customer(devstack, credit_usd=None)

    paid = pay(devstack, "20", customer.account_id)

    assert paid["webhook"]["delivered"] is True
    assert paid["balance_usd"] == "20.00"
    payment = paid["payment"]
    assert (payment["status"], payment["amount_usd"], payment["currency"]) == (
        "paid",
        "20.00",
        "usd",
    )
    assert payment["payment_intent_id"].startswith("pi_")
    receipt = httpx.get(payment["receipt_url"], timeout=HTTP_TIMEOUT_S)
    assert receipt.status_code == 200 and "20.00" in receipt.text
    with admin(devstack, customer.admin_key) as api:
        assert api.get("/v1/wallet").json()["balance_usd"] == "20.00"
        ledger = api.get("/v1/wallet/ledger").json()["data"]
        assert [(e["kind"], e["amount_usd"], e["balance_after_usd"]) for e in ledger] == [
            ("topup", "20.00", "20.00")
        ]
        assert (ledger[0]["reference"], ledger[0]["receipt_url"]) == (
            payment["id"],
            payment["receipt_url"],
        )
        payments = api.get("/v1/payments").json()["data"]
        assert [(p["id"], p["status"], p["receipt_url"]) for p in payments] == [
            (payment["id"], "paid", payment["receipt_url"])
        ]


def test_pay_defaults_to_the_demo_account(devstack):
    with admin(devstack, devstack["TOLLGATE_ADMIN_KEY"]) as api:
        before = api.get("/v1/wallet").json()["balance_usd"]

        paid = pay(devstack, "5.00")

        after = api.get("/v1/wallet").json()["balance_usd"]
    assert paid["balance_usd"] == after
    assert Decimal(after) - Decimal(before) == Decimal("5.00")


def test_the_ledger_downloads_as_csv_that_the_csv_module_reads(devstack):
    customer = new_customer(devstack, credit_usd="3.00")
    pay(devstack, "20.00", customer.account_id)

    with admin(devstack, customer.admin_key) as api:
        answer = api.get("/v1/wallet/ledger", params={"format": "csv"})

    assert answer.status_code == 200
    assert answer.headers["content-type"].startswith("text/csv")
    rows = list(csv.DictReader(io.StringIO(answer.text)))
    assert [(r["kind"], r["amount_usd"], r["balance_after_usd"]) for r in rows] == [
        ("topup", "20.00", "23.00"),
        ("adjustment", "3.00", "3.00"),
    ]
