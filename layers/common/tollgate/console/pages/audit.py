"""The audit log: the account's audit events, newest first, filtered by action, actor and
dates (UTC) as ``GET /v1/audit`` filters them, a page at a time."""

from __future__ import annotations

import re

from aws_lambda_powertools.event_handler import Response

from tollgate import audit
from tollgate.console import render, session, web
from tollgate.console.routes import page
from tollgate.settings import Settings

FILTERS = ("action", "actor", "from", "to")
PLAIN_DATE = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}")


@page("/console/audit")
def audit_log(request: web.ConsoleRequest, settings: Settings) -> Response:
    caller = session.member(request, "GET", "/v1/audit", settings)
    shown = {name: request.query.get(name, "").strip() for name in FILTERS}
    events, cursor = audit.list_events(
        caller.account_id,
        cursor=request.query.get("cursor") or None,
        **audit.parse_filters(_as_api_query(shown)),
    )
    body = render.render(
        request,
        settings,
        "audit.html",
        events=[audit.event_view(event) for event in events],
        filters=shown,
        filtered=any(shown.values()),
        next_query={**{k: v for k, v in shown.items() if v}, "cursor": cursor} if cursor else None,
    )
    return web.html(request, body)


def _as_api_query(shown: dict[str, str]) -> dict[str, str]:
    """The form's dates are whole UTC days: "to" a day takes in all of that day."""
    query = dict(shown)
    if PLAIN_DATE.fullmatch(query["to"]):
        query["to"] = f"{query['to']}T23:59:59.999999"
    return query
