"""What TicketsFunction's customer routes refuse, and what holds under pressure: hostile or
malformed bodies, ids of another kind or account, callers who may not, a suspended account,
racing replies and openings, and a closed ticket's retention."""

from __future__ import annotations

import threading
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Any

import boto3
import pytest
from boto3.dynamodb.conditions import Key

from tests.integration.conftest import as_person, event
from tests.integration.test_proxy_suspension import operator
from tests.integration.test_usage import a_customer, proxied
from tests.support.environment import NAMES
from tollgate import clock, keys
from tollgate.auth import Principal
from tollgate.errors import TollgateError
from tollgate.settings import get_settings
from tollgate.store import payments as payment_store
from tollgate.store import tickets as ticket_store
from tollgate.tickets import service

NOW = datetime(2026, 11, 23, 12, 0, tzinfo=UTC)
FUNCTION = "TicketsFunction"
TWO_YEARS = timedelta(days=730)


@pytest.fixture(autouse=True)
def fixed_clock(monkeypatch):
    monkeypatch.setattr(clock, "utcnow", lambda: NOW)


@pytest.fixture
def customer(new_account, hotpath):
    """An account with one settled request (req_one) and one top-up (cs_paid)."""
    found = a_customer(new_account)
    proxied(hotpath, found, "req_one", NOW - timedelta(minutes=5))
    payment_store.create_open_payment(
        found.account_id, "cs_paid", 20 * 10**9, "usd", "https://checkout.example/cs", now=NOW
    )
    return found


def call(invoke, name: str, key: str | None, **options: Any):
    return invoke(FUNCTION, event(name, key=key, **options))


def open_ticket(invoke, key: str, **fields: Any):
    body = {"subject": "Charged twice", "category": "billing", "body": "See the request."}
    return call(invoke, "tickets_open", key, body=body | fields)


def ticket_of(answer) -> dict[str, str]:
    assert answer.status == 201, answer.body
    return {"ticket_id": answer.body["id"]}


def error_of(answer) -> tuple[int, str | None, str | None]:
    error = answer.body["error"]
    return answer.status, error.get("code"), error.get("param")


# ------------------------------------------------------------------------------ bad input


BASE = {"subject": "Charged twice", "category": "billing", "body": "See the request."}
REFUSED_OPENINGS = [
    ('{"subject": "unterminated', None),
    ({**BASE, "subject": 5}, "subject"),
    ({**BASE, "subject": "   "}, "subject"),
    ({**BASE, "body": ""}, "body"),
    ({**BASE, "body": "x" * 20_001}, "body"),
    ({**BASE, "body": "a\x00b"}, "body"),
    ({**BASE, "category": "refund"}, "category"),
    ({**BASE, "priority": "urgent"}, "priority"),
    ({**BASE, "request_ids": "req_one"}, "request_ids"),
    ({**BASE, "request_ids": [1]}, "request_ids"),
    ({**BASE, "request_ids": [f"req_{n}" for n in range(21)]}, "request_ids"),
    ({**BASE, "payment_ids": [f"cs_{n}" for n in range(6)]}, "payment_ids"),
    ({**BASE, "payment_ids": ["x" * 129]}, "payment_ids"),
    ([BASE], None),
]


def test_a_malformed_ticket_is_a_400_naming_the_field_and_opens_nothing(invoke, customer):
    for body, param in REFUSED_OPENINGS:
        answer = call(invoke, "tickets_open", customer.admin_key, body=body)
        assert answer.status == 400, (str(body)[:60], answer.body)
        assert answer.body["error"].get("param") == param, str(body)[:60]
    where = ticket_of(open_ticket(invoke, customer.admin_key))
    for body, param in [({"body": ""}, "body"), ({"body": 3}, "body"), ({"text": "x"}, "text")]:
        answer = call(invoke, "tickets_reply", customer.admin_key, path_parameters=where, body=body)
        assert error_of(answer)[::2] == (400, param), answer.body
    listed = call(invoke, "tickets_list", customer.admin_key, query={"status": "pending"})
    assert error_of(listed)[::2] == (400, "status")
    (ticket,) = call(invoke, "tickets_list", customer.admin_key).body["data"]
    assert ticket["messages"] == 1  # none of the refused replies


def test_an_id_named_twice_is_one_context_entry(invoke, customer):
    opened = open_ticket(
        invoke,
        customer.admin_key,
        request_ids=["req_one", "req_one", " req_one "],
        payment_ids=["cs_paid", "cs_paid"],
    )
    context = opened.body["context"]
    assert [r["request_id"] for r in context["requests"]] == ["req_one"]
    assert [p["payment_id"] for p in context["payments"]] == ["cs_paid"]


# ------------------------------------------------------------------------------ who may


def test_a_developer_neither_points_at_a_payment_nor_sees_one(invoke, customer, signed_in_member):
    developer = signed_in_member(customer.account_id, "developer")

    def as_developer(name: str, **options: Any):
        request = as_person(event(name, key=None, **options), developer, customer.account_id)
        return invoke(FUNCTION, request)

    body = {**BASE, "payment_ids": ["cs_paid"]}
    assert error_of(as_developer("tickets_open", body=body)) == (403, "permission_denied", None)
    where = ticket_of(open_ticket(invoke, customer.admin_key, **body, request_ids=["req_one"]))

    shown = as_developer("tickets_get", path_parameters=where)

    assert shown.status == 200
    assert shown.body["context"]["payments"] == []
    assert [r["request_id"] for r in shown.body["context"]["requests"]] == ["req_one"]
    assert as_developer("tickets_open", body=BASE).status == 201  # no payment: fine


def test_an_inference_key_may_not_open_or_read_tickets(invoke, customer):
    inference = keys.create_key(customer.account_id, keys.NewKey(name="ci", role="inference"))
    where = ticket_of(open_ticket(invoke, customer.admin_key))

    for name, options in [
        ("tickets_open", {"body": BASE}),
        ("tickets_list", {}),
        ("tickets_get", {"path_parameters": where}),
        ("tickets_reply", {"path_parameters": where, "body": {"body": "hi"}}),
    ]:
        assert call(invoke, name, inference.secret, **options).status == 403, name


def test_another_accounts_cursor_is_refused(invoke, customer, new_account):
    other = new_account()
    for _ in range(2):
        open_ticket(invoke, other.admin_key)
    theirs = call(invoke, "tickets_list", other.admin_key, query={"limit": "1"})
    assert theirs.body["next_cursor"]

    answer = call(
        invoke, "tickets_list", customer.admin_key, query={"cursor": theirs.body["next_cursor"]}
    )

    assert error_of(answer)[::2] == (400, "cursor")


def test_a_suspended_account_reads_its_tickets_but_opens_or_answers_none(invoke, customer):
    where = ticket_of(open_ticket(invoke, customer.admin_key))
    operator("suspend", customer.account_id, "Chargebacks under review")

    assert call(invoke, "tickets_list", customer.admin_key).status == 200
    assert call(invoke, "tickets_get", customer.admin_key, path_parameters=where).status == 200
    refused = [
        open_ticket(invoke, customer.admin_key),
        call(
            invoke,
            "tickets_reply",
            customer.admin_key,
            path_parameters=where,
            body={"body": "hello?"},
        ),
        call(invoke, "tickets_close", customer.admin_key, path_parameters=where),
    ]
    assert {error_of(answer)[:2] for answer in refused} == {(403, "account_suspended")}


# ------------------------------------------------------------------------------ races


def admin(customer) -> Principal:
    return Principal(role="admin", account_id=customer.account_id, key_id="key_racer")


def all_at_once(monkeypatch, module: Any, name: str, parties: int) -> None:
    """Each thread's first call of ``module.name`` waits until every party has made its
    reads: they all write what they read together."""
    barrier = threading.Barrier(parties, timeout=30)
    write = getattr(module, name)
    waited = threading.local()

    def together(*args: Any, **kwargs: Any) -> Any:
        if not getattr(waited, "done", False):
            waited.done = True
            barrier.wait()
        return write(*args, **kwargs)

    monkeypatch.setattr(module, name, together)


def in_threads(work, parties: int) -> list[Any]:
    outcomes: list[Any] = [None] * parties

    def run(index: int) -> None:
        try:
            outcomes[index] = work(index)
        except TollgateError as error:
            outcomes[index] = error

    threads = [threading.Thread(target=run, args=(index,)) for index in range(parties)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return outcomes


def test_replies_at_once_lose_no_message_and_share_no_sequence(
    invoke, customer, atomic_requests, monkeypatch
):
    ticket_id = ticket_of(open_ticket(invoke, customer.admin_key))["ticket_id"]
    all_at_once(monkeypatch, ticket_store, "add_message", 4)

    outcomes = in_threads(
        lambda n: service.customer_reply(admin(customer), ticket_id, f"reply {n}")[1], 4
    )

    posted = [o.message_id for o in outcomes if not isinstance(o, TollgateError)]
    refused = [o.code for o in outcomes if isinstance(o, TollgateError)]
    assert len(posted) >= 3 and set(refused) <= {"ticket_changed"}
    ticket = service.read_ticket(customer.account_id, ticket_id)
    thread = service.thread(ticket, internal=True)
    assert [int(m.sequence) for m in thread] == list(range(int(ticket.messages)))
    assert sorted(m.message_id for m in thread[1:]) == sorted(posted)


def test_openings_at_once_never_pass_the_hourly_limit(customer, atomic_requests, monkeypatch):
    settings = replace(get_settings(), tickets_per_hour=3)
    all_at_once(monkeypatch, ticket_store, "open_ticket", 6)
    new = service.NewTicket(subject="Down?", category="technical", body="Nothing answers.")

    outcomes = in_threads(lambda _: service.open_ticket(admin(customer), new, settings=settings), 6)

    refused = [o.code for o in outcomes if isinstance(o, TollgateError)]
    assert refused == ["ticket_rate_limited"] * 3
    listed, _ = service.list_tickets(
        customer.account_id, status=None, category=None, limit=None, cursor=None
    )
    assert len(listed) == 3


def test_a_reply_racing_the_close_never_reopens_the_ticket_behind_its_back(
    invoke, customer, monkeypatch
):
    where = ticket_of(open_ticket(invoke, customer.admin_key))
    write = ticket_store.add_message

    def closed_meanwhile(ticket, message, **options):
        ticket_store.add_message = write  # once
        service.close(admin(customer), ticket.ticket_id)
        write(ticket, message, **options)

    monkeypatch.setattr(ticket_store, "add_message", closed_meanwhile)

    answer = call(
        invoke, "tickets_reply", customer.admin_key, path_parameters=where, body={"body": "x"}
    )

    assert error_of(answer)[:2] == (409, "ticket_closed")
    shown = call(invoke, "tickets_get", customer.admin_key, path_parameters=where).body
    assert shown["status"] == "closed" and len(shown["thread"]) == 1


# ------------------------------------------------------------------------------ retention


def ttls(account_id: str, ticket_id: str) -> dict[str, Any]:
    """The ttl of the ticket, its messages and its pointer, by sort key (None: no ttl)."""
    table = boto3.resource("dynamodb", region_name=NAMES.region).Table(NAMES.ref("MetadataTable"))
    items = table.query(KeyConditionExpression=Key("pk").eq(f"ACCOUNT#{account_id}"))["Items"]
    items += table.query(KeyConditionExpression=Key("pk").eq(f"TICKET#{ticket_id}"))["Items"]
    return {
        str(item["sk"]): item.get("ttl")
        for item in items
        if ticket_id in str(item["sk"]) or item["pk"] == f"TICKET#{ticket_id}"
    }


def test_a_closed_ticket_expires_two_years_on_and_is_never_shown_after(
    invoke, customer, monkeypatch
):
    where = ticket_of(open_ticket(invoke, customer.admin_key))
    ticket_id = where["ticket_id"]
    call(invoke, "tickets_reply", customer.admin_key, path_parameters=where, body={"body": "+"})

    call(invoke, "tickets_close", customer.admin_key, path_parameters=where)
    closed = ttls(customer.account_id, ticket_id)
    assert len(closed) == 4  # the ticket, two messages, the pointer
    assert set(closed.values()) == {int((NOW + TWO_YEARS).timestamp())}

    call(invoke, "tickets_reopen", customer.admin_key, path_parameters=where)
    assert set(ttls(customer.account_id, ticket_id).values()) == {None}

    call(invoke, "tickets_close", customer.admin_key, path_parameters=where)
    # support's internal note on the closed ticket expires with it
    note = service.Draft("support", "operator", "closed: dup", lambda t: t.status, internal=True)
    service.post(customer.account_id, ticket_id, note)
    closed_again = ttls(customer.account_id, ticket_id)
    assert len(closed_again) == 5 and set(closed_again.values()) == {
        int((NOW + TWO_YEARS).timestamp())
    }
    monkeypatch.setattr(clock, "utcnow", lambda: NOW + TWO_YEARS + timedelta(seconds=1))
    # DynamoDB deletes an expired item within days, not at once: until then it is not shown
    assert call(invoke, "tickets_list", customer.admin_key).body["data"] == []
    shown = call(invoke, "tickets_get", customer.admin_key, path_parameters=where)
    assert error_of(shown)[:2] == (404, "ticket_not_found")
