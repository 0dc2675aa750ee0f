"""A customer's support tickets through TicketsFunction: opening one about a request and a
payment, the thread, closing and reopening, and what another account can never reach."""

from __future__ import annotations

import importlib
from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest

from tests.integration.conftest import event
from tests.integration.test_usage import a_customer, proxied
from tests.support.environment import TEMPLATE
from tollgate import clock
from tollgate.store import payments as payment_store

NOW = datetime(2026, 11, 23, 12, 0, tzinfo=UTC)
FUNCTION = "TicketsFunction"


@pytest.fixture(autouse=True)
def fixed_clock(monkeypatch):
    monkeypatch.setattr(clock, "utcnow", lambda: NOW)


@pytest.fixture
def customer(new_account, hotpath):
    """An account with one settled request (req_one) and one paid top-up (cs_paid)."""
    found = a_customer(new_account)
    proxied(hotpath, found, "req_one", NOW - timedelta(minutes=5), charge=2_500_000)
    payment_store.create_open_payment(
        found.account_id, "cs_paid", 20 * 10**9, "usd", "https://checkout.example/cs_paid", now=NOW
    )
    return found


def call(invoke, name, key, **options):
    return invoke(FUNCTION, event(name, key=key, **options))


def open_ticket(invoke, key, **fields):
    body = {"subject": "Charged twice", "category": "billing", "body": "See the request."}
    return call(invoke, "tickets_open", key, body=body | fields)


def test_a_ticket_keeps_the_requests_and_payments_metadata_as_it_was(invoke, customer):
    opened = open_ticket(
        invoke, customer.admin_key, request_ids=["req_one"], payment_ids=["cs_paid"]
    )
    assert opened.status == 201, opened.body
    ticket = opened.body
    assert ticket["status"] == "open" and ticket["category"] == "billing"
    [request] = ticket["context"]["requests"]
    assert request["request_id"] == "req_one"
    assert (request["model"], request["charge_usd"]) == ("openai/gpt-4o-mini", "0.0025")
    assert request["input_tokens"] == 120 and request["hold_usd"] == "0.10"
    [payment] = ticket["context"]["payments"]
    assert payment["payment_id"] == "cs_paid" and payment["status"] == "open"
    assert [m["body"] for m in ticket["thread"]] == ["See the request."]

    shown = call(
        invoke, "tickets_get", customer.admin_key, path_parameters={"ticket_id": ticket["id"]}
    )
    assert shown.status == 200 and shown.body["context"] == ticket["context"]


def test_another_accounts_request_or_payment_is_a_404_and_opens_nothing(
    invoke, customer, new_account, hotpath
):
    other = a_customer(new_account)
    proxied(hotpath, other, "req_theirs", NOW - timedelta(minutes=1))
    refused = open_ticket(invoke, customer.admin_key, request_ids=["req_one", "req_theirs"])
    assert refused.status == 404 and "req_theirs" in refused.body["error"]["message"]
    payment_store.create_open_payment(
        other.account_id, "cs_theirs", 5 * 10**9, "usd", "https://checkout.example/x", now=NOW
    )
    refused = open_ticket(invoke, customer.admin_key, payment_ids=["cs_theirs"])
    assert refused.status == 404 and "cs_theirs" in refused.body["error"]["message"]
    listed = call(invoke, "tickets_list", customer.admin_key)
    assert listed.body["data"] == []


def test_another_account_cannot_read_or_answer_the_ticket(invoke, customer, new_account):
    ticket = open_ticket(invoke, customer.admin_key).body
    stranger = new_account()
    where = {"ticket_id": ticket["id"]}
    assert call(invoke, "tickets_get", stranger.admin_key, path_parameters=where).status == 404
    reply = call(
        invoke, "tickets_reply", stranger.admin_key, path_parameters=where, body={"body": "hi"}
    )
    assert reply.status == 404
    assert call(invoke, "tickets_close", stranger.admin_key, path_parameters=where).status == 404


def test_a_closed_ticket_takes_no_reply_until_reopened_within_30_days(
    invoke, customer, monkeypatch
):
    ticket = open_ticket(invoke, customer.admin_key).body
    where = {"ticket_id": ticket["id"]}
    closed = call(invoke, "tickets_close", customer.admin_key, path_parameters=where)
    assert closed.status == 200 and closed.body["status"] == "closed"
    reply = call(
        invoke,
        "tickets_reply",
        customer.admin_key,
        path_parameters=where,
        body={"body": "one more"},
    )
    assert reply.status == 409 and reply.body["error"]["code"] == "ticket_closed"

    reopened = call(invoke, "tickets_reopen", customer.admin_key, path_parameters=where)
    assert reopened.status == 200 and reopened.body["status"] == "waiting_on_support"
    assert (
        call(
            invoke,
            "tickets_reply",
            customer.admin_key,
            path_parameters=where,
            body={"body": "one more"},
        ).status
        == 201
    )

    call(invoke, "tickets_close", customer.admin_key, path_parameters=where)
    monkeypatch.setattr(clock, "utcnow", lambda: NOW + timedelta(days=31))
    late = call(invoke, "tickets_reopen", customer.admin_key, path_parameters=where)
    assert late.status == 409 and late.body["error"]["code"] == "reopen_window_passed"


def test_tickets_list_newest_first_and_filter_by_status_and_category(invoke, customer, monkeypatch):
    first = open_ticket(invoke, customer.admin_key, category="access").body
    monkeypatch.setattr(clock, "utcnow", lambda: NOW + timedelta(seconds=1))
    second = open_ticket(invoke, customer.admin_key).body
    call(invoke, "tickets_close", customer.admin_key, path_parameters={"ticket_id": second["id"]})
    listed = call(invoke, "tickets_list", customer.admin_key).body
    assert [t["id"] for t in listed["data"]] == [second["id"], first["id"]]
    closed = call(invoke, "tickets_list", customer.admin_key, query={"status": "closed"}).body
    assert [t["id"] for t in closed["data"]] == [second["id"]]
    access = call(invoke, "tickets_list", customer.admin_key, query={"category": "access"}).body
    assert [t["id"] for t in access["data"]] == [first["id"]]
    page = call(invoke, "tickets_list", customer.admin_key, query={"limit": "1"}).body
    assert page["has_more"] and page["next_cursor"]


def test_opening_is_rate_limited_per_account_per_hour(invoke, customer, monkeypatch):
    handler = importlib.import_module(TEMPLATE.functions()[FUNCTION].module)
    monkeypatch.setattr(handler, "settings", replace(handler.settings, tickets_per_hour=2))
    answers = [open_ticket(invoke, customer.admin_key) for _ in range(3)]
    assert [answer.status for answer in answers] == [201, 201, 429]
    assert answers[2].headers["retry-after"] == str(60 * 60)
    assert len(call(invoke, "tickets_list", customer.admin_key).body["data"]) == 2
