"""Signing up, verifying the email, signing in and out, resetting a password, and choosing
which of one's accounts to act on: the identity flows of /v1/auth/*, as forms."""

from __future__ import annotations

import contextlib
from typing import Any
from urllib.parse import quote

from aws_lambda_powertools.event_handler import Response

from tollgate.console import render, session, web
from tollgate.console.routes import page
from tollgate.errors import Forbidden, TollgateError
from tollgate.identity import flows
from tollgate.settings import Settings
from tollgate.store import members as member_store

HOME = "/console/overview"


def _form_page(
    request: web.ConsoleRequest,
    settings: Settings,
    template: str,
    *,
    status: int = 200,
    error: str = "",
    notice: str = "",
    **values: Any,
) -> Response:
    body = render.render(request, settings, template, error=error, notice=notice, values=values)
    return web.html(request, body, status=status)


def _flow_request(request: web.ConsoleRequest) -> flows.Request:
    return flows.Request(request_id=request.request_id, source_ip=request.source_ip)


@page("/console", public=True)
def console_home(request: web.ConsoleRequest, settings: Settings) -> Response:
    signed_in = session.current(request, settings) is not None
    return web.redirect(request, HOME if signed_in else "/console/sign-in")


@page("/console/sign-in", public=True)
def sign_in_form(request: web.ConsoleRequest, settings: Settings) -> Response:
    notices = {
        "verified": "Your email is verified. Sign in to continue.",
        "reset": "Your password was changed. Sign in with the new one.",
        "signed_out": "You are signed out.",
    }
    notice = next((text for name, text in notices.items() if name in request.query), "")
    return _form_page(
        request,
        settings,
        "sign_in.html",
        notice=notice,
        email=request.query.get("email", ""),
        next=safe_next(request.query.get("next")),
    )


@page("/console/sign-in", method="POST", public=True)
def sign_in(request: web.ConsoleRequest, settings: Settings) -> Response:
    email, target = request.field("email"), safe_next(request.field("next"))
    body = {"email": email, "password": request.field("password")}
    try:
        signed_in = flows.login(body, settings, _flow_request(request))
    except TollgateError as refused:
        return _form_page(
            request,
            settings,
            "sign_in.html",
            status=refused.status,
            error=refused.message,
            email=email,
            next=target,
        )
    person = session.person_for_token(signed_in["access_token"], settings)
    accounts = member_store.accounts_of(person.person_id)
    session.start(request, signed_in, accounts[0] if accounts else "")
    return web.redirect(request, target or HOME)


def safe_next(value: str | None) -> str:
    """Where to go after signing in: a console path only, never another site."""
    if not value or not value.startswith("/console/") or "//" in value or "\\" in value:
        return ""
    return value


@page("/console/sign-up", public=True)
def sign_up_form(request: web.ConsoleRequest, settings: Settings) -> Response:
    return _form_page(request, settings, "sign_up.html", email="", name="", company="")


@page("/console/sign-up", method="POST", public=True)
def sign_up(request: web.ConsoleRequest, settings: Settings) -> Response:
    values = {name: request.field(name) for name in ("email", "name", "company")}
    body = {**values, "password": request.field("password")}
    if not body["company"]:
        del body["company"]
    try:
        flows.sign_up(flows.parse_sign_up(body), settings)
    except TollgateError as refused:
        return _form_page(
            request,
            settings,
            "sign_up.html",
            status=refused.status,
            error=refused.message,
            **values,
        )
    return web.redirect(request, f"/console/verify?email={_quoted(values['email'])}")


@page("/console/verify", public=True)
def verify_form(request: web.ConsoleRequest, settings: Settings) -> Response:
    return _form_page(
        request,
        settings,
        "verify.html",
        email=request.query.get("email", ""),
        notice="We sent a 6-digit code to your email address." if request.query else "",
    )


@page("/console/verify", method="POST", public=True)
def verify(request: web.ConsoleRequest, settings: Settings) -> Response:
    email = request.field("email")
    try:
        flows.confirm(
            {"email": email, "code": request.field("code")}, settings, _flow_request(request)
        )
    except TollgateError as refused:
        return _form_page(
            request,
            settings,
            "verify.html",
            status=refused.status,
            error=refused.message,
            email=email,
        )
    return web.redirect(request, f"/console/sign-in?verified=1&email={_quoted(email)}")


@page("/console/forgot", public=True)
def forgot_form(request: web.ConsoleRequest, settings: Settings) -> Response:
    return _form_page(request, settings, "forgot.html", email=request.query.get("email", ""))


@page("/console/forgot", method="POST", public=True)
def forgot(request: web.ConsoleRequest, settings: Settings) -> Response:
    email = request.field("email")
    try:
        flows.forgot({"email": email}, settings)
    except TollgateError as refused:
        return _form_page(
            request,
            settings,
            "forgot.html",
            status=refused.status,
            error=refused.message,
            email=email,
        )
    return web.redirect(request, f"/console/reset?email={_quoted(email)}")


@page("/console/reset", public=True)
def reset_form(request: web.ConsoleRequest, settings: Settings) -> Response:
    return _form_page(
        request,
        settings,
        "reset.html",
        email=request.query.get("email", ""),
        notice="If this email has an account, we sent it a 6-digit code." if request.query else "",
    )


@page("/console/reset", method="POST", public=True)
def reset(request: web.ConsoleRequest, settings: Settings) -> Response:
    email = request.field("email")
    body = {"email": email, "code": request.field("code"), "password": request.field("password")}
    try:
        flows.reset(body, settings)
    except TollgateError as refused:
        return _form_page(
            request,
            settings,
            "reset.html",
            status=refused.status,
            error=refused.message,
            email=email,
        )
    return web.redirect(request, f"/console/sign-in?reset=1&email={_quoted(email)}")


@page("/console/sign-out", method="POST", public=True)
def sign_out(request: web.ConsoleRequest, settings: Settings) -> Response:
    """Signs the person out everywhere (the API's log-out), then forgets the cookies."""
    current = session.current(request, settings)
    if current is not None:
        # signed out already, or the token is no longer valid: the cookies still go
        with contextlib.suppress(TollgateError):
            flows.logout({"authorization": f"Bearer {current.access_token}"}, settings)
    session.end(request)
    return web.redirect(request, "/console/sign-in?signed_out=1")


@page("/console/switch-account", method="POST")
def switch_account(request: web.ConsoleRequest, settings: Settings) -> Response:
    account_id = request.field("account_id")
    if account_id not in member_store.accounts_of(session.person_id(request, settings)):
        raise Forbidden(f"You are not a member of account {account_id}.", code="not_a_member")
    session.choose_account(request, session.signed_in(request, settings), account_id)
    return web.redirect(request, HOME)


def _quoted(value: str) -> str:
    return quote(value, safe="@")
