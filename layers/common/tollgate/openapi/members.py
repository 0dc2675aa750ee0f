"""Members: an account's people, their roles and invitations, and a person's accounts."""

from __future__ import annotations

from tollgate.openapi.operation import Operation
from tollgate.openapi.schema import const, obj, page_of, ref, string, unix_time
from tollgate.permissions import ROLES

TAG = "Members"

_ROLE = string(enum=list(ROLES))

_MEMBER = obj(
    {
        "id": string("the person's id"),
        "object": const("member"),
        "email": string(),
        "name": string(),
        "role": _ROLE,
        "joined_at": unix_time(),
    }
)

_INVITATION = obj(
    {
        "id": string(),
        "object": const("invitation"),
        "email": string(),
        "role": _ROLE,
        "invited_by": string("who invited: person:<id> or key:<id>"),
        "created_at": unix_time(),
        "expires_at": unix_time(),
    },
    {
        "token": string("the invitation's token: shown only when it is sent"),
        "link": string("the console's link to accept it: shown only when it is sent"),
    },
)

_MEMBERSHIP = obj(
    {
        "id": string("the account's id"),
        "object": const("account_membership"),
        "name": string("the account's name"),
        "role": _ROLE,
        "joined_at": unix_time(),
    }
)

SCHEMAS = {"Member": _MEMBER, "Invitation": _INVITATION, "AccountMembership": _MEMBERSHIP}

OPERATIONS = {
    ("GET", "/v1/members"): Operation("List the account's members", {200: page_of(ref("Member"))}),
    ("PATCH", "/v1/members/{person_id}"): Operation(
        "Change a member's role (only an owner makes or demotes owners)",
        {200: ref("Member")},
        body=obj({"role": _ROLE}),
    ),
    ("DELETE", "/v1/members/{person_id}"): Operation(
        "Remove a member, or leave (your own id); the keys they made are revoked",
        {200: ref("Member")},
    ),
    ("POST", "/v1/members/{person_id}/transfer-ownership"): Operation(
        "Hand ownership to another member; the signed-in owner becomes an admin",
        {200: ref("Member")},
    ),
    ("POST", "/v1/members/invitations"): Operation(
        "Invite an email with a role (replaces its pending invitation)",
        {201: ref("Invitation")},
        body=obj({"email": string(fmt="email"), "role": _ROLE}),
    ),
    ("GET", "/v1/members/invitations"): Operation(
        "List the account's pending invitations", {200: page_of(ref("Invitation"))}
    ),
    ("DELETE", "/v1/members/invitations/{invitation_id}"): Operation(
        "Revoke a pending invitation", {200: ref("Invitation")}
    ),
    ("POST", "/v1/members/invitations/accept"): Operation(
        "Join the account an invitation to your signed-in email names",
        {201: ref("Member")},
        body=obj(
            {"token": string("the invitation's token")},
            {"name": string("your name in the account")},
        ),
    ),
    ("GET", "/v1/me/accounts"): Operation(
        "List the accounts the signed-in person belongs to",
        {200: page_of(ref("AccountMembership"))},
    ),
}
