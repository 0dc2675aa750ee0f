"""The overview: the wallet (available, held), spend today and this month, a 30-day chart of
spend and requests per day from the daily rollups, the most used models, and a warning with
a "Top up" button when the balance is low."""

from __future__ import annotations

from collections import Counter
from datetime import timedelta
from decimal import Decimal
from typing import Any

from aws_lambda_powertools.event_handler import Response

from tollgate import accounts, billing, clock, money, usage
from tollgate.console import render, session, web
from tollgate.console.routes import page
from tollgate.settings import Settings

CHART_DAYS = 30
TOP_MODELS = 5


@page("/console/overview")
def overview(request: web.ConsoleRequest, settings: Settings) -> Response:
    context: dict[str, Any] = {
        "wallet": None,
        "activity": None,
        "low_balance": None,
        "joined": "joined" in request.query,  # an invitation just accepted
    }
    if session.may(request, settings, "GET", "/v1/wallet"):
        context.update(_wallet(request, settings))
    if session.may(request, settings, "GET", "/v1/usage/summary"):
        context["activity"] = _activity(request, settings)
    return web.html(request, render.render(request, settings, "overview.html", **context))


def _wallet(request: web.ConsoleRequest, settings: Settings) -> dict[str, Any]:
    caller = session.member(request, "GET", "/v1/wallet", settings)
    wallet = billing.wallet_view(billing.get_wallet(caller.account_id))
    profile = accounts.profile_view(accounts.get_account(caller.account_id))
    threshold = profile["low_balance_threshold_usd"] or settings.checkout_min_usd
    low = Decimal(wallet["available_usd"]) < Decimal(threshold)
    return {"wallet": wallet, "low_balance": threshold if low else None}


def _activity(request: web.ConsoleRequest, settings: Settings) -> dict[str, Any]:
    """Per day of the last 30 (UTC): spend and requests; spend today and this month; the
    models with the most requests."""
    caller = session.member(request, "GET", "/v1/usage/summary", settings)
    today = clock.utcnow().date()
    first = min(today - timedelta(days=CHART_DAYS - 1), today.replace(day=1))
    filters = usage.parse_filters({"from": first.isoformat()}.get)
    rows = usage.summary(caller.account_id, filters)["data"]
    spend: Counter[str] = Counter()
    requests: Counter[str] = Counter()
    by_model: Counter[str] = Counter()
    for row in rows:
        spend[row["day"]] += money.parse_usd(row["charge_usd"])
        requests[row["day"]] += row["requests"]
        by_model[row["model"]] += row["requests"]
    days = [today - timedelta(days=back) for back in range(CHART_DAYS - 1, -1, -1)]
    month = today.replace(day=1).isoformat()
    return {
        "spend_today": spend[today.isoformat()],
        "spend_month": sum(nanos for day, nanos in spend.items() if day >= month),
        "requests_30d": sum(requests[day.isoformat()] for day in days),
        "top_models": by_model.most_common(TOP_MODELS),
        "chart": {
            "days": [day.isoformat() for day in days],
            "spend": [float(Decimal(money.format_usd(spend[d.isoformat()]))) for d in days],
            "requests": [requests[day.isoformat()] for day in days],
        },
    }
