"""BillingFunction (wallet, ledger, checkout, payments) and the operator's wallet adjustments,
called with the events in events/ against moto; the Stripe SDK talks to devstack's Stripe
stand-in, started here on loopback."""

from __future__ import annotations

import csv
import dataclasses
import io
import json
from datetime import UTC, datetime, timedelta

import pytest

from devstack.stripe_standin import start_stripe_standin
from tests.integration.conftest import event, handle
from tests.support.environment import OPERATOR_KEY
from tollgate import audit, clock, keys, ledger, money
from tollgate.errors import NotFound
from tollgate.key_policy import KeyPolicy
from tollgate.settings import get_settings
from tollgate.store import payments as payment_store
from tollgate.store import wallet as wallet_store
from tollgate.store.billing import list_ledger
from tollgate.store.hotpath import Hold, UsageRecord
from tollgate.store.layout import account_pk
from tollgate.store.models import LedgerEntry, Payment

NOW = datetime(2026, 11, 23, 10, 0, tzinfo=UTC)
USD = money.parse_usd


@pytest.fixture(scope="module")
def standin():
    """The Stripe stand-in with devstack's test key (the one the Stripe secret holds here)."""
    running = start_stripe_standin("sk_test_devstack", "whsec_test")
    yield running
    running.stop()


@pytest.fixture(autouse=True)
def billing_uses_standin(standin, monkeypatch):
    from functions.billing import app

    monkeypatch.setattr(
        app, "settings", dataclasses.replace(app.settings, stripe_api_base=standin.url)
    )


@pytest.fixture
def customer(new_account):
    return new_account()


def call(invoke, name: str, key: str, **options):
    function = "AccountFunction" if name == "adjustment_create" else "BillingFunction"
    return invoke(function, event(name, key=key, **options))


def credit(account_id: str, usd: str, at: datetime, kind: str = "adjustment", reason: str = ""):
    return ledger.credit(account_id, USD(usd), kind=kind, reason=reason or "test", now=at)


# ------------------------------------------------------------------------------ the wallet


def test_a_new_wallet_is_empty(invoke, customer):
    answer = call(invoke, "wallet_get", customer.admin_key)

    assert answer.status == 200
    assert answer.body == {
        "object": "wallet",
        "account_id": customer.account_id,
        "balance_usd": "0.00",
        "held_usd": "0.00",
        "disputed_usd": "0.00",
        "available_usd": "0.00",
        "currency": "usd",
    }


@pytest.fixture
def proxy_path(hotpath):
    """Holds and settlements as the proxy takes them."""

    def hold(account_id: str, amount: int, request_id: str, at: datetime) -> Hold:
        key = keys.create_key(account_id, keys.NewKey(name="ci", role="inference"))
        taken = Hold(
            request_id,
            account_id,
            key.key.key_id,
            "openai/gpt-4o",
            amount,
            at,
            at + timedelta(minutes=6),
        )
        hotpath.hold(taken, KeyPolicy())
        return taken

    def settle(taken: Hold, charge: int) -> None:
        usage = UsageRecord(
            request_id=taken.request_id,
            account_id=taken.account_id,
            key_id=taken.key_id,
            model=taken.model,
            provider="openai",
            upstream_model="gpt-4o",
            route=0,
            endpoint="chat.completions",
            stream=False,
            status_code=200,
            status="settled",
            created_at=taken.created_at,
            input_tokens=10,
            output_tokens=10,
            hold=taken.amount,
            charge=charge,
        )
        assert hotpath.settle(taken, usage, KeyPolicy())

    return hold, settle


def test_the_wallet_shows_what_is_held_for_requests_in_flight(invoke, customer, proxy_path):
    hold, _ = proxy_path
    credit(customer.account_id, "10.00", NOW)
    hold(customer.account_id, USD("1.25"), "req-1", NOW)

    answer = call(invoke, "wallet_get", customer.admin_key)

    assert answer.body["balance_usd"] == "10.00"
    assert answer.body["held_usd"] == "1.25"
    assert answer.body["available_usd"] == "8.75"


def test_an_inference_key_cannot_read_the_wallet(invoke, customer):
    inference = keys.create_key(customer.account_id, keys.NewKey(name="ci", role="inference"))

    answer = call(invoke, "wallet_get", inference.secret)

    assert answer.status == 403
    assert answer.body["error"]["code"] == "admin_key_required"


# ------------------------------------------------------------------------------ the ledger


def test_the_ledger_lists_entries_newest_first_with_the_running_balance(
    invoke, customer, proxy_path
):
    hold, settle = proxy_path
    credit(customer.account_id, "10.00", NOW - timedelta(days=2), reason="welcome")
    credit(customer.account_id, "20.00", NOW - timedelta(days=1), "topup", "Stripe top-up")
    settle(hold(customer.account_id, USD("2.00"), "req-1", NOW), USD("0.75"))
    settle(hold(customer.account_id, USD("2.00"), "req-2", NOW + timedelta(hours=1)), USD("0.25"))
    hold(customer.account_id, USD("3.00"), "req-3", NOW + timedelta(hours=2))  # in flight

    answer = call(invoke, "wallet_ledger", customer.admin_key)

    assert answer.status == 200
    rows = [
        (e["kind"], e["amount_usd"], e["balance_after_usd"], e["reason"])
        for e in answer.body["data"]
    ]
    assert rows == [
        ("charge", "-1.00", "29.00", "usage charges of the day (UTC)"),  # one entry per day
        ("topup", "20.00", "30.00", "Stripe top-up"),
        ("adjustment", "10.00", "10.00", "welcome"),
    ]
    assert answer.body["has_more"] is False
    wallet = call(invoke, "wallet_get", customer.admin_key).body
    assert (wallet["balance_usd"], wallet["held_usd"], wallet["available_usd"]) == (
        "29.00",
        "3.00",
        "26.00",
    )


def test_a_later_ledger_page_continues_the_running_balance(invoke, customer):
    for day, usd in enumerate(("1.00", "2.00", "4.00", "8.00", "16.00")):
        credit(customer.account_id, usd, NOW + timedelta(days=day))

    first = call(invoke, "wallet_ledger", customer.admin_key, query={"limit": "2"})
    second = call(
        invoke,
        "wallet_ledger",
        customer.admin_key,
        query={"limit": "2", "cursor": first.body["next_cursor"]},
    )
    third = call(
        invoke,
        "wallet_ledger",
        customer.admin_key,
        query={"limit": "2", "cursor": second.body["next_cursor"]},
    )

    pages = [[e["balance_after_usd"] for e in p.body["data"]] for p in (first, second, third)]
    assert pages == [["31.00", "15.00"], ["7.00", "3.00"], ["1.00"]]
    assert third.body["has_more"] is False


@pytest.fixture
def a_day_with_charges_around_two_top_ups(customer, proxy_path):
    """5.00 the day before; then, on one UTC day, 1.00 charged at 10:00, a 20.00 top-up at
    12:00, 0.50 charged at 14:00, a 3.00 top-up at 15:00 and 0.25 charged at 16:00. The
    day's three charges are one ledger entry."""
    hold, settle = proxy_path
    at = NOW.replace(hour=0)
    credit(customer.account_id, "5.00", at - timedelta(hours=12), reason="welcome")
    settle(hold(customer.account_id, USD("2.00"), "req-1", at + timedelta(hours=10)), USD("1.00"))
    credit(customer.account_id, "20.00", at + timedelta(hours=12), "topup", "top-up")
    settle(hold(customer.account_id, USD("2.00"), "req-2", at + timedelta(hours=14)), USD("0.50"))
    credit(customer.account_id, "3.00", at + timedelta(hours=15), "topup", "top-up")
    settle(hold(customer.account_id, USD("2.00"), "req-3", at + timedelta(hours=16)), USD("0.25"))
    # the true balance after each entry, newest first: the day's charge entry stands for the
    # day's charges so far, so the balance after it is the balance after the last of them
    return [
        ("charge", "-1.75", "26.25"),
        ("topup", "3.00", "26.50"),
        ("topup", "20.00", "24.00"),
        ("adjustment", "5.00", "5.00"),
    ]


def test_the_running_balance_is_the_true_balance_after_each_entry_around_a_days_charges(
    invoke, customer, a_day_with_charges_around_two_top_ups
):
    answer = call(invoke, "wallet_ledger", customer.admin_key)

    rows = [(e["kind"], e["amount_usd"], e["balance_after_usd"]) for e in answer.body["data"]]
    assert rows == a_day_with_charges_around_two_top_ups


def test_the_running_balance_is_the_same_across_pages_of_one_entry(
    invoke, customer, a_day_with_charges_around_two_top_ups
):
    rows, cursor = [], None
    for _ in range(4):
        query = {"limit": "1", **({"cursor": cursor} if cursor else {})}
        page = call(invoke, "wallet_ledger", customer.admin_key, query=query).body
        rows += [(e["kind"], e["amount_usd"], e["balance_after_usd"]) for e in page["data"]]
        cursor = page["next_cursor"]

    assert rows == a_day_with_charges_around_two_top_ups


def test_the_running_balance_is_the_same_in_the_csv(
    customer, a_day_with_charges_around_two_top_ups
):
    result = handle(
        "BillingFunction",
        event("wallet_ledger_csv", key=customer.admin_key, query={"format": "csv"}),
    )

    rows = list(csv.DictReader(io.StringIO(result["body"])))
    assert [(r["kind"], r["amount_usd"], r["balance_after_usd"]) for r in rows] == (
        a_day_with_charges_around_two_top_ups
    )


def test_a_charge_settling_while_a_credit_is_written_is_placed_before_it(
    invoke, customer, proxy_path, monkeypatch
):
    # given 5.00 and a request in flight, which settles 1.00 just after a credit of 20.00 has
    # read the day's charges and before its transaction is written
    hold, settle = proxy_path
    credit(customer.account_id, "5.00", NOW - timedelta(days=1))
    in_flight = hold(customer.account_id, USD("2.00"), "req-1", NOW)
    real_check = wallet_store.day_charges_check
    settled: list[bool] = []

    def settle_in_between(entry):
        check = real_check(entry)
        if not settled:
            settle(in_flight, USD("1.00"))
            settled.append(True)
        return check

    monkeypatch.setattr(wallet_store, "day_charges_check", settle_in_between)

    # when the credit is written
    credit(customer.account_id, "20.00", NOW + timedelta(hours=1), "topup", "top-up")

    # then it was tried again and counts the charge that came first
    rows = call(invoke, "wallet_ledger", customer.admin_key).body["data"]
    assert [(e["kind"], e["amount_usd"], e["balance_after_usd"]) for e in rows] == [
        ("charge", "-1.00", "24.00"),
        ("topup", "20.00", "24.00"),
        ("adjustment", "5.00", "5.00"),
    ]


def test_a_cursor_of_another_account_is_refused(invoke, customer, new_account):
    other = new_account()
    for day in range(3):
        credit(other.account_id, "1.00", NOW + timedelta(days=day))
    cursor = call(invoke, "wallet_ledger", other.admin_key, query={"limit": "1"})
    stolen = cursor.body["next_cursor"]

    answer = call(invoke, "wallet_ledger", customer.admin_key, query={"cursor": stolen})

    assert answer.status == 400
    assert answer.body["error"]["param"] == "cursor"


def test_the_ledger_downloads_as_csv_with_a_header_row(customer):
    credit(customer.account_id, "10.00", NOW - timedelta(days=1), reason='=HYPERLINK("x")')
    ledger.debit(customer.account_id, USD("2.50"), kind="adjustment", reason="fix", now=NOW)

    result = handle(
        "BillingFunction",
        event("wallet_ledger_csv", key=customer.admin_key, query={"format": "csv"}),
    )

    assert result["statusCode"] == 200
    headers = {k.lower(): v[-1] for k, v in result["multiValueHeaders"].items()}
    assert headers["content-type"].startswith("text/csv")
    assert "attachment" in headers["content-disposition"]
    rows = list(csv.DictReader(io.StringIO(result["body"])))
    assert [(r["kind"], r["amount_usd"], r["balance_after_usd"]) for r in rows] == [
        ("adjustment", "-2.50", "7.50"),
        ("adjustment", "10.00", "10.00"),
    ]
    assert rows[0]["created_at"] == "2026-11-23 10:00:00"
    assert rows[1]["reason"] == '\'=HYPERLINK("x")'  # never run as a spreadsheet formula


def test_an_unknown_ledger_format_is_refused(invoke, customer):
    answer = call(invoke, "wallet_ledger", customer.admin_key, query={"format": "xlsx"})

    assert answer.status == 400
    assert answer.body["error"]["param"] == "format"


# ------------------------------------------------------------------------------ checkout


def test_checkout_creates_a_stripe_session_and_records_an_open_payment(invoke, customer, standin):
    answer = call(invoke, "wallet_checkout", customer.admin_key, body={"amount_usd": "20.00"})

    assert answer.status == 201, answer.body
    session = standin.app.sessions[answer.body["id"]]
    assert answer.body == {
        "object": "checkout_session",
        "id": session["id"],
        "url": f"{standin.url}/checkout/{session['id']}",
        "amount_usd": "20.00",
        "expires_at": session["expires_at"],
    }
    assert session["mode"] == "payment"
    assert (session["amount_total"], session["currency"]) == (2000, "usd")
    assert session["metadata"] == {"account_id": customer.account_id}
    assert session["client_reference_id"] == customer.account_id
    settings = get_settings()
    assert session["success_url"] == settings.checkout_success_url
    assert session["cancel_url"] == settings.checkout_cancel_url
    payment = Payment.get(account_pk(customer.account_id), f"PAYMENT#{session['id']}")
    assert (payment.status, payment.amount, payment.currency) == ("open", USD("20"), "usd")
    assert payment.checkout_url == answer.body["url"]


@pytest.mark.parametrize(
    "amount",
    ["4.99", "1000.01", "20.001", "-20.00", "twenty", 20.5, True, None, ""],
    ids=repr,
)
def test_checkout_refuses_an_amount_outside_the_rules(invoke, customer, standin, amount):
    sessions = len(standin.app.sessions)

    answer = call(invoke, "wallet_checkout", customer.admin_key, body={"amount_usd": amount})

    assert answer.status == 400
    assert answer.body["error"]["param"] == "amount_usd"
    assert "5.00" in answer.body["error"]["message"]
    assert "1000.00" in answer.body["error"]["message"]
    assert len(standin.app.sessions) == sessions


def test_checkout_accepts_the_bounds_and_whole_dollars(invoke, customer):
    for amount, shown in (("5", "5.00"), ("1000.00", "1000.00"), (25, "25.00")):
        answer = call(invoke, "wallet_checkout", customer.admin_key, body={"amount_usd": amount})
        assert (answer.status, answer.body["amount_usd"]) == (201, shown)


def test_a_stripe_failure_is_a_502_and_records_nothing(invoke, customer, standin):
    standin.app.fail_next(400, "invalid_request_error", "Amount must be at least 50 cents")

    answer = call(invoke, "wallet_checkout", customer.admin_key, body={"amount_usd": "20.00"})

    assert answer.status == 502
    assert answer.body["error"]["code"] == "payment_processor_error"
    assert "Stripe could not create the checkout session" in answer.body["error"]["message"]
    assert call(invoke, "payments_list", customer.admin_key).body["data"] == []


def test_a_refused_stripe_key_is_a_502_that_does_not_echo_the_key(invoke, customer, standin):
    standin.app.fail_next(401, "invalid_request_error", "Invalid API Key provided: sk_test_****")

    answer = call(invoke, "wallet_checkout", customer.admin_key, body={"amount_usd": "20.00"})

    assert answer.status == 502
    assert "API key" in answer.body["error"]["message"]
    assert "sk_test" not in json.dumps(answer.body)


# ------------------------------------------------------------------------------ payments


def checkout(invoke, customer, usd: str = "20.00") -> str:
    answer = call(invoke, "wallet_checkout", customer.admin_key, body={"amount_usd": usd})
    assert answer.status == 201, answer.body
    return answer.body["id"]


def test_payments_list_newest_first_in_pages(invoke, customer):
    created = [checkout(invoke, customer, usd) for usd in ("10.00", "20.00", "30.00")]

    first = call(invoke, "payments_list", customer.admin_key, query={"limit": "2"})
    second = call(
        invoke,
        "payments_list",
        customer.admin_key,
        query={"limit": "2", "cursor": first.body["next_cursor"]},
    )

    shown = [p["id"] for p in first.body["data"] + second.body["data"]]
    assert shown == created[::-1]
    assert [p["amount_usd"] for p in first.body["data"]] == ["30.00", "20.00"]
    assert (first.body["has_more"], second.body["has_more"]) == (True, False)


def test_a_paid_payment_shows_its_stripe_ids_and_receipt(invoke, customer, standin):
    session_id = checkout(invoke, customer)
    paid_at = clock.utcnow()
    entry = LedgerEntry(
        account_pk(customer.account_id),
        f"LEDGER#{paid_at.isoformat()}#le_paid",
        entry_id="le_paid",
        account_id=customer.account_id,
        kind="topup",
        amount=USD("20"),
        reason="Stripe top-up",
        reference=session_id,
        created_at=paid_at,
    )
    payment_store.credit_payment(  # what the webhook writes on checkout.session.completed
        payment_store.new_marker("evt_1", "checkout.session.completed", None, now=paid_at),
        entry,
        session_id=session_id,
        currency="usd",
        payment_intent_id="pi_test_1",
        receipt_url="https://pay.stripe.com/receipts/r1",
    )

    answer = call(
        invoke, "payments_get", customer.admin_key, path_parameters={"payment_id": session_id}
    )

    assert answer.status == 200
    body = answer.body
    assert body["object"] == "payment"
    assert (body["id"], body["checkout_session_id"]) == (session_id, session_id)
    assert (body["amount_usd"], body["currency"], body["status"]) == ("20.00", "usd", "paid")
    assert body["payment_intent_id"] == "pi_test_1"
    assert body["receipt_url"] == "https://pay.stripe.com/receipts/r1"
    assert body["checkout_url"] is None
    assert body["updated_at"] >= body["created_at"]


def test_an_open_payment_keeps_its_checkout_url(invoke, customer):
    session_id = checkout(invoke, customer)

    answer = call(
        invoke, "payments_get", customer.admin_key, path_parameters={"payment_id": session_id}
    )

    assert answer.body["status"] == "open"
    assert answer.body["checkout_url"].endswith(f"/checkout/{session_id}")
    assert answer.body["receipt_url"] is None


def test_another_accounts_payment_is_not_found(invoke, customer, new_account):
    session_id = checkout(invoke, new_account())

    answer = call(
        invoke, "payments_get", customer.admin_key, path_parameters={"payment_id": session_id}
    )

    assert answer.status == 404
    assert answer.body["error"]["code"] == "payment_not_found"


# ------------------------------------------------------------------------------ adjustments


def adjust(invoke, account_id: str, body: dict, key: str = OPERATOR_KEY):
    return call(
        invoke,
        "adjustment_create",
        key,
        body=body,
        path_parameters={"account_id": account_id},
    )


def test_an_operator_credit_adds_to_the_balance_with_a_ledger_entry_and_an_audit_event(
    invoke, customer
):
    answer = adjust(
        invoke,
        customer.account_id,
        {"amount_usd": "5.00", "direction": "credit", "reason": "outage goodwill"},
    )

    assert answer.status == 201, answer.body
    assert answer.body["object"] == "adjustment"
    assert (answer.body["direction"], answer.body["amount_usd"]) == ("credit", "5.00")
    assert answer.body["wallet"]["balance_usd"] == "5.00"
    (entry,) = call(invoke, "wallet_ledger", customer.admin_key).body["data"]
    assert (entry["kind"], entry["amount_usd"], entry["reason"]) == (
        "adjustment",
        "5.00",
        "outage goodwill",
    )
    events, _ = audit.list_events(customer.account_id, action="wallet.adjusted")
    (recorded,) = events
    assert recorded.actor == "operator"
    assert recorded.changes["balance_usd"] == {"before": "0.00", "after": "5.00"}
    assert recorded.changes["reason"]["after"] == "outage goodwill"


def test_an_operator_debit_subtracts_from_the_balance(invoke, customer):
    credit(customer.account_id, "10.00", NOW)

    answer = adjust(
        invoke,
        customer.account_id,
        {"amount_usd": "2.50", "direction": "debit", "reason": "duplicate credit"},
    )

    assert answer.status == 201, answer.body
    assert answer.body["wallet"]["balance_usd"] == "7.50"
    newest = call(invoke, "wallet_ledger", customer.admin_key).body["data"][0]
    assert (newest["kind"], newest["amount_usd"], newest["balance_after_usd"]) == (
        "adjustment",
        "-2.50",
        "7.50",
    )


def test_a_debit_never_takes_the_balance_below_zero(invoke, customer, proxy_path):
    hold, _ = proxy_path
    credit(customer.account_id, "10.00", NOW)
    hold(customer.account_id, USD("4.00"), "req-1", NOW)  # held money is not available

    answer = adjust(
        invoke,
        customer.account_id,
        {"amount_usd": "6.01", "direction": "debit", "reason": "too much"},
    )

    assert answer.status == 409
    assert answer.body["error"]["code"] == "insufficient_balance"
    wallet = call(invoke, "wallet_get", customer.admin_key).body
    assert (wallet["balance_usd"], wallet["held_usd"], wallet["available_usd"]) == (
        "10.00",
        "4.00",
        "6.00",
    )
    assert len(call(invoke, "wallet_ledger", customer.admin_key).body["data"]) == 1
    events, _ = audit.list_events(customer.account_id, action="wallet.adjusted")
    assert events == []


def test_an_adjustment_of_an_unknown_account_is_not_found(invoke, aws):
    answer = adjust(
        invoke, "acct_missing", {"amount_usd": "1.00", "direction": "debit", "reason": "x"}
    )

    assert answer.status == 404
    assert answer.body["error"]["code"] == "account_not_found"


def test_a_ledger_credit_without_a_wallet_is_not_found_and_writes_nothing(aws):
    with pytest.raises(NotFound) as missing:
        ledger.credit("acct_missing", USD("1.00"), kind="adjustment", reason="x", now=NOW)

    assert missing.value.code == "account_not_found"
    entries, _ = list_ledger("acct_missing", limit=None, cursor=None)
    assert entries == []


@pytest.mark.parametrize(
    ("body", "param"),
    [
        ({"amount_usd": "1.00", "direction": "credit"}, "reason"),
        ({"amount_usd": "1.00", "direction": "credit", "reason": "  "}, "reason"),
        ({"amount_usd": "1.00", "reason": "x"}, "direction"),
        ({"amount_usd": "1.00", "direction": "refund", "reason": "x"}, "direction"),
        ({"amount_usd": "0", "direction": "credit", "reason": "x"}, "amount_usd"),
        ({"amount_usd": "-1.00", "direction": "credit", "reason": "x"}, "amount_usd"),
        ({"amount_usd": 1.5, "direction": "credit", "reason": "x"}, "amount_usd"),
    ],
)
def test_an_adjustment_names_what_is_wrong_with_it(invoke, customer, body, param):
    answer = adjust(invoke, customer.account_id, body)

    assert answer.status == 400
    assert answer.body["error"]["param"] == param


def test_only_the_operator_may_adjust_a_wallet(invoke, customer):
    answer = adjust(
        invoke,
        customer.account_id,
        {"amount_usd": "100.00", "direction": "credit", "reason": "free money"},
        key=customer.admin_key,
    )

    assert answer.status == 403
    assert call(invoke, "wallet_get", customer.admin_key).body["balance_usd"] == "0.00"


@pytest.mark.parametrize(
    "amount", ["999999999999999", "100000.01", " 5.00", "5.00 ", "\t5.00"], ids=repr
)
def test_an_adjustment_above_the_maximum_or_with_surrounding_spaces_is_refused(
    invoke, customer, amount
):
    # given the template's default operator-adjustment maximum of 100000 USD
    # when the operator credits more than that, or an amount padded with spaces
    answer = adjust(
        invoke, customer.account_id, {"amount_usd": amount, "direction": "credit", "reason": "x"}
    )

    # then it is refused naming the field, and the wallet is untouched
    assert answer.status == 400
    assert answer.body["error"]["param"] == "amount_usd"
    assert call(invoke, "wallet_get", customer.admin_key).body["balance_usd"] == "0.00"


def test_an_adjustment_of_exactly_the_maximum_is_accepted(invoke, customer):
    answer = adjust(
        invoke,
        customer.account_id,
        {"amount_usd": "100000.00", "direction": "credit", "reason": "large prepayment"},
    )

    assert answer.status == 201, answer.body


@pytest.mark.parametrize("amount", [" 20.00", "20.00 ", "\n20.00", "999999999999999"], ids=repr)
def test_checkout_refuses_an_amount_with_spaces_or_far_above_the_maximum(
    invoke, customer, standin, amount
):
    sessions = len(standin.app.sessions)

    answer = call(invoke, "wallet_checkout", customer.admin_key, body={"amount_usd": amount})

    assert answer.status == 400
    assert answer.body["error"]["param"] == "amount_usd"
    assert len(standin.app.sessions) == sessions
