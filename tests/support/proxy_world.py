"""The world of the proxy's in-process integration tests: the mock upstreams, the proxy's app
on them, and funded customers with an inference key, built through the real services; plus
readers of what the money tables and the usage API say. tests/integration/conftest.py
registers the fixtures."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import boto3
import pytest
from boto3.dynamodb.conditions import Key

from devstack.upstreams import RunningUpstreams, start_upstreams
from tests.support.environment import NAMES
from tests.support.proxy_asgi import proxy_app
from tollgate import keys, ledger
from tollgate.proxy.app import ProxyApp

PROVIDER_KEYS = {"openai": "mock-openai", "anthropic": "mock-anthropic", "gemini": "mock-gemini"}


@dataclass
class Customer:
    account_id: str
    admin_key: str
    api_key: str  # an inference key's secret
    key_id: str  # that key's id


@pytest.fixture(scope="module")
def upstreams() -> Iterator[RunningUpstreams]:
    running = start_upstreams(PROVIDER_KEYS)
    yield running
    running.stop()


@pytest.fixture
def app(aws: None, atomic_requests: None, upstreams: RunningUpstreams, tmp_path: Path) -> ProxyApp:
    """The proxy's app on the mock upstreams, whose records of what they received start empty."""
    upstreams.app.reset()
    return proxy_app(upstreams, PROVIDER_KEYS, tmp_path)


@pytest.fixture
def customer(new_account: Callable[..., Any]) -> Callable[..., Customer]:
    """Builds a customer: a new account with ``credit`` nano-USD and an inference key whose
    policy fields are given as POST /v1/keys takes them (``allowed_models=[...]``)."""

    def build(credit: int = 10**10, **policy: Any) -> Customer:
        account = new_account()
        if credit:
            ledger.credit(account.account_id, credit, kind="adjustment", reason="test credit")
        created = keys.create_key(account.account_id, keys.parse_new_key({"name": "ci", **policy}))
        return Customer(account.account_id, account.admin_key, created.secret, created.key.key_id)

    return build


def wallet(account_id: str) -> tuple[int, int]:
    """(balance, held) of the account's wallet."""
    item = _table("WalletTable").get_item(
        Key={"pk": f"ACCOUNT#{account_id}", "sk": "WALLET"}, ConsistentRead=True
    )["Item"]
    return int(item["balance"]), int(item["held"])


def charges_in_ledger(account_id: str) -> int:
    items = _query("WalletTable", account_id, "LEDGER#")
    return -sum(int(item["amount"]) for item in items if item["kind"] == "charge")


def usage_records(account_id: str) -> list[dict[str, Any]]:
    return _query("MetadataTable", account_id, "USAGE#")


def _query(table: str, account_id: str, prefix: str) -> list[dict[str, Any]]:
    return _table(table).query(
        KeyConditionExpression=Key("pk").eq(f"ACCOUNT#{account_id}")
        & Key("sk").begins_with(prefix),
        ConsistentRead=True,
    )["Items"]


def _table(logical_id: str) -> Any:
    return boto3.resource("dynamodb", region_name=NAMES.region).Table(NAMES.ref(logical_id))
