"""A suspended account's inference keys are refused with 403 ``account_suspended`` on the very
next request, in each client's wire format: the hold transaction checks the account is active,
so no cached key record lets a request through, and under concurrent requests none whose hold
comes after the suspension's write is served. Reinstated, the key is served again."""

from __future__ import annotations

import asyncio
import json
import threading
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import boto3
import pytest
from boto3.dynamodb.conditions import Key
from moto.core.botocore_stubber import BotocoreStubber

from devstack.lambda_runtime import LambdaContext
from tests.integration.conftest import RECORDER, event
from tests.support.environment import NAMES, OPERATOR_KEY, TEMPLATE
from tests.support.iam import denied
from tests.support.proxy_asgi import Exchange, call, proxy_app
from tests.support.proxy_world import PROVIDER_KEYS, Customer, wallet
from tollgate.errors import AccountSuspended
from tollgate.key_policy import KeyPolicy
from tollgate.proxy.app import ProxyApp
from tollgate.store.hotpath import Hold

MODEL = "openai/gpt-4.1"
CHAT = {"model": MODEL, "messages": [{"role": "user", "content": "Hello"}], "max_tokens": 50}
MESSAGE = {"model": MODEL, "max_tokens": 50, "messages": [{"role": "user", "content": "Hello"}]}
FUNDS = 10**9  # 1 USD: what the wallets below are checked against


@pytest.fixture
def customer(customer: Callable[..., Customer]) -> Callable[[], Customer]:
    """The shared world's customer (tests/support/proxy_world.py), credited FUNDS."""
    return lambda: customer(FUNDS)


def run(app: ProxyApp, path: str, body: Any, key: str, method: str = "POST") -> Exchange:
    return asyncio.run(call(app, path, body, key=key, method=method))


def operator(route: str, account_id: str, reason: str) -> dict[str, Any]:
    """The operator's suspend or reinstate, through AccountFunction's handler."""
    from functions.account.app import lambda_handler

    request = event(
        f"account_{route}",
        key=OPERATOR_KEY,
        body={"reason": reason},
        path_parameters={"account_id": account_id},
    )
    context = LambdaContext(function_name="AccountFunction", region=NAMES.region)
    answer = lambda_handler(request, context)
    assert answer["statusCode"] == 200, answer["body"]
    return answer


def wallet_table() -> Any:
    return boto3.resource("dynamodb", region_name=NAMES.region).Table(NAMES.ref("WalletTable"))


def holds(account_id: str) -> list[dict[str, Any]]:
    return wallet_table().query(
        KeyConditionExpression=Key("pk").eq(f"ACCOUNT#{account_id}")
        & Key("sk").begins_with("HOLD#")
    )["Items"]


def assert_refused_as_suspended(answer: Exchange, wire: str) -> None:
    assert answer.status == 403, answer.body
    body = answer.json()
    if wire == "anthropic":
        assert body["type"] == "error"
        assert body["error"]["type"] == "permission_error"
        assert "suspended" in body["error"]["message"]
    else:
        assert body["error"]["code"] == "account_suspended"
        assert body["error"]["type"] == "permission_error"
    assert answer.headers["x-tollgate-cost"] == "0.00"


# ------------------------------------------------------------------------ the next request


def test_a_suspended_accounts_cached_key_is_refused_on_the_next_request_in_both_formats(
    app, customer
):
    # given a key served a moment ago, so its record sits in the proxy's key cache
    buyer = customer()
    assert run(app, "/v1/chat/completions", CHAT, buyer.api_key).status == 200
    before = wallet(buyer.account_id)

    # when the operator suspends its account
    operator("suspend", buyer.account_id, "Chargebacks under review")

    # then its next requests are refused, each in its client's wire format
    assert_refused_as_suspended(run(app, "/v1/chat/completions", CHAT, buyer.api_key), "openai")
    assert_refused_as_suspended(run(app, "/v1/messages", MESSAGE, buyer.api_key), "anthropic")
    assert_refused_as_suspended(run(app, "/v1/models", None, buyer.api_key, method="GET"), "openai")
    # and nothing was held or charged for them
    assert wallet(buyer.account_id) == before
    assert holds(buyer.account_id) == []


def test_a_reinstated_account_is_served_again(app, customer):
    buyer = customer()
    operator("suspend", buyer.account_id, "Chargebacks under review")
    assert run(app, "/v1/chat/completions", CHAT, buyer.api_key).status == 403

    operator("reinstate", buyer.account_id, "Review closed")

    assert run(app, "/v1/chat/completions", CHAT, buyer.api_key).status == 200
    assert run(app, "/v1/messages", MESSAGE, buyer.api_key).status == 200
    assert run(app, "/v1/models", None, buyer.api_key, method="GET").status == 200
    assert wallet(buyer.account_id)[1] == 0
    assert holds(buyer.account_id) == []


def test_another_accounts_suspension_leaves_this_one_served(app, customer):
    mine, theirs = customer(), customer()

    operator("suspend", theirs.account_id, "Chargebacks under review")

    assert run(app, "/v1/chat/completions", CHAT, mine.api_key).status == 200


def test_the_hold_itself_refuses_a_suspended_account_whatever_the_caller_read(hotpath, customer):
    # given a key record read while the account was active (as a proxy may have cached it)
    from tollgate.secret_keys import digest

    buyer = customer()
    record = hotpath.find_key(digest(buyer.api_key))
    assert record is not None and record.account_status == "active"
    operator("suspend", buyer.account_id, "Chargebacks under review")
    now = datetime.now(UTC)
    hold = Hold(
        "req-1", buyer.account_id, buyer.key_id, MODEL, 1000, now, now + timedelta(minutes=6)
    )

    # when a hold is taken with it, or without any record, then the account is refused
    for known in (record, None):
        with pytest.raises(AccountSuspended):
            hotpath.hold(hold, KeyPolicy(), known)

    # and a fresh read says why
    fresh = hotpath.find_key(digest(buyer.api_key))
    assert fresh is not None and fresh.account_status == "suspended"
    assert wallet(buyer.account_id) == (FUNDS, 0)


def test_reading_the_account_with_the_key_and_the_check_stay_inside_the_proxys_iam(
    hotpath, customer
):
    from tollgate.secret_keys import digest

    buyer = customer()
    now = datetime.now(UTC)
    hold = Hold(
        "req-1", buyer.account_id, buyer.key_id, MODEL, 1000, now, now + timedelta(minutes=6)
    )

    with RECORDER.recording() as calls:
        record = hotpath.find_key(digest(buyer.api_key))
        hotpath.hold(hold, KeyPolicy(), record)

    assert {c.action for c in calls} >= {"dynamodb:BatchGetItem", "dynamodb:ConditionCheckItem"}
    assert not denied(calls, TEMPLATE.functions()["ProxyFunction"].policies, NAMES)


# ------------------------------------------------------------------------- the acceptance


@dataclass
class Applied:
    """One DynamoDB request as moto applied it, in the order it did."""

    what: str  # "hold" (request id in ``request``) or "suspension"
    request: str
    applied: bool


class OrderedDynamoDB:
    """Serves moto's DynamoDB one request at a time (as devstack's moto server does) and keeps
    the order in which it applied holds and the suspension's write: evidence the proxy cannot
    arrange. Once ``gate_after`` holds are applied, further holds wait until the suspension is
    written, so the suspension surely lands while requests are in flight (which of them come
    before it is still up to the requests)."""

    def __init__(self, gate_after: int) -> None:
        self.log: list[Applied] = []
        self.gate_after = gate_after
        self.lock = threading.Lock()
        self.holds_applied = threading.Event()
        self.suspension_written = threading.Event()

    def install(self, monkeypatch: pytest.MonkeyPatch) -> None:
        handle = BotocoreStubber.__call__
        ordered = self

        def one_at_a_time(stubber, event_name, request, **kwargs):
            what, about = ordered._classify(request)
            while True:
                with ordered.lock:
                    if not (what == "hold" and ordered._gated()):
                        response = handle(stubber, event_name, request, **kwargs)
                        if what:
                            ordered._note(what, about, response.status_code == 200)
                        return response
                assert ordered.suspension_written.wait(timeout=600), "no suspension came"

        monkeypatch.setattr(BotocoreStubber, "__call__", one_at_a_time)

    def _classify(self, request: Any) -> tuple[str, str]:
        target = request.headers.get("X-Amz-Target", b"")
        target = target.decode() if isinstance(target, bytes) else target
        if not target.startswith("DynamoDB_") or not request.body:
            return "", ""
        body = json.loads(request.body)
        if target.endswith(".TransactWriteItems"):
            for item in body["TransactItems"]:
                put = item.get("Put", {}).get("Item", {})
                if put.get("sk", {}).get("S", "").startswith("HOLD#"):
                    return "hold", put["request_id"]["S"]
        names = json.dumps(body.get("ExpressionAttributeNames", {}))
        if (
            target.endswith(".UpdateItem")
            and body["Key"]["sk"]["S"] == "PROFILE"
            and "status" in names
        ):
            return "suspension", body["Key"]["pk"]["S"]
        return "", ""

    def _gated(self) -> bool:
        return self.holds_applied.is_set() and not self.suspension_written.is_set()

    def _note(self, what: str, about: str, applied: bool) -> None:
        self.log.append(Applied(what, about, applied))
        holds = sum(1 for e in self.log if e.what == "hold" and e.applied)
        if what == "hold" and applied and holds >= self.gate_after:
            self.holds_applied.set()
        if what == "suspension" and applied:
            self.suspension_written.set()


def test_under_twenty_concurrent_requests_none_is_served_after_the_suspensions_write(
    aws, monkeypatch, upstreams, tmp_path, customer
):
    # given a funded key and DynamoDB applying one request at a time, its order recorded
    ordered = OrderedDynamoDB(gate_after=3)
    ordered.install(monkeypatch)
    app = proxy_app(upstreams, PROVIDER_KEYS, tmp_path)
    buyer = customer()

    # when twenty requests run at once and the operator suspends the account meanwhile
    # (once a few holds are in, so the write lands while the others are in flight)
    suspension: dict[str, Any] = {}

    def suspend_when_requests_run() -> None:
        assert ordered.holds_applied.wait(timeout=600)
        suspension.update(operator("suspend", buyer.account_id, "Chargebacks under review"))

    operator_thread = threading.Thread(target=suspend_when_requests_run)
    operator_thread.start()

    async def twenty() -> list[Exchange]:
        return await asyncio.gather(
            *(
                call(app, "/v1/chat/completions", {**CHAT, "stream": n % 2 == 1}, key=buyer.api_key)
                for n in range(20)
            )
        )

    answers = asyncio.run(twenty())
    operator_thread.join()
    assert suspension, "the suspension was written"

    # then, in the order DynamoDB applied them, every served request's hold came before the
    # suspension's write, and every hold after it was refused
    (written,) = [i for i, e in enumerate(ordered.log) if e.what == "suspension" and e.applied]
    applied_at = {e.request: i for i, e in enumerate(ordered.log) if e.what == "hold" and e.applied}
    assert all(not e.applied for e in ordered.log[written:] if e.what == "hold")
    served = [a for a in answers if a.status == 200]
    refused = [a for a in answers if a.status != 200]
    assert served and refused  # the write landed while requests were in flight
    for answer in served:
        assert applied_at[answer.headers["x-request-id"]] < written
    for answer in refused:
        assert_refused_as_suspended(answer, "openai")
        assert answer.headers["x-request-id"] not in applied_at
    # and the served requests' usage records were all taken before the audited suspension
    suspended_at = suspension_audit_time(buyer.admin_key)
    for answer in served:
        assert usage_time(buyer, answer.headers["x-request-id"]) <= suspended_at
    # and no hold is left behind: what was held was settled
    assert holds(buyer.account_id) == []
    assert wallet(buyer.account_id)[1] == 0


def suspension_audit_time(admin_key: str) -> datetime:
    from functions.audit.app import lambda_handler

    answer = lambda_handler(
        event("audit_list", key=admin_key), LambdaContext("AuditFunction", NAMES.region)
    )
    (suspended,) = [
        e for e in json.loads(answer["body"])["data"] if e["action"] == "account.suspended"
    ]
    return _instant(suspended["created_at"])


def usage_time(buyer: Customer, request_id: str) -> datetime:
    from functions.usage.app import lambda_handler

    request = event("usage_get", key=buyer.admin_key, path_parameters={"request_id": request_id})
    answer = lambda_handler(request, LambdaContext("UsageFunction", NAMES.region))
    assert answer["statusCode"] == 200, answer["body"]
    return _instant(json.loads(answer["body"])["created_at"])


def _instant(value: Any) -> datetime:
    if isinstance(value, int | float):
        return datetime.fromtimestamp(value, UTC)
    return datetime.fromisoformat(value)
