"""Billing's pure parts: top-up and adjustment amounts, the running balance, the CSV ledger,
and the Stripe stand-in's form parsing and signatures (checked with the official SDK)."""

from __future__ import annotations

import csv
import dataclasses
import io
import json
from datetime import UTC, datetime

import pytest
import stripe

from devstack.stripe_standin import nested_form, signature_header
from tollgate import billing
from tollgate.errors import BadRequest
from tollgate.settings import get_settings
from tollgate.store.models import LedgerEntry

SETTINGS = dataclasses.replace(get_settings(), checkout_min_usd="5.00", checkout_max_usd="1000.00")
NANOS = 10**9


def entry(amount_usd: str, kind: str = "adjustment", reason: str = "", **fields) -> LedgerEntry:
    nanos = round(float(amount_usd) * 100) * NANOS // 100
    return LedgerEntry(
        "ACCOUNT#acct_1",
        f"LEDGER#{amount_usd}",
        entry_id=fields.get("entry_id", "le_1"),
        account_id="acct_1",
        kind=kind,
        amount=nanos,
        reason=reason,
        reference=fields.get("reference"),
        receipt_url=fields.get("receipt_url"),
        created_at=fields.get("created_at", datetime(2026, 11, 23, 10, 0, tzinfo=UTC)),
    )


# ------------------------------------------------------------------------------ amounts


@pytest.mark.parametrize(
    ("given", "nanos"),
    [
        ("20.00", 20 * NANOS),
        ("20", 20 * NANOS),
        ("5", 5 * NANOS),
        ("1000.00", 1000 * NANOS),
        ("12.5", 12_500_000_000),
        ("7.25", 7_250_000_000),
        (42, 42 * NANOS),
    ],
)
def test_a_checkout_amount_is_whole_cents_within_the_bounds(given, nanos):
    assert billing.parse_checkout_amount({"amount_usd": given}, SETTINGS) == nanos


@pytest.mark.parametrize(
    "given",
    ["4.99", "1000.01", "20.001", "-20", "20.", ".5", "1e3", "twenty", "", 20.0, True, None],
)
def test_a_checkout_amount_outside_the_rules_names_amount_usd(given):
    with pytest.raises(BadRequest) as refused:
        billing.parse_checkout_amount({"amount_usd": given}, SETTINGS)

    assert refused.value.param == "amount_usd"
    assert "between 5.00 and 1000.00 USD" in refused.value.message


def test_the_checkout_bounds_come_from_the_settings():
    narrow = dataclasses.replace(SETTINGS, checkout_min_usd="10", checkout_max_usd="50")

    with pytest.raises(BadRequest, match=r"between 10\.00 and 50\.00 USD"):
        billing.parse_checkout_amount({"amount_usd": "60.00"}, narrow)


def test_a_checkout_body_with_other_fields_is_refused():
    with pytest.raises(BadRequest) as refused:
        billing.parse_checkout_amount({"amount_usd": "20", "currency": "eur"}, SETTINGS)

    assert refused.value.param == "currency"


def test_the_checkout_session_asks_stripe_for_one_line_in_cents():
    params = billing.checkout_params("acct_1", 20 * NANOS, SETTINGS)

    assert params["mode"] == "payment"
    (line,) = params["line_items"]
    assert line["quantity"] == 1
    assert line["price_data"]["currency"] == "usd"
    assert line["price_data"]["unit_amount"] == 2000
    assert line["price_data"]["product_data"]["name"]
    assert params["metadata"] == {"account_id": "acct_1"}
    assert params["client_reference_id"] == "acct_1"
    assert params["success_url"] == SETTINGS.checkout_success_url
    assert params["cancel_url"] == SETTINGS.checkout_cancel_url


def test_the_console_brings_its_payer_back_to_itself_instead_of_the_deployments_urls():
    params = billing.checkout_params(
        "acct_1",
        20 * NANOS,
        SETTINGS,
        success_url="https://gw.example/console/billing/topup/{CHECKOUT_SESSION_ID}",
        cancel_url="https://gw.example/console/billing?topup=cancelled",
    )

    assert params["success_url"] == "https://gw.example/console/billing/topup/{CHECKOUT_SESSION_ID}"
    assert params["cancel_url"] == "https://gw.example/console/billing?topup=cancelled"


def test_an_adjustment_is_parsed_with_its_direction_and_reason():
    parsed = billing.parse_adjustment(
        {"amount_usd": "0.000000001", "direction": "debit", "reason": " typo "}, SETTINGS
    )

    assert parsed == billing.Adjustment(amount=1, direction="debit", reason="typo")


# ------------------------------------------------------------------------------ running balance


def test_the_running_balance_walks_back_from_the_funds_after_the_newest_entry():
    newest_first = [entry("-1.50", "charge"), entry("20.00", "topup"), entry("10.00")]

    rows = billing.running_balances(newest_first, funds_after_first=28_500_000_000)

    assert [billing.ledger_entry_view(r)["balance_after_usd"] for r in rows] == [
        "28.50",
        "30.00",
        "10.00",
    ]


def test_an_empty_ledger_has_no_rows():
    assert billing.running_balances([], funds_after_first=0) == []


def test_a_ledger_entry_is_shown_with_a_signed_decimal_amount():
    view = billing.ledger_entry_view(
        billing.LedgerRow(entry("-0.25", "charge", "usage charges of the day (UTC)"), 5 * NANOS)
    )

    assert view == {
        "object": "ledger_entry",
        "id": "le_1",
        "kind": "charge",
        "amount_usd": "-0.25",
        "balance_after_usd": "5.00",
        "reason": "usage charges of the day (UTC)",
        "reference": None,
        "receipt_url": None,
        "created_at": 1795428000,
    }


# ------------------------------------------------------------------------------ CSV


def test_the_csv_ledger_has_a_header_row_and_the_same_columns():
    rows = billing.running_balances(
        [
            entry(
                "20.00",
                "topup",
                "Stripe top-up",
                reference="cs_test_1",
                receipt_url="https://pay.stripe.com/receipts/r1",
            ),
            entry("10.00"),
        ],
        30 * NANOS,
    )

    parsed = list(csv.reader(io.StringIO(billing.ledger_csv(rows))))

    assert parsed[0] == list(billing.LEDGER_COLUMNS)
    assert parsed[1] == [
        "le_1",
        "2026-11-23 10:00:00",
        "topup",
        "20.00",
        "30.00",
        "Stripe top-up",
        "cs_test_1",
        "https://pay.stripe.com/receipts/r1",
    ]
    assert parsed[2][3:5] == ["10.00", "10.00"]


def test_csv_text_is_quoted_and_never_a_formula():
    rows = billing.running_balances(
        [entry("1.00", reason='=cmd|"/c calc"!A1, "quoted", two\nlines')], NANOS
    )

    (parsed,) = list(csv.DictReader(io.StringIO(billing.ledger_csv(rows))))

    assert parsed["reason"] == '\'=cmd|"/c calc"!A1, "quoted", two\nlines'
    assert parsed["amount_usd"] == "1.00"


def test_a_negative_amount_stays_a_number_in_csv():
    rows = billing.running_balances([entry("-2.50")], 0)

    (parsed,) = list(csv.DictReader(io.StringIO(billing.ledger_csv(rows))))

    assert (parsed["amount_usd"], parsed["balance_after_usd"]) == ("-2.50", "0.00")


@pytest.mark.parametrize(("given", "shown"), [(None, "json"), ("json", "json"), ("csv", "csv")])
def test_the_ledger_format_is_json_or_csv(given, shown):
    assert billing.ledger_format(given) == shown


def test_another_ledger_format_is_refused():
    with pytest.raises(BadRequest):
        billing.ledger_format("xlsx")


# ------------------------------------------------------------------------------ the stand-in


def test_the_standin_reads_the_sdks_bracketed_form_encoding():
    body = (
        "mode=payment&line_items[0][quantity]=1&line_items[0][price_data][currency]=usd"
        "&line_items[0][price_data][unit_amount]=2000&metadata[account_id]=acct_1"
        "&expand[]=latest_charge&expand[]=customer"
    )

    assert nested_form(body) == {
        "mode": "payment",
        "line_items": [{"quantity": "1", "price_data": {"currency": "usd", "unit_amount": "2000"}}],
        "metadata": {"account_id": "acct_1"},
        "expand": ["latest_charge", "customer"],
    }


def test_the_standins_events_verify_with_the_stripe_sdk():
    payload = json.dumps({"id": "evt_1", "object": "event", "type": "x", "data": {"object": {}}})

    header = signature_header(payload.encode(), "whsec_test")

    event = stripe.Webhook.construct_event(payload, header, "whsec_test", tolerance=300)
    assert event.id == "evt_1"
    with pytest.raises(stripe.SignatureVerificationError):
        stripe.Webhook.construct_event(payload, header, "whsec_other", tolerance=300)
