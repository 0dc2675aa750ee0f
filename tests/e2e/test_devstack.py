"""devstack itself, as a first-time user meets it: the source IP it hands the functions, what
it prints and writes, its commands' errors, a busy port and Ctrl-C."""

from __future__ import annotations

import httpx
import openai
import pytest

from tests.e2e.stack import new_customer

pytestmark = pytest.mark.e2e

FORGED = {"X-Forwarded-For": "10.1.2.3"}


def test_a_forwarded_for_header_does_not_move_the_source_ip_into_a_keys_networks(devstack):
    # Given a key that only works from 10.0.0.0/8
    customer = new_customer(devstack, credit_usd="1.00")
    created = httpx.post(
        f"{devstack['TOLLGATE_URL']}/v1/keys",
        headers={"Authorization": f"Bearer {customer.admin_key}", **FORGED},
        json={"role": "inference", "allowed_cidrs": ["10.0.0.0/8"]},
    )
    assert created.status_code == 201, created.text
    client = openai.OpenAI(
        base_url=devstack["OPENAI_BASE_URL"],
        api_key=created.json()["secret"],
        max_retries=0,
        default_headers=FORGED,
    )

    # When a request from loopback claims to be forwarded for 10.1.2.3
    with pytest.raises(openai.PermissionDeniedError) as refused:
        client.chat.completions.create(
            model="openai/gpt-4o-mini", messages=[{"role": "user", "content": "Hi"}]
        )

    # Then the key refuses it, and the audit trail names the real peer
    assert refused.value.status_code == 403
    assert refused.value.body["code"] == "ip_not_allowed"
    events = httpx.get(
        f"{devstack['TOLLGATE_URL']}/v1/audit",
        headers={"Authorization": f"Bearer {customer.admin_key}", **FORGED},
    ).json()["data"]
    key_created = [event for event in events if event["action"] == "key.created"]
    assert key_created and {event["source_ip"] for event in key_created} == {"127.0.0.1"}
