"""A key's limits, enforced by the proxy: scopes answer 403, caps 402, rate limits 429."""

from __future__ import annotations

import concurrent.futures
import json
import subprocess
import sys
import time

import httpx
import openai
import pytest

from tests.e2e.stack import (
    COMMAND_TIMEOUT_S,
    HTTP_TIMEOUT_S,
    ROOT,
    nanos,
    new_customer,
    usage_records,
    wallet,
)

pytestmark = pytest.mark.e2e


def scoped_key(devstack, customer, **policy) -> dict:
    answer = httpx.post(
        f"{devstack['TOLLGATE_URL']}/v1/keys",
        headers={"Authorization": f"Bearer {customer.admin_key}"},
        json={"role": "inference", **policy},
        timeout=HTTP_TIMEOUT_S,
    )
    assert answer.status_code == 201, answer.text
    return answer.json()


def client(devstack, secret: str) -> openai.OpenAI:
    return openai.OpenAI(base_url=devstack["OPENAI_BASE_URL"], api_key=secret, max_retries=0)


def chat(devstack, secret: str, model: str = "openai/gpt-4o-mini"):
    return client(devstack, secret).chat.completions.create(
        model=model, messages=[{"role": "user", "content": "Hello"}], max_tokens=20
    )


def test_scopes_refuse_models_endpoints_and_networks_outside_them(devstack):
    customer = new_customer(devstack, credit_usd="1.00")
    models = scoped_key(devstack, customer, allowed_models=["anthropic/*"])["secret"]
    endpoints = scoped_key(devstack, customer, allowed_endpoints=["embeddings"])["secret"]
    elsewhere = scoped_key(devstack, customer, allowed_cidrs=["10.0.0.0/8"])["secret"]
    here = scoped_key(devstack, customer, allowed_cidrs=["127.0.0.0/8", "::1/128"])["secret"]

    for secret, code in (
        (models, "model_not_allowed"),
        (endpoints, "endpoint_not_allowed"),
        (elsewhere, "ip_not_allowed"),
    ):
        with pytest.raises(openai.PermissionDeniedError) as refused:
            chat(devstack, secret)
        assert refused.value.body["code"] == code

    assert chat(devstack, models, model="anthropic/claude-haiku-4-5").choices
    assert chat(devstack, here).choices


def test_a_spend_cap_stops_spending_at_the_cap(devstack):
    customer = new_customer(devstack, credit_usd="1.00")
    cap = "0.0001"
    # lifetime, not day: a run across midnight would open a second day's cap
    secret = scoped_key(devstack, customer, spend_cap={"amount_usd": cap, "period": "lifetime"})[
        "secret"
    ]

    answers = []
    for _ in range(20):
        try:
            chat(devstack, secret)
            answers.append("ok")
            wallet(devstack, customer.account_id)  # its settle gives back the unspent reservation
        except openai.APIStatusError as error:
            answers.append(error.body["code"])
            break

    records = usage_records(devstack, customer.account_id)
    spent = sum(int(r["charge"]) for r in records)
    worst_case = max(int(r["hold"]) for r in records)  # a request is held at its worst case
    assert answers[-1] == "key_spend_cap_reached"
    assert nanos(cap) - worst_case <= spent <= nanos(cap)


def test_a_rate_limit_lets_exactly_its_requests_through_a_minute(devstack):
    customer = new_customer(devstack, credit_usd="1.00")
    secret = scoped_key(devstack, customer, rate_limit={"rpm": 5})["secret"]
    openai_client = client(devstack, secret)

    def one(_: int):
        try:
            openai_client.chat.completions.create(
                model="openai/gpt-4o-mini",
                messages=[{"role": "user", "content": "Hi"}],
                max_tokens=5,
            )
            return "ok", None
        except openai.RateLimitError as error:
            return "429", error.response.headers.get("retry-after")

    first_minute = int(time.time()) // 60
    with concurrent.futures.ThreadPoolExecutor(max_workers=20) as pool:
        outcomes = list(pool.map(one, range(20)))
    minutes = int(time.time()) // 60 - first_minute + 1  # a loaded machine may cross minutes

    passed = [o for o, _ in outcomes if o == "ok"]
    limited = [after for o, after in outcomes if o == "429"]
    assert len(passed) + len(limited) == 20
    assert len(passed) == 5 if minutes == 1 else 5 <= len(passed) <= 5 * minutes
    assert all(after and 1 <= int(after) <= 60 for after in limited)


def test_a_revoked_scoped_key_still_cannot_spend(devstack):
    customer = new_customer(devstack, credit_usd="1.00")
    key = scoped_key(devstack, customer, rate_limit={"rpm": 100})
    chat(devstack, key["secret"])

    httpx.delete(
        f"{devstack['TOLLGATE_URL']}/v1/keys/{key['id']}",
        headers={"Authorization": f"Bearer {customer.admin_key}"},
        timeout=HTTP_TIMEOUT_S,
    )

    with pytest.raises(openai.AuthenticationError):
        chat(devstack, key["secret"])


def test_every_key_action_is_audited_and_the_chain_verifies(devstack):
    customer = new_customer(devstack, credit_usd=None)
    admin = {"Authorization": f"Bearer {customer.admin_key}"}
    url = devstack["TOLLGATE_URL"]
    key = httpx.post(
        f"{url}/v1/keys", headers=admin, json={"name": "audited"}, timeout=HTTP_TIMEOUT_S
    ).json()
    httpx.patch(
        f"{url}/v1/keys/{key['id']}",
        headers=admin,
        json={"environment": "prod"},
        timeout=HTTP_TIMEOUT_S,
    )
    httpx.post(
        f"{url}/v1/keys/{key['id']}/rotate",
        headers=admin,
        json={"grace_seconds": 60},
        timeout=HTTP_TIMEOUT_S,
    )
    httpx.delete(f"{url}/v1/keys/{key['id']}", headers=admin, timeout=HTTP_TIMEOUT_S)

    events = httpx.get(f"{url}/v1/audit", headers=admin, timeout=HTTP_TIMEOUT_S).json()["data"]
    verified = subprocess.run(
        [
            sys.executable,
            "-m",
            "devstack",
            "--state-dir",
            devstack["STATE_DIR"],
            "verify-audit",
            customer.account_id,
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=COMMAND_TIMEOUT_S,
    )

    actions = [e["action"] for e in events if e["target"] == f"key:{key['id']}"]
    assert actions == ["key.revoked", "key.rotated", "key.updated", "key.created"]
    assert "account.created" in [e["action"] for e in events]
    assert key["secret"] not in str(events)
    assert verified.returncode == 0, verified.stdout + verified.stderr
    assert json.loads(verified.stdout)["ok"] is True


def devstack_command(devstack, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "devstack", "--state-dir", devstack["STATE_DIR"], *args],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_verify_audit_fails_on_an_unknown_account(devstack):
    verified = devstack_command(devstack, "verify-audit", "acct_nobody")

    assert verified.returncode == 1, verified.stdout + verified.stderr
    assert json.loads(verified.stdout)["problems"] == ["no account 'acct_nobody' is known"]


def test_a_chain_checkpointed_by_the_scheduled_job_verifies(devstack):
    customer = new_customer(devstack, credit_usd=None)

    checkpointed = devstack_command(
        devstack,
        "invoke",
        "AuditCheckpointFunction",
        "--event",
        "events/audit_checkpoint_scheduled.json",
    )
    verified = devstack_command(devstack, "verify-audit", customer.account_id)

    assert checkpointed.returncode == 0, checkpointed.stdout + checkpointed.stderr
    assert json.loads(checkpointed.stdout)["checkpoints_written"] >= 1
    assert verified.returncode == 0, verified.stdout + verified.stderr
    assert json.loads(verified.stdout)["ok"] is True
