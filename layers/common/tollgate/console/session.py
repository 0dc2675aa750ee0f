"""The signed-in person's console session, kept in cookies, and the CSRF token of its forms.

The session is the person's Cognito tokens: the access token with its expiry, the account
they act on and a random nonce in ``tg_session``, the refresh token in ``tg_refresh``, both
HttpOnly and SameSite=Lax (Secure over HTTPS). An access token close to its end is refreshed
here, server-side, and the cookie rewritten on the same answer. Who may do what is not in the
cookie: each page authorizes through ``auth.caller_for`` with the API route it stands for,
which verifies the token and reads the membership's role anew.

CSRF: every unsafe request carries a token (a form field, or htmx's ``X-CSRF-Token`` header)
derived from the session's nonce, which a page of another site can neither read nor set; before
sign-in, from a random ``tg_csrf`` cookie. Browsers' requests must also come from this origin.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
import secrets
from dataclasses import dataclass
from typing import Any

from aws_lambda_powertools.shared.cookies import Cookie

from tollgate import auth, clock, permissions
from tollgate.auth import Principal
from tollgate.console import web
from tollgate.console.web import ConsoleRequest, same_origin
from tollgate.errors import Forbidden, TollgateError, Unauthenticated
from tollgate.identity import flows, sessions
from tollgate.settings import Settings
from tollgate.store import members as member_store
from tollgate.store.models import Member

SESSION_COOKIE = "tg_session"
REFRESH_COOKIE = "tg_refresh"
CSRF_COOKIE = "tg_csrf"
CSRF_FIELD = "csrf"
CSRF_HEADER = "x-csrf-token"
SESSION_SECONDS = 12 * 3600  # a console session lasts at most this long without signing in
REFRESH_MARGIN_SECONDS = 60  # an access token this close to its end is refreshed first


@dataclass(frozen=True, slots=True)
class Session:
    access_token: str
    expires_at: int
    account_id: str  # the account the person acts on ("" when they have none yet)
    nonce: str


class CsrfRefused(Forbidden):
    def __init__(self) -> None:
        super().__init__(
            "This form has expired or did not come from the console; reload the page and try "
            "again.",
            code="csrf_failed",
        )


def start(request: ConsoleRequest, signed_in: dict[str, Any], account_id: str) -> Session:
    """The session of a person who just signed in (``flows.login``'s answer)."""
    session = Session(
        access_token=signed_in["access_token"],
        expires_at=int(signed_in["expires_at"]),
        account_id=account_id,
        nonce=secrets.token_urlsafe(24),
    )
    _write(request, session)
    if signed_in.get("refresh_token"):
        request.set_cookies.append(_cookie(request, REFRESH_COOKIE, signed_in["refresh_token"]))
    request.set_cookies.append(_cookie(request, CSRF_COOKIE, "", max_age=0))
    request.state["session"] = session
    return session


def choose_account(request: ConsoleRequest, session: Session, account_id: str) -> Session:
    chosen = Session(session.access_token, session.expires_at, account_id, session.nonce)
    _write(request, chosen)
    request.state["session"] = chosen
    return chosen


def end(request: ConsoleRequest) -> None:
    for name in (SESSION_COOKIE, REFRESH_COOKIE):
        request.set_cookies.append(_cookie(request, name, "", max_age=0))
    request.state["session"] = None


def current(request: ConsoleRequest, settings: Settings) -> Session | None:
    """The request's session, refreshed if its access token is about to end; None when there
    is none (or it cannot be refreshed any more)."""
    if "session" in request.state:
        return request.state["session"]
    session = _read(request.cookies.get(SESSION_COOKIE, ""))
    now = int(clock.utcnow().timestamp())
    if session is not None and session.expires_at - REFRESH_MARGIN_SECONDS <= now:
        session = _refreshed(request, session, settings)
    request.state["session"] = session
    return session


def _refreshed(request: ConsoleRequest, session: Session, settings: Settings) -> Session | None:
    token = request.cookies.get(REFRESH_COOKIE, "")
    if not token:
        end(request)
        return None
    try:
        renewed = flows.refresh({"refresh_token": token}, settings)
    except TollgateError:
        end(request)
        return None
    fresh = Session(
        renewed["access_token"], int(renewed["expires_at"]), session.account_id, session.nonce
    )
    _write(request, fresh)
    return fresh


def signed_in(request: ConsoleRequest, settings: Settings) -> Session:
    session = current(request, settings)
    if session is None:
        raise Unauthenticated("Sign in to use the console.", code="signed_out")
    return session


def member(request: ConsoleRequest, method: str, route: str, settings: Settings) -> Principal:
    """The signed-in person acting on their chosen account, if the API route this page stands
    for (``permissions.ROUTES``) lets their role do it; 401 without a session, 403 without
    the permission, exactly as the API answers (``auth``'s own checks, with the session
    verified and the membership read once per request)."""
    needs = permissions.route_needs(method, route)
    if not needs or set(needs) & permissions.CALLER_KINDS:
        raise Forbidden("This is not a page of an account's member.", code="route_not_permitted")
    current = signed_in(request, settings)
    person_id = _person_id(request, settings)
    account_id = current.account_id or _only_account(person_id)
    found = auth.principal_of_member(
        _membership(request, account_id, person_id), account_id, person_id, needs
    )
    auth.refuse_writes_unless_active(method, needs, found)
    return found


def may(request: ConsoleRequest, settings: Settings, method: str, route: str) -> bool:
    """Whether the page should offer what ``method route`` does (the server still refuses
    whatever the page shows)."""
    found_session = current(request, settings)
    if found_session is None or not found_session.account_id:
        return False
    found = _membership(request, found_session.account_id, _person_id(request, settings))
    return found is not None and bool(
        permissions.granted(found.role, permissions.route_needs(method, route))
    )


def _person_id(request: ConsoleRequest, settings: Settings) -> str:
    """The session's person, its token verified once per request (signature, expiry, and
    not signed out since)."""
    if "person_id" not in request.state:
        token = signed_in(request, settings).access_token
        request.state["person_id"] = sessions.verify(token, settings).person_id
    return request.state["person_id"]


def _membership(request: ConsoleRequest, account_id: str, person_id: str) -> Member | None:
    cache = request.state.setdefault("members", {})
    if account_id not in cache:
        cache[account_id] = member_store.get_member(account_id, person_id)
    return cache[account_id]


def _only_account(person_id: str) -> str:
    accounts = member_store.accounts_of(person_id)
    if not accounts:
        raise Forbidden("You are not a member of any account.", code="not_a_member")
    return accounts[0]


def person_id(request: ConsoleRequest, settings: Settings) -> str:
    """The signed-in person's id (a verified session; no account needed)."""
    return _person_id(request, settings)


def person(request: ConsoleRequest, settings: Settings) -> Principal:
    """The signed-in person as such, with their verified email (accepting an invitation)."""
    return person_for_token(signed_in(request, settings).access_token, settings)


def person_for_token(access_token: str, settings: Settings) -> Principal:
    return auth.caller_for(
        "GET", "/v1/me/accounts", {"authorization": f"Bearer {access_token}"}, settings=settings
    )


# ------------------------------------------------------------------------------ CSRF


def csrf_token(request: ConsoleRequest, settings: Settings) -> str:
    """The token this page's forms carry."""
    session = current(request, settings)
    if session is not None:
        return _derive(session.nonce)
    seed = request.cookies.get(CSRF_COOKIE) or request.state.get(CSRF_COOKIE)
    if not seed:
        seed = request.state[CSRF_COOKIE] = secrets.token_urlsafe(24)
        request.set_cookies.append(_cookie(request, CSRF_COOKIE, seed, max_age=SESSION_SECONDS))
    return _derive(seed)


def check_csrf(request: ConsoleRequest, settings: Settings) -> None:
    """Refuse an unsafe request without this session's token, or from another origin."""
    if not same_origin(request):
        raise CsrfRefused()
    sent = request.headers.get(CSRF_HEADER) or request.field(CSRF_FIELD)
    session = current(request, settings)
    seed = session.nonce if session is not None else request.cookies.get(CSRF_COOKIE, "")
    if not sent or not seed or not hmac.compare_digest(sent, _derive(seed)):
        raise CsrfRefused()


def _derive(seed: str) -> str:
    return hashlib.sha256(f"tollgate-console-csrf:{seed}".encode()).hexdigest()


# ------------------------------------------------------------------------------ cookies


def _write(request: ConsoleRequest, session: Session) -> None:
    value = json.dumps(
        {
            "a": session.access_token,
            "x": session.expires_at,
            "c": session.account_id,
            "n": session.nonce,
        },
        separators=(",", ":"),
    )
    encoded = base64.urlsafe_b64encode(value.encode()).decode().rstrip("=")
    request.set_cookies.append(_cookie(request, SESSION_COOKIE, encoded))


def _read(raw: str) -> Session | None:
    if not raw:
        return None
    try:
        decoded = json.loads(base64.urlsafe_b64decode(raw + "=" * (-len(raw) % 4)))
        session = Session(
            str(decoded["a"]), int(decoded["x"]), str(decoded["c"]), str(decoded["n"])
        )
    except (binascii.Error, ValueError, KeyError, TypeError):
        return None
    return session if session.access_token and session.nonce else None


def _cookie(
    request: ConsoleRequest, name: str, value: str, *, max_age: int = SESSION_SECONDS
) -> Cookie:
    return web.cookie(request, name, value, path="/console", max_age=max_age)
