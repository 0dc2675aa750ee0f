"""Who is calling: the principal behind a presented key, and whether it may use a route.

Keys arrive as ``Authorization: Bearer <key>`` or ``x-api-key: <key>`` (Anthropic SDKs). A
principal is an account's key (role ``inference`` or ``admin``) or the platform operator; a
future console sign-in adds another principal kind here without touching the routes.
"""

from __future__ import annotations

import hmac
from collections.abc import Mapping
from dataclasses import dataclass

from tollgate import clock, secrets
from tollgate.errors import AccountSuspended, Forbidden, Unauthenticated
from tollgate.secret_keys import digest as secret_digest
from tollgate.secret_keys import presented_key
from tollgate.settings import Settings
from tollgate.store import accounts as account_store
from tollgate.store import keys as store

OPERATOR = "operator"
ADMIN = "admin"
INFERENCE = "inference"


@dataclass(frozen=True, slots=True)
class Principal:
    role: str
    account_id: str = ""  # empty for the operator
    key_id: str = ""


def authenticate(headers: Mapping[str, str] | None, *, role: str, settings: Settings) -> Principal:
    """The principal behind the request's key, required to hold ``role``."""
    token = presented_key(headers)
    if token is None:
        raise Unauthenticated(
            "Missing API key. Send it as 'Authorization: Bearer <key>'.", code="missing_api_key"
        )
    digest = secret_digest(token)
    if role == OPERATOR:
        if _is_operator(digest, settings):
            return Principal(role=OPERATOR)
        _key_principal(digest)  # a customer key is a 403 here, anything else a 401
        raise Forbidden("This route is for the platform operator.", code="operator_only")
    principal = _key_principal(digest)
    if role == ADMIN and principal.role != ADMIN:
        raise Forbidden(
            "This route needs an admin key; the key presented is an inference key.",
            code="admin_key_required",
        )
    return principal


def _is_operator(digest: str, settings: Settings) -> bool:
    return any(
        hmac.compare_digest(digest, known) for known in secrets.operator_key_digests(settings)
    )


def _key_principal(digest: str) -> Principal:
    """The key a secret opens, as its one record stands now: the secret item says which key
    and whether the secret itself is still good (rotated out, grace over); the key record says
    everything else. Two strongly consistent reads, so a change acts on the next request."""
    secret = store.find_secret(digest)
    key = store.get_key(secret.key_id) if secret is not None else None
    if secret is None or key is None or key.account_id != secret.account_id:
        raise Unauthenticated("Invalid API key.", code="invalid_api_key")
    now = clock.utcnow()
    if secret.grace_until is not None and secret.grace_until <= now:
        raise Unauthenticated("This API key was rotated; use its new secret.", code="key_rotated")
    if key.status != "active":
        raise Unauthenticated("This API key has been revoked.", code="key_revoked")
    if key.expires_at is not None and key.expires_at <= now:
        raise Unauthenticated("This API key has expired.", code="key_expired")
    return Principal(role=key.role, account_id=key.account_id, key_id=key.key_id)


def refuse_changes_if_suspended(principal: Principal) -> None:
    """A suspended account's management routes only read: any other method is refused (the
    operator is not an account's principal). One more consistent read, for writes only."""
    if principal.account_id and account_store.account_status(principal.account_id) == "suspended":
        raise AccountSuspended(
            "This account is suspended by the operator: it can be read but not changed until "
            "it is reinstated."
        )
