"""The /v1/auth/* flows: sign-up, confirmation, log-in, refresh, log-out, password reset.

The password goes from the request to Cognito and nowhere else: not to a table, not to a log,
not into an error message. Answers do not tell whether an email has a user: sign-up and
"forgot" answer the same for every email, and log-in refuses every failure with one message.
"""

from __future__ import annotations

import contextlib
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from tollgate import accounts, audit, clock
from tollgate.errors import BadRequest, Forbidden, Unauthenticated
from tollgate.identity import codes, login_limits, mail, sessions
from tollgate.identity.cognito import CONFIRMED, UNCONFIRMED, Refused, Tokens, user_pool
from tollgate.observability import logger, metrics
from tollgate.secret_keys import presented_key
from tollgate.settings import Settings
from tollgate.store import identity as store
from tollgate.validation import email_field, reject_unknown_fields, text_field

MAX_PASSWORD_LENGTH = 256
SIGNED_OUT_MARK_DAYS = 2  # longer than any access token lives (Cognito: 1 day at most)
CODE_SENT = {
    "object": "verification",
    "status": "code_sent",
    "message": "If this email can be used, we sent it a 6-digit code.",
}


@dataclass(frozen=True, slots=True)
class SignUp:
    email: str
    password: str
    name: str
    company: str


@dataclass(frozen=True, slots=True)
class Request:
    """Where a flow's request came from, for the audit trail and the rate limits."""

    request_id: str | None = None
    source_ip: str | None = None


def parse_sign_up(body: Mapping[str, Any]) -> SignUp:
    reject_unknown_fields(body, ("email", "password", "name", "company"))
    return SignUp(
        email=_email(body),
        password=_password(body, "password"),
        name=text_field(body, "name", required=True),
        company=text_field(body, "company"),
    )


def sign_up(new: SignUp, settings: Settings) -> dict[str, Any]:
    """A Cognito user, unconfirmed until the emailed code comes back. An email whose user is
    confirmed already gets nothing (the answer is the same); one still unconfirmed starts
    over with this password, so a stranger's earlier sign-up with it cannot keep theirs."""
    if not settings.self_signup:
        raise Forbidden(
            "Sign-up is by invitation only here; ask an account owner to invite you.",
            code="signup_disabled",
        )
    pool = user_pool(settings)
    existing = pool.user(new.email)
    if existing is not None and existing.status != UNCONFIRMED:
        metrics.add_metric(name="SignUpForExistingUser", unit="Count", value=1)
        return CODE_SENT
    if existing is not None:
        pool.delete(new.email)
    try:
        pool.sign_up(new.email, new.password, new.name)
    except Refused:  # taken between our look and the sign-up: the same answer
        return CODE_SENT
    code = codes.issue(codes.VERIFY, new.email, name=new.name, company=new.company)
    _mail_code(mail.EMAIL_VERIFICATION, new.email, code)
    return CODE_SENT


def _mail_code(kind: str, email: str, code: str) -> None:
    if login_limits.code_mail_allowed(email):
        mail.send_code(kind, email, code)
    else:
        metrics.add_metric(name="CodeMailsLimited", unit="Count", value=1)


def confirm(body: Mapping[str, Any], settings: Settings, request: Request) -> dict[str, Any]:
    """The code proves the email: the person's account is created with them as its owner (once,
    however often this is repeated before the code is spent), then the user is confirmed."""
    reject_unknown_fields(body, ("email", "code"))
    email, code = _email(body), _code(body)
    checked = codes.check(codes.VERIFY, email, code)
    pool = user_pool(settings)
    user = pool.user(email)
    if user is None:
        raise codes.invalid_code()
    name = checked.item.name or email
    new = accounts.NewAccount(email=email, name=checked.item.company or name)
    account, made = accounts.create_owned_account(user.person_id, new, owner_name=name)
    if made:
        _audit_sign_up(account.account_id, user.person_id, request)
    if user.status == UNCONFIRMED:
        pool.confirm(email)
    checked.use()
    metrics.add_metric(name="SignUpsConfirmed", unit="Count", value=1)
    return {
        "object": "signup",
        "status": "confirmed",
        "person_id": user.person_id,
        "account_id": account.account_id,
    }


def _audit_sign_up(account_id: str, person_id: str, request: Request) -> None:
    actor = f"person:{person_id}"
    for action, target, changes in (
        ("account.created", f"account:{account_id}", {"status": (None, "active")}),
        ("member.added", f"member:{person_id}", {"role": (None, "owner")}),
    ):
        audit.record(
            account_id,
            actor=actor,
            action=action,
            target=target,
            request_id=request.request_id,
            source_ip=request.source_ip,
            changes=changes,
        )


def login(body: Mapping[str, Any], settings: Settings, request: Request) -> dict[str, Any]:
    reject_unknown_fields(body, ("email", "password"))
    email, password = _email(body), _password(body, "password")
    login_limits.check(email, request.source_ip)
    try:
        tokens = user_pool(settings).password_login(email, password)
    except Refused as refusal:
        login_limits.record_failure(email, request.source_ip)
        metrics.add_metric(name="LoginFailed", unit="Count", value=1)
        logger.info("log-in refused", extra={"reason": refusal.code})
        raise Unauthenticated("Incorrect email or password.", code="invalid_credentials") from None
    return session_view(tokens)


def refresh(body: Mapping[str, Any], settings: Settings) -> dict[str, Any]:
    reject_unknown_fields(body, ("refresh_token",))
    token = text_field(body, "refresh_token", required=True, max_length=8192)
    try:
        tokens = user_pool(settings).refresh(token)
    except Refused:
        raise Unauthenticated(
            "This refresh token is not valid any more; log in again.",
            code="invalid_refresh_token",
        ) from None
    return session_view(tokens)


def logout(headers: Mapping[str, str] | None, settings: Settings) -> dict[str, Any]:
    """Signs the person out everywhere: Cognito revokes their refresh tokens, and our mark
    refuses every access token issued until now (Cognito's own revocation of access tokens is
    seen only by Cognito's APIs, not by a signature check)."""
    token = presented_key(headers)
    if token is None or not sessions.looks_like_session(token):
        raise Unauthenticated(
            "Send the session's access token as 'Authorization: Bearer <token>'.",
            code="invalid_session",
        )
    session = sessions.verify(token, settings)
    # Refused: signed out at Cognito already (a retried log-out); our mark still counts
    with contextlib.suppress(Refused):
        user_pool(settings).global_sign_out(token)
    _mark_signed_out(session.person_id)
    return {"object": "logout", "signed_out": True}


def forgot(body: Mapping[str, Any], settings: Settings) -> dict[str, Any]:
    """A reset code for a confirmed user; the same answer for any email."""
    reject_unknown_fields(body, ("email",))
    email = _email(body)
    user = user_pool(settings).user(email)
    if user is not None and user.status == CONFIRMED:
        code = codes.issue(codes.RESET, email)
        _mail_code(mail.PASSWORD_RESET, email, code)
    return CODE_SENT


def reset(body: Mapping[str, Any], settings: Settings) -> dict[str, Any]:
    """The code proves the email: the new password is set and every session of the person
    ends (whoever knew the old password is signed out)."""
    reject_unknown_fields(body, ("email", "code", "password"))
    email, code = _email(body), _code(body)
    password = _password(body, "password")
    checked = codes.check(codes.RESET, email, code)
    pool = user_pool(settings)
    user = pool.user(email)
    if user is None or user.status != CONFIRMED:
        raise codes.invalid_code()
    pool.set_password(email, password)
    checked.use()
    pool.sign_out_everywhere(email)
    _mark_signed_out(user.person_id)
    return {"object": "password_reset", "status": "reset"}


def session_view(tokens: Tokens, *, now: datetime | None = None) -> dict[str, Any]:
    now = now or clock.utcnow()
    view: dict[str, Any] = {
        "object": "session",
        "token_type": "Bearer",
        "access_token": tokens.access_token,
        "id_token": tokens.id_token,
        "expires_in": tokens.expires_in,
        "expires_at": int(now.timestamp()) + tokens.expires_in,
    }
    if tokens.refresh_token:
        view["refresh_token"] = tokens.refresh_token
    return view


def _mark_signed_out(person_id: str) -> None:
    now = clock.utcnow()
    store.mark_signed_out(
        person_id, int(now.timestamp()), now + timedelta(days=SIGNED_OUT_MARK_DAYS)
    )


def _email(body: Mapping[str, Any]) -> str:
    return email_field(body).lower()


def _code(body: Mapping[str, Any]) -> str:
    code = text_field(body, "code", required=True, max_length=16)
    if len(code) != 6 or not code.isascii() or not code.isdigit():
        raise BadRequest("'code' must be the 6 digits we emailed.", param="code")
    return code


def _password(body: Mapping[str, Any], name: str) -> str:
    """The password as sent (not stripped); its content is never echoed back."""
    value = body.get(name)
    if not isinstance(value, str) or not value:
        raise BadRequest(f"'{name}' is required and must be a string.", param=name)
    if len(value) > MAX_PASSWORD_LENGTH:
        raise BadRequest(f"'{name}' must be at most {MAX_PASSWORD_LENGTH} characters.", param=name)
    return value
