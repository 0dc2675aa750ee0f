"""A console session as a principal: a Cognito access token, verified here.

What is checked, on every request: the RS256 signature against the pool's JWKS, ``iss`` (our
pool), ``token_use`` (``access``), ``client_id`` (the console's app client), ``exp``, and that
the person has not signed out everywhere since the token was issued.

What is cached: only the pool's public keys (JWKS), fetched once per container and fetched
again when a token names a key id we do not know (Cognito rotating its keys), at most once a
minute so that made-up key ids cannot make us hammer the JWKS endpoint. Nothing about a
session is cached: the sign-out mark is read (strongly consistent) on every request, so a
log-out acts on the very next one. A token issued in the same second as the mark is the one
case the mark cannot decide (``iat`` is whole seconds); Cognito's GetUser decides it.
"""

from __future__ import annotations

import json
import threading
import time
import urllib.request
from dataclasses import dataclass
from typing import Any

from tollgate import clock
from tollgate.errors import Unauthenticated
from tollgate.identity import cognito, jwt
from tollgate.observability import logger
from tollgate.settings import Settings
from tollgate.store import identity as store

JWKS_REFETCH_SECONDS = 60
JWKS_TIMEOUT_SECONDS = 5


@dataclass(frozen=True, slots=True)
class Session:
    person_id: str  # the Cognito user's ``sub``
    issued_at: int
    expires_at: int


def looks_like_session(token: str) -> bool:
    """A JWT, not one of our ``tg-`` keys."""
    return not token.startswith("tg-") and token.count(".") == 2


def verify(token: str, settings: Settings, *, now: int | None = None) -> Session:
    """The session an access token stands for, or 401."""
    if not settings.cognito_user_pool_id or not settings.cognito_client_id:
        raise _invalid()
    try:
        parsed = jwt.parse(token)
    except jwt.InvalidToken:
        raise _invalid() from None
    kid = parsed.header.get("kid")
    alg_ok = parsed.header.get("alg") == "RS256" and isinstance(kid, str)
    key = signing_keys(settings).key(kid) if alg_ok and isinstance(kid, str) else None
    if key is None or not jwt.rs256_valid(parsed.signing_input, parsed.signature, *key):
        raise _invalid()
    session = _claims(parsed.claims, settings)
    if session.expires_at <= (now if now is not None else int(clock.utcnow().timestamp())):
        raise Unauthenticated("Your session has expired; log in again.", code="session_expired")
    if _signed_out_since(session, token, settings):
        raise Unauthenticated("This session was signed out; log in again.", code="session_revoked")
    return session


def _claims(claims: dict[str, Any], settings: Settings) -> Session:
    expected = {
        "iss": settings.cognito_issuer,
        "token_use": "access",
        "client_id": settings.cognito_client_id,
    }
    if any(claims.get(name) != value for name, value in expected.items()):
        raise _invalid()
    sub, issued, expires = claims.get("sub"), claims.get("iat"), claims.get("exp")
    if not isinstance(sub, str) or not sub:
        raise _invalid()
    return Session(person_id=sub, issued_at=_whole(issued), expires_at=_whole(expires))


def _whole(value: Any) -> int:
    if not isinstance(value, int) or isinstance(value, bool):
        raise _invalid()
    return value


def _signed_out_since(session: Session, token: str, settings: Settings) -> bool:
    mark = store.signed_out_at(session.person_id)
    if mark is None or session.issued_at > mark:
        return False
    if session.issued_at < mark:
        return True
    return not cognito.user_pool(settings).token_active(token)


def _invalid() -> Unauthenticated:
    return Unauthenticated("Invalid session token; log in again.", code="invalid_session")


class SigningKeys:
    """The pool's JWKS, by key id; fetched on first use and on an unknown key id."""

    def __init__(self, url: str) -> None:
        self.url = url
        self._keys: dict[str, tuple[int, int]] = {}
        self._fetched_at: float | None = None
        self._lock = threading.Lock()

    def key(self, kid: str) -> tuple[int, int] | None:
        with self._lock:
            if kid not in self._keys and self._may_fetch():
                self._fetched_at = time.monotonic()
                self._keys = parse_jwks(fetch_jwks(self.url)) or self._keys
            return self._keys.get(kid)

    def _may_fetch(self) -> bool:
        last = self._fetched_at
        return last is None or time.monotonic() - last >= JWKS_REFETCH_SECONDS


def parse_jwks(document: dict[str, Any]) -> dict[str, tuple[int, int]]:
    found = {}
    for entry in document.get("keys", []):
        key = jwt.rsa_public_key(entry) if isinstance(entry, dict) else None
        if key is not None and isinstance(entry.get("kid"), str):
            found[entry["kid"]] = key
    return found


def fetch_jwks(url: str) -> dict[str, Any]:
    """The JWKS document; an unreachable endpoint is a 401 now and a fetch again later."""
    try:
        with urllib.request.urlopen(url, timeout=JWKS_TIMEOUT_SECONDS) as answer:
            document = json.loads(answer.read())
    except (OSError, ValueError):
        logger.error("JWKS fetch failed", extra={"url": url})
        return {}
    return document if isinstance(document, dict) else {}


_signing_keys: dict[str, SigningKeys] = {}


def signing_keys(settings: Settings) -> SigningKeys:
    url = settings.jwks_url
    if url not in _signing_keys:
        _signing_keys[url] = SigningKeys(url)
    return _signing_keys[url]
