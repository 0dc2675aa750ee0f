"""The account: its profile and corrections, notification preferences and the low-balance
threshold, the data export (start, status polled by htmx, download through a presigned link)
and deletion (the name typed back, the 30-day restore window, restore). Every action is the
API's (``tollgate.account_self``) under the route it stands for; the API's validation
messages are shown in the page."""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools.event_handler import Response

from tollgate import account_self, accounts, clock, deletion
from tollgate.console import render, session, web
from tollgate.console.routes import page
from tollgate.errors import TollgateError
from tollgate.exports import records
from tollgate.notifications.kinds import OPTIONAL_KINDS
from tollgate.profile import corrections, email_change
from tollgate.settings import Settings
from tollgate.store import exports as export_store

EXPORTS_SHOWN = 5
EXPORT_ROUTE = "/v1/account/exports/{export_id}"


def account_page(
    request: web.ConsoleRequest,
    settings: Settings,
    *,
    status: int = 200,
    error: str = "",
    notice: str = "",
) -> Response:
    caller = session.member(request, "GET", "/v1/account", settings)
    account = accounts.get_account(caller.account_id)
    context: dict[str, Any] = {
        "profile": accounts.profile_view(account),
        "deletion": deletion.deletion_view(account),
        "optional_kinds": OPTIONAL_KINDS,
        "exports": _exports(request, settings, caller.account_id),
        "error": error,
        "notice": notice,
    }
    body = render.render(request, settings, "account.html", **context)
    return web.html(request, body, status=status)


def _exports(request: web.ConsoleRequest, settings: Settings, account_id: str) -> list[Any]:
    if not session.may(request, settings, "POST", "/v1/account/exports"):
        return []
    now = clock.utcnow()
    held = [e for e in export_store.of_account(account_id) if e.ttl > now]
    return [_export_row(e) for e in reversed(held[-EXPORTS_SHOWN:])]


def _export_row(export: Any) -> dict[str, Any]:
    """What the page shows of an export; the download link is made only when asked for."""
    status = records.shown_status(export, clock.utcnow())
    failure = (
        records.FAILURES.get(export.failure_code or "export_failed") if status == "failed" else ""
    )
    return {
        "id": export.export_id,
        "status": status,
        "created_at": export.created_at,
        "expires_at": export.ttl,
        "size_bytes": int(export.size_bytes or 0),
        "failure": failure,
    }


@page("/console/account")
def account_overview(request: web.ConsoleRequest, settings: Settings) -> Response:
    return account_page(request, settings)


@page("/console/account/profile", method="POST")
def correct_profile(request: web.ConsoleRequest, settings: Settings) -> Response:
    body = {
        "name": request.field("name").strip(),
        "company": request.field("company").strip() or None,
        "language": request.field("language").strip() or None,
    }
    return _corrected(request, settings, body, "The profile is saved.")


@page("/console/account/notifications", method="POST")
def notification_preferences(request: web.ConsoleRequest, settings: Settings) -> Response:
    wanted = set(request.fields("notifications"))
    body = {
        "notifications": {kind: kind in wanted for kind in OPTIONAL_KINDS},
        "low_balance_threshold_usd": request.field("low_balance_threshold_usd").strip() or None,
    }
    return _corrected(request, settings, body, "The notification preferences are saved.")


def _corrected(
    request: web.ConsoleRequest, settings: Settings, body: dict[str, Any], notice: str
) -> Response:
    caller = session.member(request, "PATCH", "/v1/account", settings)
    try:
        correction = corrections.parse_correction(body)
        account_self.correct_profile(caller, correction, origin=request.origin)
    except TollgateError as refused:
        return account_page(request, settings, status=refused.status, error=refused.message)
    return account_page(request, settings, notice=notice)


@page("/console/account/email", method="POST")
def change_email(request: web.ConsoleRequest, settings: Settings) -> Response:
    """A new contact email: the API's code goes to it, the page then asks for that code."""
    wanted = request.field("email").strip()
    notice = f"We sent a 6-digit code to {wanted}. Enter it below to make it the account's email."
    return _corrected(request, settings, {"email": wanted}, notice)


@page("/console/account/email/confirm", method="POST")
def confirm_email(request: web.ConsoleRequest, settings: Settings) -> Response:
    caller = session.member(request, "POST", "/v1/account/email/confirm", settings)
    try:
        code = email_change.parse_confirmation({"code": request.field("code").strip()})
        account_self.confirm_email(caller, code, origin=request.origin)
    except TollgateError as refused:
        return account_page(request, settings, status=refused.status, error=refused.message)
    return account_page(request, settings, notice="The account's email is changed.")


# ------------------------------------------------------------------------------ export


@page("/console/account/exports", method="POST")
def start_export(request: web.ConsoleRequest, settings: Settings) -> Response:
    admin = session.member(request, "POST", "/v1/account/exports", settings)
    try:
        account_self.start_export(admin, settings, origin=request.origin)
    except TollgateError as refused:
        return account_page(request, settings, status=refused.status, error=refused.message)
    return web.redirect(request, "/console/account#export")


@page("/console/account/exports/<export_id>")
def export_status(request: web.ConsoleRequest, settings: Settings, export_id: str) -> Response:
    """One export's row; htmx polls it while the export is under way."""
    admin = session.member(request, "GET", EXPORT_ROUTE, settings)
    export = _export_row(records.get_export(admin.account_id, export_id))
    if not request.htmx:
        return web.redirect(request, "/console/account#export")
    return web.html(
        request, render.render(request, settings, "account_export_row.html", export=export)
    )


@page("/console/account/exports/<export_id>/download")
def download_export(request: web.ConsoleRequest, settings: Settings, export_id: str) -> Response:
    admin = session.member(request, "GET", EXPORT_ROUTE, settings)
    view = account_self.export_view(admin, export_id, settings, origin=request.origin)
    if not view["download_url"]:
        return account_page(request, settings, status=409, error="This export is not ready yet.")
    return web.elsewhere(request, view["download_url"])


# ------------------------------------------------------------------------------ deletion


@page("/console/account/delete", method="POST")
def schedule_deletion(request: web.ConsoleRequest, settings: Settings) -> Response:
    owner = session.member(request, "DELETE", "/v1/account", settings)
    body = {"confirm": request.field("confirm")}
    try:
        account_self.schedule_deletion(owner, body, settings, origin=request.origin)
    except TollgateError as refused:
        return account_page(request, settings, status=refused.status, error=refused.message)
    notice = "The account is scheduled for deletion. Restore it before the date shown to keep it."
    return account_page(request, settings, notice=notice)


@page("/console/account/restore")
def restore_page(request: web.ConsoleRequest, settings: Settings) -> Response:
    """Where the deletion mail's restore link lands: the account page, its Restore button."""
    return web.redirect(request, "/console/account")


@page("/console/account/restore", method="POST")
def restore(request: web.ConsoleRequest, settings: Settings) -> Response:
    owner = session.member(request, "POST", "/v1/account/restore", settings)
    try:
        account_self.restore(owner, origin=request.origin)
    except TollgateError as refused:
        return account_page(request, settings, status=refused.status, error=refused.message)
    notice = "The account is restored. Its API keys stay revoked: create new ones."
    return account_page(request, settings, notice=notice)
