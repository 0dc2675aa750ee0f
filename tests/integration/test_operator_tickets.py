"""Support's side of tickets through TicketsFunction: the queue across accounts, a ticket with
its requests and payments as they are now (and at Stripe), status and assignment, replies and
internal notes, and who is mailed about them."""

from __future__ import annotations

import dataclasses
import importlib
import json
from datetime import UTC, datetime, timedelta

import httpx
import pytest

from devstack.stripe_standin import start_stripe_standin
from tests.integration.conftest import OPERATOR_KEY, event, handle
from tests.integration.test_usage import a_customer, proxied
from tests.support import mail
from tests.support.environment import TEMPLATE
from tollgate import audit, billing, clock
from tollgate.store import members
from tollgate.tickets import notify

NOW = datetime(2026, 11, 23, 12, 0, tzinfo=UTC)
FUNCTION = "TicketsFunction"
SUPPORT = "support@example.com"  # the template's SupportEmail


@pytest.fixture(scope="module")
def standin():
    running = start_stripe_standin("sk_test_devstack", "whsec_test")
    yield running
    running.stop()


@pytest.fixture(autouse=True)
def at_now(monkeypatch, standin):
    monkeypatch.setattr(clock, "utcnow", lambda: NOW)
    handler = importlib.import_module(TEMPLATE.functions()[FUNCTION].module)
    settings = dataclasses.replace(handler.settings, stripe_api_base=standin.url)
    monkeypatch.setattr(handler, "settings", settings)
    return settings


@pytest.fixture
def customer(new_account, hotpath):
    found = a_customer(new_account)
    proxied(hotpath, found, "req_one", NOW - timedelta(minutes=5), charge=2_500_000)
    return found


def later(monkeypatch, **delta):
    monkeypatch.setattr(clock, "utcnow", lambda: NOW + timedelta(**delta))


def as_customer(invoke, name, key, **options):
    return invoke(FUNCTION, event(name, key=key, **options))


def as_operator(invoke, name, ticket_id=None, **options):
    where = {"ticket_id": ticket_id} if ticket_id else None
    return invoke(FUNCTION, event(name, key=OPERATOR_KEY, path_parameters=where, **options))


def open_ticket(invoke, key, category="billing", **context):
    body = {"subject": "Charged twice", "category": category, "body": "secret-ish words"}
    opened = as_customer(invoke, "tickets_open", key, body=body | context)
    assert opened.status == 201, opened.body
    return opened.body["id"]


def queue_ids(invoke, **query):
    listed = as_operator(invoke, "operator_tickets_list", query=query)
    assert listed.status == 200, listed.body
    return [item["id"] for item in listed.body["data"]]


def test_the_queue_holds_every_accounts_tickets_oldest_first_filtered_and_paged(
    invoke, customer, new_account, monkeypatch
):
    # Given three tickets of two accounts, opened an hour apart, support answered the second
    # and the third is closed
    other = new_account()
    first = open_ticket(invoke, customer.admin_key)
    later(monkeypatch, hours=1)
    second = open_ticket(invoke, other.admin_key, category="access")
    answered = as_operator(
        invoke, "operator_tickets_reply", second, body={"body": "Try a new key."}
    )
    assert answered.status == 201 and answered.body["internal"] is False
    later(monkeypatch, hours=2)
    third = open_ticket(invoke, customer.admin_key)
    as_customer(invoke, "tickets_close", customer.admin_key, path_parameters={"ticket_id": third})

    # Then the queue shows the open ones, oldest first, with whose turn it is
    listed = as_operator(invoke, "operator_tickets_list").body["data"]
    assert [(t["id"], t["waiting_on"], t["account_id"]) for t in listed] == [
        (first, "support", customer.account_id),
        (second, "customer", other.account_id),
    ]
    assert listed[0]["opened_by"].startswith("key:") and listed[1]["last_support_at"]

    # and each filter narrows it
    assert queue_ids(invoke, status="closed") == [third]
    assert queue_ids(invoke, account_id=other.account_id) == [second]
    assert queue_ids(invoke, waiting_on="support") == [first]
    assert queue_ids(invoke, category="access") == [second]
    assert queue_ids(invoke, older_than_hours="1") == [first]
    assert queue_ids(invoke, opened_after=str(int((NOW + timedelta(minutes=30)).timestamp()))) == [
        second
    ]
    assert queue_ids(invoke, order="newest") == [second, first]

    # and pages follow their cursor, which belongs to its partition only
    page = as_operator(invoke, "operator_tickets_list", query={"limit": "1"}).body
    assert [t["id"] for t in page["data"]] == [first] and page["has_more"]
    rest = {"limit": "1", "cursor": page["next_cursor"]}
    page = as_operator(invoke, "operator_tickets_list", query=rest).body
    assert [t["id"] for t in page["data"]] == [second] and not page["has_more"]
    stolen = {"status": "closed", "cursor": rest["cursor"]}
    refused = as_operator(invoke, "operator_tickets_list", query=stolen)
    assert refused.status == 400 and refused.body["error"]["param"] == "cursor"

    # and a bad filter is a 400 naming it
    for bad in (
        {"status": "solved"},
        {"waiting_on": "nobody"},
        {"opened_after": "soon"},
        {"older_than_hours": "\u00b2"},
        {"opened_after": "2000", "opened_before": "1000"},
        {"opened_before": "1", "older_than_hours": "1"},
    ):
        refused = as_operator(invoke, "operator_tickets_list", query=bad)
        assert refused.status == 400 and refused.body["error"]["param"] in bad, bad

    # and a customer's key is no operator
    assert as_customer(invoke, "operator_tickets_list", customer.admin_key).status == 403


def test_support_sees_the_requests_and_payments_as_they_are_now_and_at_stripe(
    invoke, customer, at_now, standin, monkeypatch
):
    # Given a paid top-up and a ticket about it and a request
    checkout = billing.create_checkout(customer.account_id, 20 * 10**9, at_now, now=NOW)
    paid = httpx.post(f"{standin.url}/checkout/{checkout['id']}/complete", timeout=30)
    assert paid.status_code == 200
    ticket_id = open_ticket(
        invoke, customer.admin_key, request_ids=["req_one"], payment_ids=[checkout["id"]]
    )
    as_operator(
        invoke, "operator_tickets_reply", ticket_id, body={"body": "Looking", "internal": True}
    )

    # When support reads it
    shown = as_operator(invoke, "operator_tickets_get", ticket_id)

    # Then the request's metadata is there as it was and as it is now
    assert shown.status == 200, shown.body
    [request] = shown.body["context"]["requests"]
    assert request["expired"] is False and request["snapshot"] == request["current"]
    current = request["current"]
    assert (current["model"], current["input_tokens"], current["charge_usd"]) == (
        "openai/gpt-4o-mini",
        120,
        "0.0025",
    )
    assert current["hold_usd"] == "0.10"
    # and the payment's record and its Checkout Session at Stripe
    [payment] = shown.body["context"]["payments"]
    assert payment["current"]["status"] == "open" and payment["current"]["amount_usd"] == "20.00"
    stripe_state = payment["stripe"]
    assert (stripe_state["status"], stripe_state["payment_status"]) == ("complete", "paid")
    assert stripe_state["amount_total"] == 2000 and stripe_state["payment_intent"].startswith("pi_")
    # and the whole thread, the internal note marked
    assert [(m["author"], m["internal"]) for m in shown.body["thread"]] == [
        ("customer", False),
        ("support", True),
    ]

    # When Stripe fails and the usage record is past its retention
    standin.app.fail_next(400, "invalid_request_error", "No such checkout.session")
    later(monkeypatch, days=120)
    shown = as_operator(invoke, "operator_tickets_get", ticket_id).body

    # Then the page still answers, saying so
    [request] = shown["context"]["requests"]
    assert (request["current"], request["expired"]) == (None, True)
    assert request["snapshot"]["model"] == "openai/gpt-4o-mini"
    assert shown["context"]["payments"][0]["stripe"] == {"error": "unavailable"}
    unknown = as_operator(invoke, "operator_tickets_get", "tkt_000000000000nothere")
    assert unknown.status == 404 and unknown.body["error"]["code"] == "ticket_not_found"


def test_status_and_assignment_changes_are_audited_on_the_account(invoke, customer):
    ticket_id = open_ticket(invoke, customer.admin_key)

    assigned = as_operator(
        invoke,
        "operator_tickets_update",
        ticket_id,
        body={"assignee": "Sam", "status": "waiting_on_customer"},
    )
    assert assigned.status == 200, assigned.body
    assert (assigned.body["assignee"], assigned.body["status"]) == ("Sam", "waiting_on_customer")
    assert queue_ids(invoke, assignee="Sam") == [ticket_id]

    closed = as_operator(invoke, "operator_tickets_update", ticket_id, body={"status": "closed"})
    assert closed.body["status"] == "closed" and closed.body["closed_at"]
    seen = as_customer(
        invoke, "tickets_get", customer.admin_key, path_parameters={"ticket_id": ticket_id}
    )
    assert seen.body["status"] == "closed"
    reply = as_operator(invoke, "operator_tickets_reply", ticket_id, body={"body": "late"})
    assert reply.status == 409 and reply.body["error"]["code"] == "ticket_closed"
    reopened = as_operator(
        invoke, "operator_tickets_update", ticket_id, body={"status": "open", "assignee": None}
    )
    assert (reopened.body["status"], reopened.body["assignee"]) == ("open", None)
    solved = as_operator(
        invoke, "operator_tickets_reply", ticket_id, body={"body": "Done.", "status": "closed"}
    )
    assert solved.status == 201
    assert queue_ids(invoke, status="closed") == [ticket_id]

    events, _ = audit.list_events(customer.account_id, limit=20)
    trail = [
        (e.action, e.actor, e.changes)
        for e in reversed(events)
        if e.action in ("ticket.status_changed", "ticket.assigned")
    ]

    def changed(field, before, after):
        return {field: {"before": before, "after": after}}

    assert trail == [
        ("ticket.status_changed", "operator", changed("status", "open", "waiting_on_customer")),
        ("ticket.assigned", "operator", changed("assignee", None, "Sam")),
        ("ticket.status_changed", "operator", changed("status", "waiting_on_customer", "closed")),
        ("ticket.status_changed", "operator", changed("status", "closed", "open")),
        ("ticket.assigned", "operator", changed("assignee", "Sam", None)),
        ("ticket.status_changed", "operator", changed("status", "open", "closed")),
    ]

    for bad in ({}, {"status": "solved"}, {"assignee": "x" * 101}, {"priority": "high"}):
        refused = as_operator(invoke, "operator_tickets_update", ticket_id, body=bad)
        assert refused.status == 400, bad


def test_replies_are_mailed_and_internal_notes_are_neither_shown_nor_mailed(invoke, new_account):
    mail.verify_sender()
    # Given a customer's ticket: support's address is told of it
    customer = new_account("owner@example.com")
    ticket_id = open_ticket(invoke, customer.admin_key)
    mail_sent = mail.queued()
    assert [(m["kind"], m["to"]) for m in mail_sent] == [("ticket_opened", [SUPPORT])]
    assert mail_sent[0]["context"] == {
        "ticket_id": ticket_id,
        "category": "billing",
        "status": "open",
        "ticket_url": f"https://example.com/tollgate/console/operator/tickets/{ticket_id}",
    }
    assert mail.run_mailer(handle) == 1
    [to_support] = mail.sent_mails()
    assert to_support.to == SUPPORT and ticket_id in to_support.text

    # When support writes an internal note, then a signed reply
    note = as_operator(
        invoke, "operator_tickets_reply", ticket_id, body={"body": "VIP, refund", "internal": True}
    )
    assert note.status == 201 and mail.queued() == []
    reply = as_operator(
        invoke,
        "operator_tickets_reply",
        ticket_id,
        body={"body": "Refunded.", "author_name": "Sam"},
    )
    assert reply.status == 201

    # Then the customer sees the reply, never the note, and the owner is mailed about it
    where = {"ticket_id": ticket_id}
    seen = as_customer(invoke, "tickets_get", customer.admin_key, path_parameters=where).body
    assert [(m["author"], m["author_name"], m["body"]) for m in seen["thread"]] == [
        ("customer", None, "secret-ish words"),
        ("support", "Sam", "Refunded."),
    ]
    assert seen["status"] == "waiting_on_customer" and "VIP" not in json.dumps(seen)
    [replied] = mail.queued()
    assert (replied["kind"], replied["to"]) == ("ticket_replied", ["owner@example.com"])
    assert replied["context"]["ticket_url"].endswith(f"/console/tickets/{ticket_id}")
    assert "Refunded" not in json.dumps(replied) and "Charged" not in json.dumps(replied)
    assert mail.run_mailer(handle) == 1
    answer = mail.sent_mails()[-1]
    assert answer.to == "owner@example.com" and ticket_id in answer.subject
    assert not any(words in answer.text for words in ("Refunded", "Charged", "VIP", "secret-ish"))

    # and the trail has the note and the reply by id, never their words
    events, _ = audit.list_events(customer.account_id, limit=20)
    trail = [(e.action, e.changes) for e in reversed(events) if e.action.startswith("ticket.")]
    assert [action for action, _ in trail] == [
        "ticket.opened",
        "ticket.note_added",
        "ticket.replied",
    ]
    assert trail[2][1]["status"] == {"before": "open", "after": "waiting_on_customer"}
    assert "status" not in trail[1][1] and "VIP" not in str(trail)

    # and the customer's answer goes to support's address
    as_customer(
        invoke, "tickets_reply", customer.admin_key, path_parameters=where, body={"body": "Ok"}
    )
    assert [(m["kind"], m["to"]) for m in mail.queued()] == [("ticket_customer_replied", [SUPPORT])]


def test_a_reply_is_mailed_to_the_member_who_opened_the_ticket_and_the_owners(new_account):
    customer = new_account("company@example.com")
    members.member_item(
        customer.account_id,
        "p-owner",
        email="olga@example.com",
        name="O",
        role="owner",
        joined_at=NOW,
    ).save()
    members.member_item(
        customer.account_id,
        "p-dev",
        email="dev@example.com",
        name="D",
        role="developer",
        joined_at=NOW,
    ).save()

    class Opened:
        account_id = customer.account_id
        opened_by = "person:p-dev"

    assert notify.members_to_tell(Opened()) == ["dev@example.com", "olga@example.com"]  # type: ignore[arg-type]
    Opened.opened_by = "key:key_123"
    assert notify.members_to_tell(Opened()) == ["olga@example.com"]  # type: ignore[arg-type]
