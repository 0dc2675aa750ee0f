"""Who may call which route: the one table of roles, permissions and routes.

A caller is an account's member signed in to the console (a Cognito session; role ``owner``,
``admin``, ``developer``, ``billing`` or ``viewer``), an account's key (an ``admin`` key acts
with the ``admin`` role; an ``inference`` key has no management permission), or the platform
operator. Every route of the API Gateway is in ``ROUTES`` under the path template it has in
template.yaml (the event's ``resource``), so a handler never names its own permission and a
route missing here is refused (and fails tests/unit/test_permissions.py).
"""

from __future__ import annotations

from typing import Final

OWNER: Final = "owner"
ADMIN: Final = "admin"
DEVELOPER: Final = "developer"
BILLING: Final = "billing"
VIEWER: Final = "viewer"
ROLES: Final = (OWNER, ADMIN, DEVELOPER, BILLING, VIEWER)

# Routes outside the members' table: who is checked elsewhere.
OPERATOR: Final = "operator"  # the operator's key (tollgate.auth)
INFERENCE: Final = "inference"  # any active key, checked on the proxy's hot path
PUBLIC: Final = "public"  # no key: signed (Stripe webhook) or anonymous (sign-up, log-in)
PERSON: Final = "person"  # any signed-in person, member of an account or not (tollgate.auth)
CALLER_KINDS: Final = frozenset({OPERATOR, INFERENCE, PUBLIC, PERSON})

ACCOUNT_READ: Final = "account.read"
ACCOUNT_UPDATE: Final = "account.update"
ACCOUNT_EXPORT: Final = "account.export"
ACCOUNT_DELETE: Final = "account.delete"
MEMBERS_READ: Final = "members.read"
MEMBERS_MANAGE: Final = "members.manage"  # invite, change and remove members but owners
OWNERS_MANAGE: Final = "owners.manage"  # make, demote and remove owners; transfer ownership
KEYS_READ: Final = "keys.read"
KEYS_MANAGE: Final = "keys.manage"  # any key of the account
OWN_KEYS_MANAGE: Final = "keys.manage_own"  # inference keys the member created
WALLET_READ: Final = "wallet.read"
WALLET_TOP_UP: Final = "wallet.top_up"
USAGE_READ: Final = "usage.read"
AUDIT_READ: Final = "audit.read"
# Every member may open and read the account's support tickets (tollgate.tickets).
TICKETS_READ: Final = "tickets.read"
TICKETS_WRITE: Final = "tickets.write"
_TICKETS: Final = frozenset({TICKETS_READ, TICKETS_WRITE})

_READS: Final = frozenset(
    {ACCOUNT_READ, MEMBERS_READ, KEYS_READ, WALLET_READ, USAGE_READ, AUDIT_READ}
)
_ADMIN: Final = _READS | {
    ACCOUNT_UPDATE,
    ACCOUNT_EXPORT,
    MEMBERS_MANAGE,
    KEYS_MANAGE,
    OWN_KEYS_MANAGE,
    WALLET_TOP_UP,
}

ROLE_PERMISSIONS: Final[dict[str, frozenset[str]]] = {
    OWNER: _ADMIN | _TICKETS | {ACCOUNT_DELETE, OWNERS_MANAGE},
    ADMIN: _ADMIN | _TICKETS,
    DEVELOPER: _TICKETS | {ACCOUNT_READ, MEMBERS_READ, KEYS_READ, OWN_KEYS_MANAGE, USAGE_READ},
    BILLING: _TICKETS | {ACCOUNT_READ, MEMBERS_READ, WALLET_READ, WALLET_TOP_UP, USAGE_READ},
    VIEWER: _READS | _TICKETS,
}

# (method, path template) -> what the caller needs: a permission (any one of a tuple's, the
# first being the widest), or one of OPERATOR, INFERENCE, PUBLIC, PERSON.
ROUTES: Final[dict[tuple[str, str], str | tuple[str, ...]]] = {
    ("POST", "/operator/accounts"): OPERATOR,
    ("GET", "/operator/accounts"): OPERATOR,
    ("POST", "/operator/accounts/{account_id}/suspend"): OPERATOR,
    ("POST", "/operator/accounts/{account_id}/reinstate"): OPERATOR,
    ("GET", "/operator/accounts/{account_id}"): OPERATOR,
    ("POST", "/operator/accounts/{account_id}/adjustments"): OPERATOR,
    ("GET", "/v1/audit"): AUDIT_READ,
    ("POST", "/v1/keys"): (KEYS_MANAGE, OWN_KEYS_MANAGE),
    ("GET", "/v1/keys"): KEYS_READ,
    ("GET", "/v1/keys/{key_id}"): KEYS_READ,
    ("PATCH", "/v1/keys/{key_id}"): (KEYS_MANAGE, OWN_KEYS_MANAGE),
    ("POST", "/v1/keys/{key_id}/rotate"): (KEYS_MANAGE, OWN_KEYS_MANAGE),
    ("DELETE", "/v1/keys/{key_id}"): (KEYS_MANAGE, OWN_KEYS_MANAGE),
    ("GET", "/v1/wallet"): WALLET_READ,
    ("GET", "/v1/wallet/ledger"): WALLET_READ,
    ("POST", "/v1/wallet/checkout"): WALLET_TOP_UP,
    ("GET", "/v1/payments"): WALLET_READ,
    ("GET", "/v1/payments/{payment_id}"): WALLET_READ,
    ("POST", "/webhooks/stripe"): PUBLIC,
    ("GET", "/v1/usage"): USAGE_READ,
    ("GET", "/v1/usage/summary"): USAGE_READ,
    ("GET", "/v1/usage/{request_id}"): USAGE_READ,
    ("GET", "/v1/archives"): USAGE_READ,
    ("GET", "/v1/archives/{month}"): USAGE_READ,
    ("GET", "/v1/account"): ACCOUNT_READ,
    ("PATCH", "/v1/account"): ACCOUNT_UPDATE,
    ("POST", "/v1/account/email/confirm"): ACCOUNT_UPDATE,
    ("DELETE", "/v1/account"): ACCOUNT_DELETE,
    ("POST", "/v1/account/restore"): ACCOUNT_DELETE,
    ("POST", "/v1/account/exports"): ACCOUNT_EXPORT,
    ("GET", "/v1/account/exports/{export_id}"): ACCOUNT_EXPORT,
    ("GET", "/v1/members"): MEMBERS_READ,
    ("PATCH", "/v1/members/{person_id}"): (OWNERS_MANAGE, MEMBERS_MANAGE),
    # members.read lets every member through to leave (remove themselves); removing anyone
    # else takes members.manage, and an owner owners.manage (tollgate.members)
    ("DELETE", "/v1/members/{person_id}"): (OWNERS_MANAGE, MEMBERS_MANAGE, MEMBERS_READ),
    ("POST", "/v1/members/{person_id}/transfer-ownership"): OWNERS_MANAGE,
    ("POST", "/v1/members/invitations"): (OWNERS_MANAGE, MEMBERS_MANAGE),
    ("GET", "/v1/members/invitations"): MEMBERS_READ,
    ("DELETE", "/v1/members/invitations/{invitation_id}"): (OWNERS_MANAGE, MEMBERS_MANAGE),
    ("POST", "/v1/members/invitations/accept"): PERSON,
    ("GET", "/v1/me/accounts"): PERSON,
    ("POST", "/v1/auth/signup"): PUBLIC,
    ("POST", "/v1/auth/confirm"): PUBLIC,
    ("POST", "/v1/auth/login"): PUBLIC,
    ("POST", "/v1/auth/refresh"): PUBLIC,
    ("POST", "/v1/auth/logout"): PUBLIC,  # the session's own access token, checked by the flow
    ("POST", "/v1/auth/forgot"): PUBLIC,
    ("POST", "/v1/auth/reset"): PUBLIC,
    ("POST", "/v1/tickets"): TICKETS_WRITE,
    ("GET", "/v1/tickets"): TICKETS_READ,
    ("GET", "/v1/tickets/{ticket_id}"): TICKETS_READ,
    ("POST", "/v1/tickets/{ticket_id}/messages"): TICKETS_WRITE,
    ("POST", "/v1/tickets/{ticket_id}/close"): TICKETS_WRITE,
    ("POST", "/v1/tickets/{ticket_id}/reopen"): TICKETS_WRITE,
    ("POST", "/v1/tickets/{ticket_id}/attachments"): TICKETS_WRITE,
    ("GET", "/v1/tickets/{ticket_id}/attachments/{attachment_id}"): TICKETS_READ,
    ("GET", "/operator/tickets"): OPERATOR,
    ("GET", "/operator/tickets/{ticket_id}"): OPERATOR,
    ("PATCH", "/operator/tickets/{ticket_id}"): OPERATOR,  # status, assignee
    ("POST", "/operator/tickets/{ticket_id}/messages"): OPERATOR,  # replies, internal notes
    ("POST", "/operator/tickets/{ticket_id}/attachments"): OPERATOR,
    ("GET", "/operator/tickets/{ticket_id}/attachments/{attachment_id}"): OPERATOR,
    # The console's pages (ConsoleFunction): each authorizes a signed-in person against the
    # API route it stands for (tollgate.console.session.member), so the same rows above govern
    # them; sign-in and the static files are open to anyone.
    ("ANY", "/console"): PUBLIC,
    ("ANY", "/console/{proxy+}"): PUBLIC,
    ("GET", "/v1/models"): INFERENCE,
    ("POST", "/v1/chat/completions"): INFERENCE,
    ("POST", "/v1/messages"): INFERENCE,
    ("POST", "/v1/embeddings"): INFERENCE,
    ("POST", "/v1/images/generations"): INFERENCE,
    ("POST", "/v1/videos"): INFERENCE,
    ("GET", "/v1/videos"): INFERENCE,
    ("GET", "/v1/videos/{video_id}"): INFERENCE,
    ("DELETE", "/v1/videos/{video_id}"): INFERENCE,
    ("GET", "/v1/videos/{video_id}/content"): INFERENCE,
    ("GET", "/v1/models/{model_id+}"): INFERENCE,
    ("POST", "/v1/messages/count_tokens"): INFERENCE,
    ("POST", "/v1/completions"): INFERENCE,
    # CORS preflights: no caller at all (a browser asks before it sends the key)
    ("OPTIONS", "/v1/models"): PUBLIC,
    ("OPTIONS", "/v1/chat/completions"): PUBLIC,
    ("OPTIONS", "/v1/messages"): PUBLIC,
    ("OPTIONS", "/v1/embeddings"): PUBLIC,
    ("OPTIONS", "/v1/images/generations"): PUBLIC,
    ("OPTIONS", "/v1/videos"): PUBLIC,
    ("OPTIONS", "/v1/videos/{video_id}"): PUBLIC,
    ("OPTIONS", "/v1/videos/{video_id}/content"): PUBLIC,
    ("OPTIONS", "/v1/models/{model_id+}"): PUBLIC,
    ("OPTIONS", "/v1/messages/count_tokens"): PUBLIC,
    ("POST", "/v1/responses"): INFERENCE,
    ("OPTIONS", "/v1/responses"): PUBLIC,
    ("OPTIONS", "/v1/completions"): PUBLIC,
    # The management API's description (DocsFunction): open, like any API's reference
    ("GET", "/openapi.json"): PUBLIC,
    ("GET", "/docs"): PUBLIC,
}


def route_needs(method: str, path: str) -> tuple[str, ...]:
    """What a route needs, as a tuple; empty for a route missing from the table."""
    needed = ROUTES.get((method.upper(), path), ())
    return (needed,) if isinstance(needed, str) else needed


def role_may(role: str, permission: str) -> bool:
    """Whether ``role`` holds ``permission`` whatever the route (a ticket's payments are
    shown only to those who may read payments)."""
    return permission in ROLE_PERMISSIONS.get(role, frozenset())


def granted(role: str, needed: tuple[str, ...]) -> frozenset[str]:
    """Which of the needed permissions ``role`` holds (empty: refused)."""
    return ROLE_PERMISSIONS.get(role, frozenset()) & frozenset(needed)
