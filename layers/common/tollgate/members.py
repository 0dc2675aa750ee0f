"""An account's members: listing, role changes, removal (or leaving), invitations and their
acceptance, and the accounts a person belongs to.

The rules, whoever calls (a member signed in, or an admin key acting as ``admin``):
- members.manage changes, removes and invites any role but ``owner``; only owners.manage
  makes, demotes or removes an owner, or invites one (and revokes such an invitation);
- every member may leave (remove themselves); a member removed or leaving loses the keys
  they created (revoked at once, each audited);
- an account always keeps an owner: the last one can be neither demoted nor removed (409),
  even by two owners demoting each other at once (``tollgate.store.members``);
- an invitation is for one email and role, lasts 7 days, is used once, can be revoked, and is
  accepted only by a person whose verified email is the invited one; a new invitation to the
  same email replaces the pending one. Only the SHA-256 digest of its token is stored.
"""

from __future__ import annotations

import hashlib
import secrets
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from tollgate import clock, keys, notifications, permissions
from tollgate.auth import Principal
from tollgate.errors import BadRequest, Conflict, Forbidden, NotFound
from tollgate.permissions import MEMBERS_MANAGE, OWNER, OWNERS_MANAGE, ROLES
from tollgate.settings import Settings
from tollgate.store import keys as account_store
from tollgate.store import members as store
from tollgate.store.models import Account, ApiKey, Invitation, Member
from tollgate.validation import email_field, reject_unknown_fields, text_field

INVITATION_LIFETIME = timedelta(days=7)
INVITATION_KEPT = timedelta(days=30)  # an expired invitation's items, then TTL deletes them
TOKEN_PREFIX = "tgi-"
OWNER_RETRIES = 3  # re-reads of the owners when the one that was to remain changed meanwhile


@dataclass(frozen=True, slots=True)
class NewInvitation:
    email: str
    role: str


@dataclass(frozen=True, slots=True)
class SentInvitation:
    invitation: Invitation
    token: str
    link: str
    replaced: Invitation | None


# ------------------------------------------------------------------------------ views


def member_view(member: Member) -> dict[str, Any]:
    return {
        "id": member.person_id,
        "object": "member",
        "email": member.email,
        "name": member.name,
        "role": member.role,
        "joined_at": int(member.joined_at.timestamp()),
    }


def invitation_view(
    invitation: Invitation, *, token: str | None = None, link: str | None = None
) -> dict[str, Any]:
    view: dict[str, Any] = {
        "id": invitation.invitation_id,
        "object": "invitation",
        "email": invitation.email,
        "role": invitation.role,
        "invited_by": invitation.invited_by,
        "created_at": int(invitation.created_at.timestamp()),
        "expires_at": int(invitation.expires_at.timestamp()),
    }
    if token is not None:
        view.update(token=token, link=link)
    return view


def account_membership_view(member: Member, account: Account | None) -> dict[str, Any]:
    return {
        "id": member.account_id,
        "object": "account_membership",
        "name": account.name if account is not None else "",
        "role": member.role,
        "joined_at": int(member.joined_at.timestamp()),
    }


# ------------------------------------------------------------------------------ members


def list_members(account_id: str) -> list[Member]:
    return sorted(store.members_of(account_id), key=lambda member: member.joined_at)


def get_member(account_id: str, person_id: str) -> Member:
    found = store.get_member(account_id, person_id)
    if found is None:
        raise NotFound(
            f"No member with id '{person_id}'.", code="member_not_found", param="person_id"
        )
    return found


def parse_role(body: Mapping[str, Any]) -> str:
    reject_unknown_fields(body, ("role",))
    if "role" not in body:
        raise BadRequest("'role' is required.", param="role")
    role = body["role"]
    if role not in ROLES:
        raise BadRequest(f"'role' must be one of: {', '.join(ROLES)}.", param="role")
    return str(role)


def change_role(caller: Principal, person_id: str, role: str) -> tuple[Member, str]:
    """Give a member a new role; returns the member and the role it had."""
    member = get_member(caller.account_id, person_id)
    before = member.role
    _require_may_manage(caller, before, role)
    if before != role:
        _keeping_an_owner(member, lambda other: store.change_role(member, role, other_owner=other))
    return member, before


def remove_member(caller: Principal, person_id: str) -> Member:
    """Remove a member from the account, or the caller leaving it (``person_id`` their own)."""
    member = get_member(caller.account_id, person_id)
    leaving = bool(caller.person_id) and caller.person_id == person_id
    if not leaving:
        _require_may_manage(caller, member.role)
    _keeping_an_owner(member, lambda other: store.remove_member(member, other_owner=other))
    return member


def revoke_keys_created_by(member: Member, *, now: datetime | None = None) -> list[ApiKey]:
    """Revoke every key the removed (or leaving) member created that still works, so a person
    who leaves takes no working key with them; the keys revoked. Keys made by an admin key
    or the operator name no member and stay."""
    now = now or clock.utcnow()
    revoked = []
    cursor: str | None = None
    while True:
        page, cursor = keys.list_keys(member.account_id, limit=100, cursor=cursor, now=now)
        for key in page:
            if key.created_by == member.person_id and key.status != "revoked":
                revoked.append(keys.revoke_key(member.account_id, key.key_id, now=now))
        if cursor is None:
            return revoked


def transfer_ownership(caller: Principal, person_id: str) -> list[tuple[Member, str]]:
    """The signed-in owner hands ownership to another member and becomes an admin; returns
    each changed member with the role it had."""
    if not caller.person_id or caller.person_id == person_id:
        raise BadRequest(
            "Ownership passes from the signed-in owner to another member.",
            code="invalid_transfer",
            param="person_id",
        )
    successor = get_member(caller.account_id, person_id)
    owner = get_member(caller.account_id, caller.person_id)
    if not caller.may(OWNERS_MANAGE) or owner.role != OWNER:
        raise Forbidden("Only an owner may transfer ownership.", code="owner_required")
    successor_before = successor.role
    store.transfer_ownership(owner, successor)
    return [(successor, successor_before), (owner, OWNER)]


def _require_may_manage(caller: Principal, *roles: str) -> None:
    """The caller may manage members holding (or given) ``roles``."""
    if not caller.may(MEMBERS_MANAGE):
        raise Forbidden("Your role does not allow managing members.", code="permission_denied")
    if OWNER in roles and not caller.may(OWNERS_MANAGE):
        raise Forbidden("Only an owner may make, change or remove owners.", code="owner_required")


def _keeping_an_owner(member: Member, write: Callable[[str | None], None]) -> None:
    """Run ``write(other_owner)``: for an owner, naming another owner who must remain one."""
    if member.role != OWNER:
        write(None)
        return
    for _ in range(OWNER_RETRIES):
        others = [o for o in store.owners_of(member.account_id) if o.person_id != member.person_id]
        if not others:
            raise Conflict(
                "An account must keep an owner: make someone else an owner first.",
                code="last_owner",
            )
        try:
            write(others[0].person_id)
            return
        except store.OtherOwnerChanged:
            continue
    raise Conflict(
        "The account's owners changed at the same moment; try again.", code="concurrent_change"
    )


# ------------------------------------------------------------------------------ invitations


def parse_invitation(body: Mapping[str, Any]) -> NewInvitation:
    reject_unknown_fields(body, ("email", "role"))
    if "role" not in body:
        raise BadRequest("'role' is required.", param="role")
    return NewInvitation(email=email_field(body), role=parse_role({"role": body["role"]}))


def invite(
    caller: Principal, new: NewInvitation, *, settings: Settings, now: datetime | None = None
) -> SentInvitation:
    """Invite an email to the caller's account with a role; replaces its pending invitation."""
    _require_may_manage(caller, new.role)
    account_id = caller.account_id
    if any(m.email.lower() == new.email.lower() for m in store.members_of(account_id)):
        raise Conflict(
            f"{new.email} is already a member of this account.",
            code="already_member",
            param="email",
        )
    replaced = store.get_invitation(account_id, new.email)
    if replaced is not None:
        _require_may_manage(caller, replaced.role)
    now = now or clock.utcnow()
    token = TOKEN_PREFIX + secrets.token_urlsafe(32)
    invitation = store.invitation_item(
        account_id,
        "inv_" + secrets.token_hex(12),
        email=new.email,
        role=new.role,
        digest=token_digest(token),
        invited_by=caller.actor,
        created_at=now,
        expires_at=now + INVITATION_LIFETIME,
        ttl=now + INVITATION_LIFETIME + INVITATION_KEPT,
    )
    store.save_invitation(invitation, replaces=replaced)
    link = f"{settings.console_url.rstrip('/')}/invitations/accept#token={token}"
    notifications.send(
        "member_invited",
        account_id,
        to=[new.email],
        context={
            "email": new.email,
            "role": new.role,
            "invited_by": caller.actor,
            "invitation_url": link,
            "expires_at": f"{invitation.expires_at:%Y-%m-%d %H:%M} UTC",
        },
    )
    return SentInvitation(invitation, token, link, replaced)


def token_digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def pending_invitations(account_id: str, *, now: datetime | None = None) -> list[Invitation]:
    now = now or clock.utcnow()
    found = [i for i in store.invitations_of(account_id) if i.expires_at > now]
    return sorted(found, key=lambda invitation: invitation.created_at)


def revoke_invitation(caller: Principal, invitation_id: str) -> Invitation:
    found = [i for i in store.invitations_of(caller.account_id) if i.invitation_id == invitation_id]
    if not found:
        raise NotFound(
            f"No invitation with id '{invitation_id}'.",
            code="invitation_not_found",
            param="invitation_id",
        )
    (invitation,) = found
    _require_may_manage(caller, invitation.role)
    store.delete_invitation(invitation)
    return invitation


def parse_acceptance(body: Mapping[str, Any]) -> tuple[str, str]:
    """The token, and the name the person gives themselves in the account (optional)."""
    reject_unknown_fields(body, ("token", "name"))
    token = text_field(body, "token", required=True, max_length=200)
    return token, text_field(body, "name", max_length=100)


def accept_invitation(
    person: Principal, token: str, *, name: str = "", now: datetime | None = None
) -> Member:
    """The signed-in person joins the account the token invites them to, with its role."""
    if person.role != permissions.PERSON or not person.person_id:
        raise Forbidden("Only a signed-in person may accept an invitation.", code="person_required")
    now = now or clock.utcnow()
    invitation = store.find_invitation(token_digest(token))
    if invitation is None:
        raise NotFound(
            "This invitation does not exist, was revoked or was already used.",
            code="invitation_not_found",
            param="token",
        )
    if invitation.expires_at <= now:
        raise NotFound(
            "This invitation has expired; ask for a new one.",
            code="invitation_expired",
            param="token",
        )
    if not person.email or person.email.lower() != invitation.email.lower():
        raise Forbidden(
            "This invitation was sent to another email address than the one you signed in with.",
            code="invitation_email_mismatch",
        )
    member = store.member_item(
        invitation.account_id,
        person.person_id,
        email=person.email,
        name=name,
        role=invitation.role,
        joined_at=now,
    )
    store.accept_invitation(invitation, member)
    return member


# ------------------------------------------------------------------------------ a person


def accounts_of_person(person: Principal) -> list[tuple[Member, Account | None]]:
    """The accounts the signed-in person belongs to, with their role in each (each membership
    read anew: the person index may still list one just left)."""
    found = []
    for account_id in store.accounts_of(person.person_id):
        member = store.get_member(account_id, person.person_id)
        if member is not None:
            found.append((member, account_store.get_account(account_id)))
    return sorted(found, key=lambda pair: pair[0].joined_at)


def notify_removed(caller: Principal, member: Member) -> None:
    """Mail the removed person, and the account's owners (a security notice: who lost
    access, and by whose hand)."""
    context = {"email": member.email, "role": member.role, "removed_by": caller.actor}
    notifications.send("member_removed", member.account_id, to=[member.email], context=context)
    notifications.send("member_removed", member.account_id, context=context)
