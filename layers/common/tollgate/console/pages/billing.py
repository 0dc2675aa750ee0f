"""Billing: the wallet, a top-up through Stripe Checkout and the page the payer comes back
to (which follows the payment until the webhook has credited it), the payments with their
receipts, and the ledger with its running balance, a page at a time or as CSV."""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools.event_handler import Response

from tollgate import billing
from tollgate.console import render, session, web
from tollgate.console.routes import page
from tollgate.settings import Settings

PAYMENTS_SHOWN = 10
LEDGER_SHOWN = 25
CANCELLED = "cancelled"  # the ``topup`` query of the page a cancelled checkout returns to


@page("/console/billing")
def billing_page(request: web.ConsoleRequest, settings: Settings) -> Response:
    # the wallet, its payments and its ledger are one permission (wallet.read)
    account_id = session.member(request, "GET", "/v1/wallet", settings).account_id
    payments, payments_cursor = billing.list_payments(
        account_id, limit=PAYMENTS_SHOWN, cursor=request.query.get("payments_cursor") or None
    )
    ledger, ledger_cursor = billing.ledger_page(
        account_id, limit=LEDGER_SHOWN, cursor=request.query.get("ledger_cursor") or None
    )
    body = render.render(
        request,
        settings,
        "billing.html",
        wallet=billing.wallet_view(billing.get_wallet(account_id)),
        payments=[billing.payment_view(payment) for payment in payments],
        payments_cursor=payments_cursor,
        ledger=[billing.ledger_entry_view(row) for row in ledger],
        ledger_cursor=ledger_cursor,
        paging=bool(request.query.get("payments_cursor") or request.query.get("ledger_cursor")),
        bounds=(settings.checkout_min_usd, settings.checkout_max_usd),
        cancelled=request.query.get("topup") == CANCELLED,
    )
    return web.html(request, body)


@page("/console/billing/topup", method="POST")
def top_up(request: web.ConsoleRequest, settings: Settings) -> Response:
    """The same checkout as ``POST /v1/wallet/checkout``, returning the payer to the console."""
    caller = session.member(request, "POST", "/v1/wallet/checkout", settings)
    amount = billing.parse_checkout_amount({"amount_usd": request.field("amount_usd")}, settings)
    console = _console_address(request)
    checkout = billing.create_checkout(
        caller.account_id,
        amount,
        settings,
        success_url=f"{console}/billing/topup/{{CHECKOUT_SESSION_ID}}",
        cancel_url=f"{console}/billing?topup={CANCELLED}",
    )
    return web.elsewhere(request, checkout["url"])


@page("/console/billing/topup/<payment_id>")
def top_up_status(request: web.ConsoleRequest, settings: Settings, payment_id: str) -> Response:
    """The payment the payer just made, as it settles: the page's status fragment asks again
    (htmx) while it is open, then shows the balance the webhook's credit left."""
    caller = session.member(request, "GET", "/v1/payments/{payment_id}", settings)
    payment = billing.payment_view(billing.get_payment(caller.account_id, payment_id))
    context: dict[str, Any] = {"payment": payment, "wallet": None}
    if payment["status"] == "paid":
        context["wallet"] = billing.wallet_view(billing.get_wallet(caller.account_id))
    template = "_billing_topup_status.html" if request.htmx else "billing_topup.html"
    return web.html(request, render.render(request, settings, template, **context))


@page("/console/billing/ledger.csv")
def ledger_csv(request: web.ConsoleRequest, settings: Settings) -> Response:
    caller = session.member(request, "GET", "/v1/wallet/ledger", settings)
    rows, _ = billing.ledger_export(caller.account_id)
    return web.download(
        request, "tollgate-ledger.csv", billing.ledger_csv(rows), "text/csv; charset=utf-8"
    )


def _console_address(request: web.ConsoleRequest) -> str:
    """The console as this browser reached it, for Stripe to send the payer back to: the
    same host keeps their session cookie (the deployment's ``console_url`` may be unset)."""
    scheme = "https" if request.secure else "http"
    return f"{scheme}://{request.headers.get('host', '')}{request.url('/console')}"
