"""API keys: the list with filters, create (the secret shown once), the policy form, rotate
with a grace period and revoke after a confirmation step. Each action turns its form into the
API's body and calls ``tollgate.key_actions``, as KeysFunction does, so the API's own rules and
messages apply; a refused form is shown again with its message and the API's status."""

from __future__ import annotations

import functools
import re
from datetime import UTC, datetime
from typing import Any

from aws_lambda_powertools.event_handler import Response

from tollgate import key_actions, keys
from tollgate.catalog import load_catalog
from tollgate.console import render, session, web
from tollgate.console.routes import page
from tollgate.errors import BadRequest
from tollgate.key_policy import ENDPOINTS, PERIODS
from tollgate.settings import Settings

PAGE_SIZE = 50
EXPIRY_FORMAT = "%Y-%m-%dT%H:%M"  # what <input type="datetime-local"> sends, read as UTC
_SEPARATORS = re.compile(r"[\s,]+")


@page("/console/keys")
def key_list(request: web.ConsoleRequest, settings: Settings) -> Response:
    caller = session.member(request, "GET", "/v1/keys", settings)
    filters = {name: request.query.get(name, "") for name in ("role", "status", "environment")}
    found, cursor = keys.list_keys(
        caller.account_id,
        limit=PAGE_SIZE,
        cursor=request.query.get("cursor") or None,
        role=filters["role"] or None,
        status=filters["status"] or None,
        environment=filters["environment"] or None,
    )
    body = render.render(
        request,
        settings,
        "keys.html",
        keys=keys.key_views(found),
        filters=filters,
        next_cursor=cursor,
        roles=keys.ROLES,
        statuses=keys.STATUSES,
    )
    return web.html(request, body)


@page("/console/keys/new")
def new_key_form(request: web.ConsoleRequest, settings: Settings) -> Response:
    session.member(request, "POST", "/v1/keys", settings)
    return _create_page(request, settings, values=_blank_values())


@page("/console/keys", method="POST")
def create_key(request: web.ConsoleRequest, settings: Settings) -> Response:
    caller = _caller(request, settings, "POST", "/v1/keys")
    try:
        body = {"name": request.field("name"), "role": request.field("role") or "inference"}
        created = key_actions.create(caller, body | _policy_body(request))
    except BadRequest as refused:
        values = _form_values(request)
        return _create_page(request, settings, values=values, error=refused.message, status=400)
    return _create_page(request, settings, created=created, status=201)


@page("/console/keys/<key_id>")
def key_detail(request: web.ConsoleRequest, settings: Settings, key_id: str) -> Response:
    caller = session.member(request, "GET", "/v1/keys/{key_id}", settings)
    (view,) = keys.key_views([keys.get_key(caller.account_id, key_id)])
    notice = {"saved": "The key's policy is saved.", "revoked": "The key is revoked."}
    shown = next((text for name, text in notice.items() if name in request.query), "")
    return _detail_page(request, settings, view, _view_values(view, settings), notice=shown)


@page("/console/keys/<key_id>", method="POST")
def update_key(request: web.ConsoleRequest, settings: Settings, key_id: str) -> Response:
    caller = _caller(request, settings, "PATCH", "/v1/keys/{key_id}")
    current = keys.get_key(caller.principal.account_id, key_id)
    try:
        body = {"name": request.field("name")} | _policy_body(request)
        if body["expires_at"] == _expiry_value(current.expires_at):
            del body["expires_at"]  # unchanged: an expiry already past must not be refused
        key_actions.update(caller, key_id, body)
    except BadRequest as refused:
        (view,) = keys.key_views([current])
        values = _form_values(request)
        return _detail_page(request, settings, view, values, error=refused.message, status=400)
    return web.redirect(request, f"/console/keys/{key_id}?saved")


@page("/console/keys/<key_id>/rotate", method="POST")
def rotate_key(request: web.ConsoleRequest, settings: Settings, key_id: str) -> Response:
    caller = _caller(request, settings, "POST", "/v1/keys/{key_id}/rotate")
    grace = _whole_number(request.field("grace_seconds") or "0")
    rotated = key_actions.rotate(caller, key_id, {"grace_seconds": grace})
    body = render.render(request, settings, "keys_rotated.html", created=rotated, grace=grace)
    return web.html(request, body)


@page("/console/keys/<key_id>/revoke")
def revoke_confirmation(request: web.ConsoleRequest, settings: Settings, key_id: str) -> Response:
    caller = session.member(request, "DELETE", "/v1/keys/{key_id}", settings)
    (view,) = keys.key_views([keys.get_key(caller.account_id, key_id)])
    return web.html(request, render.render(request, settings, "keys_revoke.html", key=view))


@page("/console/keys/<key_id>/revoke", method="POST")
def revoke_key(request: web.ConsoleRequest, settings: Settings, key_id: str) -> Response:
    key_actions.revoke(_caller(request, settings, "DELETE", "/v1/keys/{key_id}"), key_id)
    return web.redirect(request, f"/console/keys/{key_id}?revoked")


# ------------------------------------------------------------------------------ pages


def _caller(
    request: web.ConsoleRequest, settings: Settings, method: str, route: str
) -> key_actions.Caller:
    principal = session.member(request, method, route, settings)
    return key_actions.Caller(principal, request.request_id, request.source_ip)


def _create_page(
    request: web.ConsoleRequest,
    settings: Settings,
    *,
    values: dict[str, Any] | None = None,
    created: dict[str, Any] | None = None,
    error: str = "",
    status: int = 200,
) -> Response:
    """The form, or the new key with its secret; for htmx only the section that changes."""
    template = "_keys_create.html" if request.htmx else "keys_new.html"
    body = render.render(
        request,
        settings,
        template,
        created=created,
        values=values,
        error=error,
        **_choices(settings),
    )
    return web.html(request, body, status=status)


def _detail_page(
    request: web.ConsoleRequest,
    settings: Settings,
    view: dict[str, Any],
    values: dict[str, Any],
    *,
    notice: str = "",
    error: str = "",
    status: int = 200,
) -> Response:
    body = render.render(
        request,
        settings,
        "keys_detail.html",
        key=view,
        values=values,
        notice=notice,
        error=error,
        **_choices(settings),
    )
    return web.html(request, body, status=status)


def _choices(settings: Settings) -> dict[str, Any]:
    return {
        "catalog_models": catalog_models(settings.catalog_path),
        "endpoints": ENDPOINTS,
        "periods": PERIODS,
        "roles": keys.ROLES,
    }


@functools.cache
def catalog_models(path: str | None) -> tuple[str, ...]:
    """The ids a key's allowed models are picked from."""
    return tuple(sorted(load_catalog(path).models))


# ------------------------------------------------------------------------------ form <-> API


def _policy_body(request: web.ConsoleRequest) -> dict[str, Any]:
    """The policy fields of the API's body, from the form (an empty field clears its rule)."""
    models = request.fields("allowed_models") + _split(request.field("model_patterns"))
    amount, rpm, tpm = (request.field(name).strip() for name in ("spend_cap_usd", "rpm", "tpm"))
    return {
        "environment": request.field("environment"),
        "allowed_models": models or None,
        "allowed_endpoints": request.fields("allowed_endpoints") or None,
        "allowed_cidrs": _split(request.field("allowed_cidrs")) or None,
        "expires_at": request.field("expires_at").strip() or None,
        "spend_cap": (
            {"amount_usd": amount, "period": request.field("spend_cap_period")} if amount else None
        ),
        "rate_limit": (
            {"rpm": _whole_number(rpm) if rpm else None, "tpm": _whole_number(tpm) if tpm else None}
            if rpm or tpm
            else None
        ),
        "tags": _tags(request.field("tags")) or None,
    }


def _split(text: str) -> list[str]:
    return [item for item in _SEPARATORS.split(text) if item]


def _whole_number(text: str) -> int | str:
    """An integer when the text is one; otherwise the text, for the API to refuse by name."""
    try:
        return int(text.strip())
    except ValueError:
        return text


def _tags(text: str) -> dict[str, str]:
    tags = {}
    for line in text.splitlines():
        if not line.strip():
            continue
        name, equals, value = line.partition("=")
        if not equals:
            raise BadRequest("'tags': write one name=value per line.", param="tags")
        tags[name.strip()] = value.strip()
    return tags


def _blank_values() -> dict[str, Any]:
    return {
        "name": "",
        "role": "inference",
        "environment": "",
        "allowed_models": [],
        "model_patterns": "",
        "allowed_endpoints": [],
        "allowed_cidrs": "",
        "expires_at": "",
        "spend_cap_usd": "",
        "spend_cap_period": "month",
        "rpm": "",
        "tpm": "",
        "tags": "",
    }


def _form_values(request: web.ConsoleRequest) -> dict[str, Any]:
    """What the person typed, to show the refused form again as they sent it."""
    values: dict[str, Any] = {
        name: request.field(name, default) for name, default in _blank_values().items()
    }
    values["allowed_models"] = request.fields("allowed_models")
    values["allowed_endpoints"] = request.fields("allowed_endpoints")
    return values


def _view_values(view: dict[str, Any], settings: Settings) -> dict[str, Any]:
    """A key as its policy form shows it."""
    models = view["allowed_models"] or []
    known = catalog_models(settings.catalog_path)
    cap = view["spend_cap"] or {}
    limits = view["rate_limit"] or {}
    expires = datetime.fromtimestamp(view["expires_at"], UTC) if view["expires_at"] else None
    return {
        "name": view["name"],
        "role": view["role"],
        "environment": view["environment"],
        "allowed_models": [m for m in models if m in known],
        "model_patterns": ", ".join(m for m in models if m not in known),
        "allowed_endpoints": view["allowed_endpoints"] or [],
        "allowed_cidrs": "\n".join(view["allowed_cidrs"] or []),
        "expires_at": _expiry_value(expires),
        "spend_cap_usd": cap.get("amount_usd", ""),
        "spend_cap_period": cap.get("period", "month"),
        "rpm": limits.get("rpm") or "",
        "tpm": limits.get("tpm") or "",
        "tags": "\n".join(f"{name}={value}" for name, value in view["tags"].items()),
    }


def _expiry_value(moment: datetime | None) -> str:
    return moment.astimezone(UTC).strftime(EXPIRY_FORMAT) if moment else ""
