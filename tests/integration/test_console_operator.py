"""The operator area and the audit log, in process: only the operator key opens the operator
area (a member's session never does), its session cookie holds no key and ends with the key's
rotation or its time, its forms need the console's CSRF token, and the audit log shows who did
what from where to the roles that may read the trail only."""

from __future__ import annotations

from datetime import timedelta

import boto3
import pytest
from aws_lambda_powertools.utilities import parameters

from tests.integration.conftest import event
from tests.integration.console_client import ConsoleClient
from tests.integration.test_ticket_attachments import a_ticket, reply, uploaded
from tests.support.environment import OPERATOR_KEY
from tollgate import audit, billing, clock
from tollgate.console import operator_session
from tollgate.secret_keys import digest as secret_digest
from tollgate.settings import get_settings


@pytest.fixture
def customer(new_account):
    return new_account(email="customer@example.com")


def operator_browser() -> ConsoleClient:
    browser = ConsoleClient()
    browser.get("/console/operator/sign-in")
    signed_in = browser.post("/console/operator/sign-in", {"operator_key": OPERATOR_KEY})
    assert signed_in.status == 303, signed_in.text
    return browser


def available(account_id: str) -> str:
    return billing.wallet_view(billing.get_wallet(account_id))["available_usd"]


def test_the_operator_key_opens_the_operator_area_with_a_cookie_that_does_not_hold_it(
    customer,
):
    browser = operator_browser()

    cookie = browser.cookies[operator_session.OPERATOR_COOKIE]
    accounts = browser.get("/console/operator/accounts", q="customer@example")

    assert OPERATOR_KEY not in cookie and secret_digest(OPERATOR_KEY) not in cookie
    assert accounts.status == 200
    assert customer.account_id in accounts.text


def test_a_wrong_key_or_a_customers_key_is_refused(customer):
    browser = ConsoleClient()
    browser.get("/console/operator/sign-in")

    wrong = browser.post("/console/operator/sign-in", {"operator_key": "tg-op-" + "x" * 43})
    customers = browser.post("/console/operator/sign-in", {"operator_key": customer.admin_key})

    assert (wrong.status, customers.status) == (401, 403)
    assert operator_session.OPERATOR_COOKIE not in browser.cookies
    assert browser.get("/console/operator/accounts").location.endswith("/console/operator/sign-in")


def test_a_members_session_is_not_an_operator(sign_up):
    owner = sign_up(email="owner@example.com")
    browser = ConsoleClient()
    browser.sign_in(owner)
    before = available(owner.account_id)

    page = browser.get("/console/operator/accounts")
    posted = browser.post(
        f"/console/operator/accounts/{owner.account_id}/adjustments",
        {"amount_usd": "100.00", "direction": "credit", "reason": "free money"},
    )

    assert page.status == 303 and page.location.endswith("/console/operator/sign-in")
    assert posted.status == 303 and posted.location.endswith("/console/operator/sign-in")
    assert available(owner.account_id) == before


def test_a_forged_an_expired_or_a_rotated_out_session_is_refused(customer, monkeypatch):
    browser = operator_browser()
    genuine = browser.cookies[operator_session.OPERATOR_COOKIE]
    expires, nonce, mac = genuine.split(".")

    def opens(cookie: str) -> bool:
        browser.cookies[operator_session.OPERATOR_COOKIE] = cookie
        return browser.get("/console/operator/accounts").status == 200

    assert opens(genuine)
    assert not opens(f"{int(expires) + 86400}.{nonce}.{mac}")  # a longer life, forged
    assert not opens(f"{expires}.{nonce}.{'0' * 64}")
    later = clock.utcnow() + timedelta(hours=8, seconds=1)
    with monkeypatch.context() as m:
        m.setattr(clock, "utcnow", lambda: later)
        assert not opens(genuine)
    # when the operator key is rotated, every operator session ends
    boto3.client("secretsmanager", region_name=get_settings().region).put_secret_value(
        SecretId=get_settings().operator_key_secret, SecretString=secret_digest("tg-op-new")
    )
    parameters.clear_caches()
    assert not opens(genuine)


def test_an_operator_form_without_the_csrf_token_changes_nothing(customer):
    browser = operator_browser()
    before = available(customer.account_id)

    refused = browser.post(
        f"/console/operator/accounts/{customer.account_id}/adjustments",
        {"amount_usd": "1.00", "direction": "credit", "reason": "goodwill"},
        csrf="0" * 64,
    )

    assert refused.status == 403
    assert available(customer.account_id) == before


def test_an_adjustment_shows_in_the_account_and_in_its_audit_log(customer, signed_in_member):
    operator = operator_browser()
    operator.get(f"/console/operator/accounts/{customer.account_id}")

    invalid = operator.post(
        f"/console/operator/accounts/{customer.account_id}/adjustments",
        {"amount_usd": "-1", "direction": "credit", "reason": "goodwill"},
    )
    done = operator.post(
        f"/console/operator/accounts/{customer.account_id}/adjustments",
        {"amount_usd": "1.00", "direction": "credit", "reason": "goodwill"},
    )
    page = operator.follow(done)

    assert invalid.status == 400 and "amount_usd" in invalid.text
    assert "The adjustment was made." in page.text and "$1.00<" in page.text
    admin, developer = ConsoleClient(), ConsoleClient()
    admin.sign_in(signed_in_member(customer.account_id, "admin"))
    developer.sign_in(signed_in_member(customer.account_id, "developer"))
    log = admin.get("/console/audit", action="wallet.adjusted")
    assert log.status == 200
    assert "<code>operator</code>" in log.text and "wallet.adjusted" in log.text
    assert "account.created" not in log.text  # filtered
    assert developer.get("/console/audit").status == 403  # a role without audit.read


def test_a_suspension_needs_a_reason_and_is_audited_with_the_consoles_request(customer):
    operator = operator_browser()
    status = f"/console/operator/accounts/{customer.account_id}/status"

    no_reason = operator.post(status, {"change": "suspend", "reason": ""}, htmx=True)
    suspended = operator.post(status, {"change": "suspend", "reason": "Chargeback fraud"})
    again = operator.post(status, {"change": "suspend", "reason": "twice"}, htmx=True)

    assert no_reason.status == 400 and "reason" in no_reason.text
    assert no_reason.headers["hx-retarget"] == "#messages"
    assert suspended.status == 303
    assert "already suspended" in again.text and again.status == 409
    page = operator.follow(suspended)
    assert "suspended (Chargeback fraud" in page.text
    (event,), _ = audit.list_events(customer.account_id, action="account.suspended")
    assert (event.actor, event.source_ip) == ("operator", "127.0.0.1")
    assert event.request_id


def test_the_operator_answers_and_assigns_a_ticket_and_an_unknown_one_is_not_found(
    customer, invoke
):
    opened = invoke(
        "TicketsFunction",
        event(
            "tickets_open",
            key=customer.admin_key,
            body={"subject": "Charged twice", "category": "billing", "body": "Two charges."},
        ),
    )
    ticket_id = opened.body["id"]
    operator = operator_browser()
    operator.get(f"/console/operator/tickets/{ticket_id}")

    replied = operator.post(
        f"/console/operator/tickets/{ticket_id}/messages", {"kind": "reply", "body": "On it."}
    )
    assigned = operator.post(
        f"/console/operator/tickets/{ticket_id}/changes",
        {"status": "waiting_on_support", "assignee": "sam"},
    )
    invalid = operator.post(
        f"/console/operator/tickets/{ticket_id}/changes", {"status": "lost", "assignee": ""}
    )
    unknown = operator.get("/console/operator/tickets/tkt_nope")

    assert (replied.status, assigned.status) == (303, 303)
    page = operator.follow(assigned)
    assert "On it." in page.text and 'value="sam"' in page.text
    assert invalid.status == 400 and "status" in invalid.text
    assert unknown.status == 404 and "Back to the operator area" in unknown.text
    customer_view = invoke(
        "TicketsFunction",
        event("tickets_get", key=customer.admin_key, path_parameters={"ticket_id": ticket_id}),
    )
    assert [m["body"] for m in customer_view.body["thread"]] == ["Two charges.", "On it."]


def test_the_operator_downloads_a_file_the_customer_attached(invoke, customer):
    # given a customer's reply carrying a file
    ticket_id = a_ticket(invoke, customer.admin_key)
    file_id = uploaded(invoke, customer.admin_key, ticket_id)
    assert reply(invoke, customer.admin_key, ticket_id, [file_id]).status == 201
    operator = operator_browser()

    # when the operator opens the ticket and follows the file's link
    page = operator.get(f"/console/operator/tickets/{ticket_id}")
    link = f"/console/operator/tickets/{ticket_id}/attachments/{file_id}"
    assert f'href="{link}"' in page.text
    sent = operator.get(link)

    # then it is a short-lived presigned GET of that file; a stranger's browser gets nothing
    assert sent.status == 303
    assert f"tickets/{customer.account_id}/{ticket_id}/{file_id}" in sent.location
    assert "X-Amz-Expires=300" in sent.location
    stranger = ConsoleClient().get(link)
    assert stranger.status == 303 and "/console/operator/sign-in" in stranger.location


def test_the_queue_filters_by_age_with_the_apis_rules(invoke, customer, monkeypatch):
    ticket_id = a_ticket(invoke, customer.admin_key)
    operator = operator_browser()

    fresh = operator.get("/console/operator/tickets", older_than_hours="1")
    later = clock.utcnow() + timedelta(hours=2)
    monkeypatch.setattr(clock, "utcnow", lambda: later)
    old = operator.get("/console/operator/tickets", older_than_hours="1")
    bad = operator.get("/console/operator/tickets", older_than_hours="soon")

    assert fresh.status == 200 and ticket_id not in fresh.text
    assert old.status == 200 and ticket_id in old.text
    assert bad.status == 400 and "whole number" in bad.text
