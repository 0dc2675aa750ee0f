"""Support tickets in the console, in process: a member opens a ticket about a request from
the usage page's link, reads support's answer (never an internal note), replies, closes and
reopens; another account's request or ticket is the service's 404 and nothing is written; the
service's validation shows in the form with its status; a role that may not read payments
cannot point a ticket at one even by posting the form by hand."""

from __future__ import annotations

import json
from datetime import timedelta

import pytest

from tests.integration.conftest import OPERATOR_KEY, event
from tests.integration.console_client import ConsoleClient
from tests.integration.test_usage import a_customer, proxied
from tollgate import audit, clock
from tollgate.store import payments as payment_store
from tollgate.store import tickets as ticket_store
from tollgate.store.models import Ticket

A_FILE = {"filename": "log.txt", "content_type": "text/plain", "size_bytes": "12"}


@pytest.fixture
def customer(new_account, hotpath):
    """An account with one settled request, req_mine, and one top-up, cs_mine."""
    found = a_customer(new_account)
    proxied(hotpath, found, "req_mine", clock.utcnow() - timedelta(minutes=5))
    payment_store.create_open_payment(
        found.account_id,
        "cs_mine",
        20 * 10**9,
        "usd",
        "https://checkout.example/cs",
        now=clock.utcnow(),
    )
    return found


@pytest.fixture
def owner(customer, signed_in_member):
    browser = ConsoleClient()
    browser.sign_in(signed_in_member(customer.account_id, "owner"))
    return browser


def opened(browser: ConsoleClient, **fields: str):
    form = {"subject": "Charged twice", "category": "billing", "body": "See the request."}
    return browser.post("/console/tickets/new", form | fields)


def operator(invoke, name, ticket_id, body):
    where = {"ticket_id": ticket_id}
    return invoke(
        "TicketsFunction", event(name, key=OPERATOR_KEY, path_parameters=where, body=body)
    )


def test_a_ticket_about_a_request_is_answered_replied_to_closed_and_reopened(
    customer, owner, invoke
):
    # Given the usage page's "Report this request" link
    form = owner.get("/console/tickets/new", request_id="req_mine")
    assert form.status == 200 and 'value="req_mine"' in form.text
    # When the member opens the ticket from it
    sent = opened(owner, request_ids="req_mine", payment_ids="cs_mine")
    assert sent.status == 303, sent.text
    ticket_id = sent.location.rsplit("/", 1)[-1]
    [recorded] = audit.list_events(customer.account_id, action="ticket.opened")[0]
    assert recorded.target == f"ticket:{ticket_id}" and recorded.actor.startswith("person:")
    assert recorded.request_id  # the console's request, as the API records its own
    # and support answers, with an internal note besides
    operator(invoke, "operator_tickets_reply", ticket_id, {"body": "Refunded it."})
    operator(invoke, "operator_tickets_reply", ticket_id, {"body": "abuse?", "internal": True})
    # Then the thread shows the request, the payment and the answer, never the note
    thread = owner.follow(sent)
    assert "req_mine" in thread.text and "cs_mine" in thread.text
    assert "See the request." in thread.text and "Refunded it." in thread.text
    assert "abuse?" not in thread.text and "Waiting on you" in thread.text
    # When the member replies, closes and reopens
    replied = owner.post(f"/console/tickets/{ticket_id}/messages", {"body": "Thanks!"})
    assert replied.status == 303 and "Thanks!" in owner.follow(replied).text
    closed = owner.follow(owner.post(f"/console/tickets/{ticket_id}/close"))
    assert "Reopen ticket" in closed.text and "Send reply" not in closed.text
    reopened = owner.follow(owner.post(f"/console/tickets/{ticket_id}/reopen"))
    assert "Waiting on support" in reopened.text
    # and the list has it
    listed = owner.get("/console/tickets", status="waiting_on_support")
    assert "Charged twice" in listed.text


def test_another_accounts_request_or_ticket_is_not_found_and_nothing_is_written(
    owner, invoke, new_account, hotpath
):
    other = a_customer(new_account)
    proxied(hotpath, other, "req_theirs", clock.utcnow() - timedelta(minutes=1))
    theirs = invoke(
        "TicketsFunction",
        event(
            "tickets_open",
            key=other.admin_key,
            body={"subject": "Theirs", "category": "other", "body": "private"},
        ),
    ).body["id"]

    refused = opened(owner, request_ids="req_mine, req_theirs")

    assert refused.status == 404
    assert "No request &#39;req_theirs&#39; in this account" in refused.text
    assert 'value="req_mine, req_theirs"' in refused.text  # the form keeps what was typed
    assert "No tickets yet" in owner.get("/console/tickets").text
    for answer in (
        owner.get(f"/console/tickets/{theirs}"),
        owner.post(f"/console/tickets/{theirs}/messages", {"body": "mine now"}),
        owner.post(f"/console/tickets/{theirs}/close"),
        owner.post(f"/console/tickets/{theirs}/attachments", A_FILE),
    ):
        assert answer.status == 404 and "private" not in answer.text
    assert "Theirs" not in owner.get("/console/tickets").text


@pytest.mark.parametrize(
    ("fields", "status", "message"),
    [
        ({"subject": ""}, 400, "subject"),
        ({"category": "urgent"}, 400, "&#39;category&#39; must be one of"),
        ({"body": "x" * 20_001}, 400, "body"),
        ({"request_ids": " ".join(f"req_{i}" for i in range(21))}, 400, "at most 20"),
    ],
)
def test_the_services_validation_shows_in_the_form_with_its_status(owner, fields, status, message):
    refused = opened(owner, **fields)
    assert refused.status == status and message in refused.text
    assert 'class="message error"' in refused.text
    assert "No tickets yet" in owner.get("/console/tickets").text


def test_a_developer_cannot_point_a_ticket_at_a_payment_nor_see_one(
    customer, owner, signed_in_member
):
    developer = ConsoleClient()
    developer.sign_in(signed_in_member(customer.account_id, "developer"))
    assert "payment_ids" not in developer.get("/console/tickets/new").text
    # posting the field by hand is refused by the service
    refused = opened(developer, payment_ids="cs_mine")
    assert refused.status == 403 and "payments" in refused.text
    # and the owner's ticket about a payment shows the developer no payment
    ticket = owner.follow(opened(owner, payment_ids="cs_mine")).text
    assert "cs_mine" in ticket
    ticket_id = ticket.split("/console/tickets/")[1].split("/")[0]
    assert "cs_mine" not in developer.get(f"/console/tickets/{ticket_id}").text


def test_a_reply_file_is_signed_for_the_browser_whose_page_may_post_to_the_bucket(owner):
    ticket_id = opened(owner).location.rsplit("/", 1)[-1]
    thread = owner.get(f"/console/tickets/{ticket_id}")
    signed = owner.post(
        f"/console/tickets/{ticket_id}/attachments",
        A_FILE,
    )
    assert signed.status == 201, signed.text
    upload = json.loads(signed.text)["upload"]
    origin = "/".join(upload["url"].split("/")[:3])
    csp = thread.headers["content-security-policy"]
    assert f"connect-src 'self' {origin};" in csp and "script-src 'self';" in csp
    assert "connect-src 'self';" in owner.get("/console/tickets").headers["content-security-policy"]
    # the API's own checks of the declared file
    refused = owner.post(
        f"/console/tickets/{ticket_id}/attachments",
        {"filename": "x.exe", "content_type": "application/x-msdownload", "size_bytes": "12"},
        htmx=True,
    )
    assert refused.status == 400 and "content_type" in refused.text


def test_a_refused_reply_keeps_its_text_and_the_files_already_uploaded(owner):
    ticket_id = opened(owner).location.rsplit("/", 1)[-1]
    signed = owner.post(f"/console/tickets/{ticket_id}/attachments", A_FILE)
    file_id = json.loads(signed.text)["id"]

    refused = owner.post(
        f"/console/tickets/{ticket_id}/messages", {"body": "", "attachment_ids": file_id}
    )

    assert refused.status == 400
    assert f'name="attachment_ids" value="{file_id}"' in refused.text


def test_a_ticket_closed_over_30_days_ago_offers_a_new_one_not_a_reopen(customer, owner):
    ticket_id = opened(owner).location.rsplit("/", 1)[-1]
    owner.post(f"/console/tickets/{ticket_id}/close")
    closed = ticket_store.get_ticket(customer.account_id, ticket_id, now=clock.utcnow())
    assert closed is not None and closed.closed_at is not None
    closed.update(actions=[Ticket.closed_at.set(closed.closed_at - timedelta(days=31))])

    thread = owner.get(f"/console/tickets/{ticket_id}")

    assert "cannot be reopened" in thread.text
    assert "Reopen ticket" not in thread.text
