"""The platform operator's console session: the operator key, pasted once, exchanged for a
short-lived cookie that does not hold it.

``tg_operator`` is ``<expiry>.<nonce>.<mac>``: an HMAC of the expiry and nonce whose key is
derived from the operator key's stored digest(s), which only the server reads. Rotating the
operator key changes that secret and so ends every operator session. The cookie is HttpOnly,
SameSite=Lax, Secure over HTTPS and lasts 8 hours at most. A person's member session never
makes anyone an operator: operator pages check this cookie alone. Their forms carry the
console's CSRF token like every other page (``session.check_csrf``, checked centrally).
"""

from __future__ import annotations

import hashlib
import hmac
import secrets as random

from aws_lambda_powertools.shared.cookies import Cookie

from tollgate import auth, clock, secrets
from tollgate.console import web
from tollgate.console.web import ConsoleRequest
from tollgate.settings import Settings

OPERATOR_COOKIE = "tg_operator"
OPERATOR_SECONDS = 8 * 3600


def sign_in(request: ConsoleRequest, settings: Settings, operator_key: str) -> None:
    """Check the pasted key as the API does (401/403 when it is not the operator key) and
    start the operator's session."""
    auth.authenticate(
        {"authorization": f"Bearer {operator_key.strip()}"}, role=auth.OPERATOR, settings=settings
    )
    expires = int(clock.utcnow().timestamp()) + OPERATOR_SECONDS
    signed = f"{expires}.{random.token_urlsafe(18)}"
    value = f"{signed}.{_mac(signed, settings)}"
    request.set_cookies.append(_cookie(request, value, OPERATOR_SECONDS))
    request.state[OPERATOR_COOKIE] = True


def sign_out(request: ConsoleRequest) -> None:
    request.set_cookies.append(_cookie(request, "", -1))
    request.state[OPERATOR_COOKIE] = False


def is_operator(request: ConsoleRequest, settings: Settings) -> bool:
    """Whether the request carries a valid, unexpired operator session."""
    if OPERATOR_COOKIE not in request.state:
        request.state[OPERATOR_COOKIE] = _valid(request.cookies.get(OPERATOR_COOKIE, ""), settings)
    return bool(request.state[OPERATOR_COOKIE])


def _valid(value: str, settings: Settings) -> bool:
    expires, _, rest = value.partition(".")
    nonce, _, mac = rest.partition(".")
    if not (expires.isdigit() and nonce and mac):
        return False
    if int(expires) <= clock.utcnow().timestamp():
        return False
    expected = _mac(f"{expires}.{nonce}", settings)
    return bool(expected) and hmac.compare_digest(mac, expected)


def _mac(signed: str, settings: Settings) -> str:
    key = _session_key(secrets.operator_key_digests(settings))
    if key is None:
        return ""  # no operator key is configured: nobody is the operator
    return hmac.new(key, signed.encode(), hashlib.sha256).hexdigest()


def _session_key(digests: frozenset[str]) -> bytes | None:
    if not digests:
        return None
    material = ",".join(sorted(digests))
    return hashlib.sha256(f"tollgate-console-operator:{material}".encode()).digest()


def _cookie(request: ConsoleRequest, value: str, max_age: int) -> Cookie:
    return web.cookie(request, OPERATOR_COOKIE, value, path="/console/operator", max_age=max_age)
