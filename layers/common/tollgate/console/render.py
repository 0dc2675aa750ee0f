"""The console's Jinja2 templates (tollgate/templates/console), their filters (money, times)
and what every page's layout needs (the CSRF token, the person's accounts, the menu)."""

from __future__ import annotations

import functools
import hashlib
from datetime import UTC, datetime
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation
from pathlib import Path
from typing import Any

import jinja2
from markupsafe import Markup, escape

from tollgate import members, money, permissions
from tollgate.auth import Principal
from tollgate.console import session
from tollgate.console.web import ConsoleRequest, json_script
from tollgate.settings import Settings
from tollgate.store import members as member_store

TEMPLATES = Path(__file__).resolve().parents[1] / "templates" / "console"
STATIC = Path(__file__).resolve().parent / "static"
CENT = Decimal("0.01")

# The menu: (label, path, the API route whose permission shows it)
MENU = (
    ("Overview", "/console/overview", ("GET", "/v1/wallet")),
    ("API keys", "/console/keys", ("GET", "/v1/keys")),
    ("Usage", "/console/usage", ("GET", "/v1/usage")),
    ("Billing", "/console/billing", ("GET", "/v1/wallet")),
    ("Support", "/console/tickets", ("GET", "/v1/tickets")),
    ("Team", "/console/team", ("GET", "/v1/members")),
    ("Account", "/console/account", ("GET", "/v1/account")),
    ("Audit log", "/console/audit", ("GET", "/v1/audit")),
)


@functools.cache
def environment() -> jinja2.Environment:
    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(TEMPLATES),
        autoescape=True,
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.filters.update(usd=usd, usd_full=usd_full, when=when, json_script=json_script)
    return env


def render(request: ConsoleRequest, settings: Settings, template: str, **context: Any) -> str:
    """A page (or an htmx fragment) with what every template may use."""
    if not request.htmx and "accounts" not in context:
        context["accounts"] = person_accounts(request, settings)
    return (
        environment()
        .get_template(template)
        .render(
            request=request,
            url=request.url,
            asset=functools.partial(asset, request),
            csrf=session.csrf_token(request, settings),
            may=lambda method, route: session.may(request, settings, method, route),
            menu=MENU,
            **context,
        )
    )


def asset(request: ConsoleRequest, name: str) -> str:
    """A static file's URL, its content's digest in the query: cached for a year, changed
    with each release that changes it."""
    return request.url(f"/console/static/{name}?v={asset_digest(name)}")


@functools.cache
def asset_digest(name: str) -> str:
    return hashlib.sha256((STATIC / name).read_bytes()).hexdigest()[:16]


def _amount(value: Any) -> Decimal | None:
    if value is None or value == "":
        return None
    if isinstance(value, int) and not isinstance(value, bool):
        return Decimal(money.format_usd(value))
    try:
        return Decimal(str(value))
    except InvalidOperation:
        return None


def usd(value: Any) -> Markup:
    """A summary amount: dollars and cents, the full figure on hover."""
    amount = _amount(value)
    if amount is None:
        return Markup("—")
    shown = f"${amount.quantize(CENT, rounding=ROUND_HALF_UP):,.2f}".replace("$-", "-$")
    full = f"${amount:f}".replace("$-", "-$")
    return Markup('<span class="money" title="{}">{}</span>').format(full, shown)


def usd_full(value: Any) -> Markup:
    """An amount in detail: every digit it has (nano-dollars at most)."""
    amount = _amount(value)
    if amount is None:
        return Markup("—")
    text = f"${amount:f}".replace("$-", "-$")
    return Markup('<span class="money">{}</span>').format(text)


def when(value: Any) -> Markup:
    """A moment: UTC in the page and on hover; the console's script shows it in the
    viewer's time zone."""
    if value is None or value == "":
        return Markup("—")
    if isinstance(value, int | float):
        moment = datetime.fromtimestamp(value, UTC)
    elif isinstance(value, datetime):
        moment = value if value.tzinfo else value.replace(tzinfo=UTC)
    else:
        try:
            moment = datetime.fromisoformat(str(value).replace("Z", "+00:00"))
        except ValueError:
            return Markup(escape(str(value)))
    moment = moment.astimezone(UTC)
    utc = f"{moment:%Y-%m-%d %H:%M:%S} UTC"
    return Markup('<time datetime="{}" title="{}">{}</time>').format(
        moment.strftime("%Y-%m-%dT%H:%M:%SZ"), utc, f"{moment:%Y-%m-%d %H:%M} UTC"
    )


def person_accounts(request: ConsoleRequest, settings: Settings) -> list[dict[str, Any]]:
    """The signed-in person's accounts, for the switcher (none when signed out; their names
    are read only when there is more than one to switch between)."""
    current = session.current(request, settings)
    if current is None:
        return []
    person_id = session.person_id(request, settings)
    if len(member_store.accounts_of(person_id)) < 2:
        return []
    person = Principal(role=permissions.PERSON, person_id=person_id)
    return [
        {
            "id": member.account_id,
            "name": account.name if account is not None else member.account_id,
            "role": member.role,
            "current": member.account_id == current.account_id,
        }
        for member, account in members.accounts_of_person(person)
    ]
