"""Payments: an account's Stripe Checkout top-ups, and Stripe's signed webhook."""

from __future__ import annotations

from tollgate.openapi.operation import Operation
from tollgate.openapi.schema import (
    boolean,
    const,
    integer,
    nullable,
    obj,
    open_obj,
    page_of,
    ref,
    string,
    unix_time,
    usd,
)

TAG = "Payments"

_PAYMENT = obj(
    {
        "object": const("payment"),
        "id": string("the Checkout Session's id (cs_...)"),
        "amount_usd": usd(),
        "currency": string(),
        "status": string("open, processing, paid, failed, expired or mismatch"),
        "checkout_session_id": string(),
        "payment_intent_id": nullable(string()),
        "receipt_url": nullable(string()),
        "checkout_url": nullable(string("where to pay, while the payment is open")),
        "created_at": unix_time(),
        "updated_at": unix_time(),
    }
)

SCHEMAS = {"Payment": _PAYMENT}

OPERATIONS = {
    ("GET", "/v1/payments"): Operation(
        "List the account's payments, newest first",
        {200: page_of(ref("Payment"))},
        query={"limit": integer(minimum=1), "cursor": string()},
    ),
    ("GET", "/v1/payments/{payment_id}"): Operation("Read a payment", {200: ref("Payment")}),
    ("POST", "/webhooks/stripe"): Operation(
        "Stripe's events (Checkout Sessions, disputes): called by Stripe, not by clients",
        {
            200: obj(
                {
                    "received": boolean(),
                    "event": string("Stripe's event id"),
                    "outcome": string("what the event did, e.g. credited, duplicate, ignored"),
                }
            )
        },
        body=open_obj("a Stripe event, exactly as Stripe signed it"),
        description=(
            "Authenticated by the `Stripe-Signature` header (the endpoint's signing secret, "
            "5 minutes' tolerance), not by a key. Each event takes effect once."
        ),
        extra={
            "parameters": [
                {
                    "name": "Stripe-Signature",
                    "in": "header",
                    "required": True,
                    "schema": {"type": "string"},
                }
            ]
        },
    ),
}
