"""Who is calling, and whether they may use the route they called.

Keys arrive as ``Authorization: Bearer <key>`` or ``x-api-key: <key>`` (Anthropic SDKs); a
console session as ``Authorization: Bearer <Cognito access token>`` (tollgate.identity.sessions
verifies it; the person then acts with their role in the account they choose). A
principal is an account's key (role ``inference`` or ``admin``), the platform operator, or an
account's member (a person, with the role their membership gives them). What each route needs
is in ``tollgate.permissions``; ``authorize`` is the one check of it.
"""

from __future__ import annotations

import hmac
from collections.abc import Mapping
from dataclasses import dataclass

from tollgate import clock, permissions, secrets
from tollgate.errors import AccountSuspended, BadRequest, Conflict, Forbidden, Unauthenticated
from tollgate.identity import sessions
from tollgate.identity.cognito import user_pool
from tollgate.secret_keys import digest as secret_digest
from tollgate.secret_keys import presented_key
from tollgate.settings import Settings
from tollgate.store import accounts as account_store
from tollgate.store import keys as store
from tollgate.store import members as member_store
from tollgate.store.models import Member

OPERATOR = permissions.OPERATOR
ADMIN = "admin"
INFERENCE = "inference"
ACCOUNT_HEADER = "x-tollgate-account"  # which of a person's accounts a request acts on


@dataclass(frozen=True, slots=True)
class Principal:
    role: str  # operator, a key's role, or a member's role
    account_id: str = ""  # empty for the operator
    key_id: str = ""  # set for a key
    person_id: str = ""  # set for a member or a signed-in person
    email: str = ""  # a signed-in person's verified email (set for PERSON routes)
    granted: frozenset[str] = frozenset()  # which of the route's permissions it holds

    @property
    def actor(self) -> str:
        """Who did it, as the audit trail names them."""
        if self.person_id:
            return f"person:{self.person_id}"
        return f"key:{self.key_id}" if self.key_id else OPERATOR

    def may(self, permission: str) -> bool:
        return permission in self.granted


def authorize(
    headers: Mapping[str, str] | None, needs: tuple[str, ...], *, settings: Settings
) -> Principal:
    """The caller, if it holds one of the permissions a route needs (``permissions.ROUTES``)."""
    if not needs:
        raise Forbidden("This route is not open to any caller.", code="route_not_permitted")
    token = presented_key(headers)
    if token is not None and sessions.looks_like_session(token):
        session = sessions.verify(token, settings)
        if needs == (OPERATOR,):
            raise Forbidden("This route is for the platform operator.", code="operator_only")
        if needs == (permissions.PERSON,):
            return person_principal(session.person_id, _verified_email(token, settings))
        return member_principal(session.person_id, headers, needs)
    if needs == (OPERATOR,):
        return authenticate(headers, role=OPERATOR, settings=settings)
    if needs == (permissions.PERSON,):
        authenticate(headers, role=INFERENCE, settings=settings)  # a bad key stays a 401
        raise Forbidden(
            "This route is for a signed-in person; an API key cannot use it.",
            code="person_required",
        )
    key = authenticate(headers, role=ADMIN, settings=settings)
    held = permissions.granted(ADMIN, needs)
    if not held:
        raise Forbidden(
            "An admin key cannot do this; an account owner must, signed in.",
            code="owner_required",
        )
    return Principal(role=ADMIN, account_id=key.account_id, key_id=key.key_id, granted=held)


def caller_for(
    method: str, route: str, headers: Mapping[str, str] | None, *, settings: Settings
) -> Principal:
    """Who calls ``method route`` (a path template of ``permissions.ROUTES``), refused unless
    the table lets them: the API's routes and the console's pages (which name the API route
    they stand for) are authorized by this one function (the console with the membership it
    read once for the page: ``principal_of_member``, then ``refuse_writes_unless_active``)."""
    needs = permissions.route_needs(method, route)
    found = authorize(headers, needs, settings=settings)
    refuse_writes_unless_active(method, needs, found)
    return found


def refuse_writes_unless_active(method: str, needs: tuple[str, ...], found: Principal) -> None:
    """A suspended account's callers, and those of an account scheduled for deletion, only
    read, and export what is held about them (a right neither takes away); an owner may
    restore the latter."""
    writes = method.upper() not in ("GET", "HEAD") and needs != (permissions.ACCOUNT_EXPORT,)
    if writes and found.account_id:
        refuse_changes_unless_active(found, needs)


def _verified_email(token: str, settings: Settings) -> str:
    email = user_pool(settings).verified_email(token)
    if email is None:
        raise Forbidden("Your email address is not verified.", code="email_not_verified")
    return email


def person_principal(person_id: str, email: str) -> Principal:
    """A signed-in person as such, member of an account or not (``permissions.PERSON`` routes:
    accepting an invitation, listing one's accounts). ``email`` must be the verified email of
    the session (an invitation is accepted only by the address it was sent to)."""
    return Principal(
        role=permissions.PERSON,
        person_id=person_id,
        email=email,
        granted=frozenset({permissions.PERSON}),
    )


def member_principal(
    person_id: str, headers: Mapping[str, str] | None, needs: tuple[str, ...]
) -> Principal:
    """A signed-in person acting on one of their accounts, with that membership's role."""
    account_id = _chosen_account(person_id, headers)
    return principal_of_member(
        member_store.get_member(account_id, person_id), account_id, person_id, needs
    )


def principal_of_member(
    member: Member | None, account_id: str, person_id: str, needs: tuple[str, ...]
) -> Principal:
    """``person_id`` acting on ``account_id`` as ``member`` (their membership, read
    consistently; None: none), if its role holds one of ``needs``."""
    if member is None:
        raise Forbidden(f"You are not a member of account {account_id}.", code="not_a_member")
    held = permissions.granted(member.role, needs)
    if not held:
        raise Forbidden(
            f"Your role in this account ({member.role}) does not allow this.",
            code="permission_denied",
        )
    return Principal(role=member.role, account_id=account_id, person_id=person_id, granted=held)


def _chosen_account(person_id: str, headers: Mapping[str, str] | None) -> str:
    for name, value in (headers or {}).items():
        if name.lower() == ACCOUNT_HEADER and value.strip():
            return value.strip()
    accounts = member_store.accounts_of(person_id)
    if len(accounts) == 1:
        return accounts[0]
    if not accounts:
        raise Forbidden("You are not a member of any account.", code="not_a_member")
    raise BadRequest(
        "You belong to several accounts; choose one with the X-Tollgate-Account header.",
        code="account_required",
    )


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


def refuse_changes_unless_active(principal: Principal, needs: tuple[str, ...]) -> None:
    """A suspended account's management routes only read: any other method is refused (the
    operator is not an account's principal). An account scheduled for deletion only reads
    too, but for the deletion routes themselves (asked again, or restored by an owner). One
    more consistent read, for writes only."""
    if not principal.account_id:
        return
    status = account_store.account_status(principal.account_id)
    if status == "suspended":
        raise AccountSuspended(
            "This account is suspended by the operator: it can be read but not changed until "
            "it is reinstated."
        )
    if status == "deletion_scheduled" and needs != (permissions.ACCOUNT_DELETE,):
        raise Conflict(
            "This account is scheduled for deletion: it can be read and exported, and an owner "
            "can restore it (POST /v1/account/restore), but not changed.",
            code="deletion_scheduled",
        )
