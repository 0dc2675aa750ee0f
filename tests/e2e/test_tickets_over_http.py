"""The support ticket story on devstack, as the issue's acceptance tells it: a customer with two
chat requests and a top-up opens a billing ticket about one request and the payment, support
finds it in the queue with the request's and the payment's figures and answers, the customer
reads the answer and its mail, and closes the ticket; another account reaches none of it."""

from __future__ import annotations

import uuid

import httpx
import pytest

from tests.e2e.stack import HTTP_TIMEOUT_S, credit
from tests.e2e.test_notifications_over_http import outbox_until
from tests.e2e.test_topup import pay

pytestmark = pytest.mark.e2e
SUPPORT = "support@example.com"  # the template's SupportEmail, devstack's too


def client(devstack, key: str) -> httpx.Client:
    return httpx.Client(
        base_url=devstack["TOLLGATE_URL"],
        headers={"Authorization": f"Bearer {key}"},
        timeout=HTTP_TIMEOUT_S,
    )


def new_account(devstack) -> tuple[str, str, str, str]:
    """(account id, owner's email, admin key, inference key) of an account the operator made."""
    email = f"tickets-{uuid.uuid4().hex[:10]}@example.com"
    with client(devstack, devstack["TOLLGATE_OPERATOR_KEY"]) as operator:
        made = operator.post("/operator/accounts", json={"email": email, "name": "Ticket E2E"})
    assert made.status_code == 201, made.text
    admin = made.json()["admin_key"]["secret"]
    with client(devstack, admin) as api:
        key = api.post("/v1/keys", json={"name": "app", "role": "inference"}).json()["secret"]
    return made.json()["account"]["id"], email, admin, key


def chat(devstack, key: str) -> str:
    with client(devstack, key) as proxy:
        answer = proxy.post(
            "/v1/chat/completions",
            json={"model": "openai/gpt-4o-mini", "messages": [{"role": "user", "content": "Hi"}]},
        )
    assert answer.status_code == 200, answer.text
    return answer.headers["x-request-id"]


def test_a_billing_ticket_from_request_and_payment_to_answer_and_close(devstack):
    # Given a customer with a top-up and two chat requests through the proxy
    account_id, email, admin_key, api_key = new_account(devstack)
    payment = pay(devstack, "20", account_id)["payment"]
    disputed, _ = chat(devstack, api_key), chat(devstack, api_key)
    customer = client(devstack, admin_key)
    operator = client(devstack, devstack["TOLLGATE_OPERATOR_KEY"])

    # and another account with a request and a payment of its own
    other_id, _, other_admin, other_api_key = new_account(devstack)
    credit(devstack, other_id, "1.00")
    theirs = chat(devstack, other_api_key)
    with client(devstack, other_admin) as other:
        checkout = other.post("/v1/wallet/checkout", json={"amount_usd": "10.00"})
    assert checkout.status_code == 201, checkout.text

    # When the customer points a ticket at the other account's request or payment: 404
    ticket = {"subject": "Charged for a failed call", "category": "billing", "body": "Why?"}
    for context in ({"request_ids": [disputed, theirs]}, {"payment_ids": [checkout.json()["id"]]}):
        refused = customer.post("/v1/tickets", json=ticket | context)
        assert refused.status_code == 404, refused.text
    assert customer.get("/v1/tickets").json()["data"] == []

    # When the customer opens a billing ticket about one request and the payment
    opened = customer.post(
        "/v1/tickets", json=ticket | {"request_ids": [disputed], "payment_ids": [payment["id"]]}
    )
    assert opened.status_code == 201, opened.text
    ticket_id = opened.json()["id"]

    # Then support finds it among the open tickets, waiting on support
    queue = operator.get("/operator/tickets", params={"account_id": account_id}).json()["data"]
    assert [(t["id"], t["waiting_on"]) for t in queue] == [(ticket_id, "support")]

    # and sees the request's model, tokens, charge and hold, and the payment's status
    shown = operator.get(f"/operator/tickets/{ticket_id}").json()
    [request] = shown["context"]["requests"]
    record = request["current"]
    assert record["request_id"] == disputed and record["model"] == "openai/gpt-4o-mini"
    assert record["input_tokens"] > 0 and record["output_tokens"] > 0
    assert float(record["charge_usd"]) > 0 and float(record["hold_usd"]) >= float(
        record["charge_usd"]
    )
    [paid] = shown["context"]["payments"]
    assert paid["current"]["status"] == "paid"
    assert (paid["stripe"]["status"], paid["stripe"]["payment_status"]) == ("complete", "paid")

    # When support answers
    answered = operator.post(
        f"/operator/tickets/{ticket_id}/messages",
        json={"body": "The failed call was not charged; see the record.", "author_name": "Sam"},
    )
    assert answered.status_code == 201, answered.text

    # Then the customer reads the answer, and a mail about it is in the outbox (with no text)
    read = customer.get(f"/v1/tickets/{ticket_id}").json()
    assert read["status"] == "waiting_on_customer"
    assert [(m["author"], m["author_name"]) for m in read["thread"]] == [
        ("customer", None),
        ("support", "Sam"),
    ]
    mailed = outbox_until(devstack, email, f"Support answered your ticket {ticket_id}")
    assert f"Support answered your ticket {ticket_id}" in mailed
    assert "failed call" not in mailed and "Why?" not in mailed
    assert ticket_id in outbox_until(devstack, SUPPORT, ticket_id)  # support heard of it

    # and another account's admin cannot read it
    with client(devstack, other_admin) as other:
        assert other.get(f"/v1/tickets/{ticket_id}").status_code == 404
    assert other_id != account_id

    # When the customer closes it, it is closed
    closed = customer.post(f"/v1/tickets/{ticket_id}/close")
    assert closed.status_code == 200 and closed.json()["status"] == "closed"
    customer.close()
    operator.close()
