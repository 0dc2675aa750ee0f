"""Usage: the account's request records, filtered and paged by the usage service's cursor, a
chart of spend per model per day from the daily rollups, one request's detail, the CSV
download, and the monthly archives. Each stands for its API route (GET /v1/usage...,
/v1/archives...) and calls what that route's handler calls."""

from __future__ import annotations

import functools
from collections import Counter, defaultdict
from datetime import date, timedelta
from decimal import Decimal
from typing import Any
from urllib.parse import urlencode

from aws_lambda_powertools.event_handler import Response

from tollgate import archives, catalog, money, usage
from tollgate.console import render, session, web
from tollgate.console.routes import page
from tollgate.errors import BadRequest
from tollgate.settings import Settings

FILTERS = ("key_id", "model", "status", "endpoint", "from", "to")
CHART_MODELS = 5  # the models with the most spend get a line each; the rest share one


@page("/console/usage")
def usage_page(request: web.ConsoleRequest, settings: Settings) -> Response:
    caller = session.member(request, "GET", "/v1/usage", settings)
    chosen = _chosen_filters(request)
    cursor = request.query.get("cursor") or None
    context: dict[str, Any] = {"chosen": chosen, "results": None, "problem": None}
    try:
        context["results"] = _results(request, settings, caller.account_id, chosen, cursor)
    except BadRequest as refused:
        if request.htmx:
            raise
        context["problem"] = refused.message
    if request.htmx:
        fragment = "usage_rows.html" if cursor else "usage_results.html"
        return web.html(request, render.render(request, settings, fragment, **context))
    body = render.render(
        request,
        settings,
        "usage.html",
        options=_options(settings),
        max_rows=usage.MAX_CSV_ROWS,
        **context,
    )
    return web.html(request, body, status=400 if context["problem"] else 200)


@page("/console/usage/export")
def usage_csv(request: web.ConsoleRequest, settings: Settings) -> Response:
    caller = session.member(request, "GET", "/v1/usage", settings)
    filters = usage.parse_filters(_chosen_filters(request).get)
    records, rest = usage.export(caller.account_id, filters, cursor=request.query.get("cursor"))
    answer = web.download(
        request, "tollgate-usage.csv", usage.usage_csv(records), "text/csv; charset=utf-8"
    )
    if rest:
        answer.headers["x-next-cursor"] = rest
    return answer


@page("/console/usage/archives")
def archives_page(request: web.ConsoleRequest, settings: Settings) -> Response:
    caller = session.member(request, "GET", "/v1/archives", settings)
    batches = [archives.batch_view(b) for b in archives.list_batches(caller.account_id)]
    return web.html(
        request, render.render(request, settings, "usage_archives.html", batches=batches)
    )


@page("/console/usage/archives/<month>")
def archive_download(request: web.ConsoleRequest, settings: Settings, month: str) -> Response:
    caller = session.member(request, "GET", "/v1/archives/{month}", settings)
    return web.elsewhere(request, archives.download_url(caller.account_id, month, settings))


@page("/console/usage/<request_id>")
def usage_detail(request: web.ConsoleRequest, settings: Settings, request_id: str) -> Response:
    caller = session.member(request, "GET", "/v1/usage/{request_id}", settings)
    record = usage.usage_view(usage.get_usage(caller.account_id, request_id))
    return web.html(request, render.render(request, settings, "usage_detail.html", record=record))


def _chosen_filters(request: web.ConsoleRequest) -> dict[str, str]:
    return {name: request.query[name].strip() for name in FILTERS if request.query.get(name)}


def _results(
    request: web.ConsoleRequest,
    settings: Settings,
    account_id: str,
    chosen: dict[str, str],
    cursor: str | None,
) -> dict[str, Any]:
    filters = usage.parse_filters(chosen.get)
    records, rest = usage.list_usage(account_id, filters, limit=None, cursor=cursor)
    return {
        "rows": [usage.usage_view(record) for record in records],
        "more": f"/console/usage?{urlencode({**chosen, 'cursor': rest})}" if rest else None,
        "csv": f"/console/usage/export?{urlencode(chosen)}",
        "chart": None if cursor else _chart(request, settings, account_id, chosen),
        "paged": bool(cursor),
    }


def _chart(
    request: web.ConsoleRequest, settings: Settings, account_id: str, chosen: dict[str, str]
) -> dict[str, Any]:
    """Spend per model and requests per day (UTC) of the chosen dates, key and model: the
    rollups know no status or endpoint, so the chart counts them all."""
    session.member(request, "GET", "/v1/usage/summary", settings)
    by_rollup = {k: v for k, v in chosen.items() if k not in ("status", "endpoint")}
    found = usage.summary(account_id, usage.parse_filters(by_rollup.get))
    first, last = date.fromisoformat(found["from"]), date.fromisoformat(found["to"])
    days = [(first + timedelta(days=n)).isoformat() for n in range((last - first).days + 1)]
    spend: dict[str, Counter[str]] = defaultdict(Counter)
    requests: Counter[str] = Counter()
    for row in found["data"]:
        spend[row["model"]][row["day"]] += money.parse_usd(row["charge_usd"])
        requests[row["day"]] += row["requests"]
    return {
        "days": days,
        "series": [
            *_spend_lines(spend, days),
            {"label": "Requests", "values": [requests[d] for d in days], "scale": "count"},
        ],
        "requests": sum(requests.values()),
        "partial": "status" in chosen or "endpoint" in chosen,
    }


def _spend_lines(spend: dict[str, Counter[str]], days: list[str]) -> list[dict[str, Any]]:
    ranked = sorted(spend, key=lambda model: (-sum(spend[model].values()), model))
    lines = [(f"{model} (USD)", spend[model]) for model in ranked[:CHART_MODELS]]
    if len(ranked) > CHART_MODELS:
        lines.append(
            ("Other models (USD)", sum((spend[m] for m in ranked[CHART_MODELS:]), Counter()))
        )
    return [
        {"label": label, "values": [_dollars(per_day[d]) for d in days], "scale": "usd"}
        for label, per_day in lines
    ]


def _dollars(nanos: int) -> float:
    return float(Decimal(money.format_usd(nanos)))


def _options(settings: Settings) -> dict[str, Any]:
    return {
        "models": _model_ids(settings.catalog_path),
        "statuses": usage.STATUSES,
        "endpoints": usage.ENDPOINTS,
    }


@functools.cache
def _model_ids(path: str | None) -> tuple[str, ...]:
    return tuple(sorted(catalog.load_catalog(path).models))
