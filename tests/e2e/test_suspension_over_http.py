"""The operator suspends an account over HTTP against devstack: its inference key answers 403
``account_suspended`` on the very next request (even cached in the proxy), in the OpenAI and
the Anthropic wire format; its admin key still reads but changes nothing; reinstated, it is
served again. The operator finds it in the account list meanwhile."""

from __future__ import annotations

import httpx
import pytest

from tests.e2e.stack import HTTP_TIMEOUT_S, new_customer

pytestmark = pytest.mark.e2e

CHAT = {"model": "openai/gpt-4o-mini", "messages": [{"role": "user", "content": "hi"}]}
MESSAGE = {"model": "openai/gpt-4o-mini", "max_tokens": 50, "messages": CHAT["messages"]}


def http(devstack, secret: str) -> httpx.Client:
    return httpx.Client(
        base_url=devstack["TOLLGATE_URL"],
        headers={"Authorization": f"Bearer {secret}"},
        timeout=HTTP_TIMEOUT_S,
    )


def test_a_suspended_account_is_refused_at_once_and_served_again_once_reinstated(devstack):
    customer = new_customer(devstack, credit_usd="1.00")
    with (
        http(devstack, devstack["TOLLGATE_OPERATOR_KEY"]) as operator,
        http(devstack, customer.api_key) as client,
        http(devstack, customer.admin_key) as admin,
    ):
        # given a key the proxy has just served (its record cached)
        assert client.post("/v1/chat/completions", json=CHAT).status_code == 200

        # when the operator suspends the account
        suspended = operator.post(
            f"/operator/accounts/{customer.account_id}/suspend",
            json={"reason": "Chargebacks under review"},
        )
        assert suspended.status_code == 200, suspended.text
        assert suspended.json()["status"] == "suspended"

        # then the very next requests are refused, each in its client's format
        chat = client.post("/v1/chat/completions", json=CHAT)
        assert chat.status_code == 403
        assert chat.json()["error"]["code"] == "account_suspended"
        message = client.post("/v1/messages", json=MESSAGE)
        assert message.status_code == 403
        assert message.json()["type"] == "error"
        assert message.json()["error"]["type"] == "permission_error"
        assert client.get("/v1/models").status_code == 403
        # and its admin key reads but cannot change anything
        assert admin.get("/v1/wallet").status_code == 200
        created = admin.post("/v1/keys", json={"name": "sneaky", "role": "inference"})
        assert (created.status_code, created.json()["error"]["code"]) == (403, "account_suspended")
        # and the operator finds it among the suspended accounts
        listed = operator.get("/operator/accounts", params={"status": "suspended", "q": "e2e"})
        assert customer.account_id in {a["id"] for a in listed.json()["data"]}

        # when the operator reinstates it, then it is served again
        reinstated = operator.post(
            f"/operator/accounts/{customer.account_id}/reinstate", json={"reason": "Review closed"}
        )
        assert reinstated.status_code == 200, reinstated.text
        assert client.post("/v1/chat/completions", json=CHAT).status_code == 200
        assert client.get("/v1/models").status_code == 200
