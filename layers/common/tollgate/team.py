"""What a change to an account's people does beyond ``tollgate.members``: the audit trail
(and the mails of a removal). One implementation for MembersFunction and the console; each
takes where the request came from (``Origin``) for the trail."""

from __future__ import annotations

from tollgate import members
from tollgate.audit import Origin
from tollgate.auth import Principal
from tollgate.members import NewInvitation, SentInvitation
from tollgate.settings import Settings
from tollgate.store.models import Invitation, Member


def invite(
    caller: Principal, new: NewInvitation, *, settings: Settings, origin: Origin
) -> SentInvitation:
    sent = members.invite(caller, new, settings=settings)
    invitation = sent.invitation
    if sent.replaced is not None:
        origin.record(
            caller,
            caller.account_id,
            "invitation.revoked",
            f"invitation:{sent.replaced.invitation_id}",
            {"replaced_by": (None, invitation.invitation_id)},
        )
    target = f"invitation:{invitation.invitation_id}"
    changes = {"role": (None, invitation.role)}
    origin.record(caller, caller.account_id, "member.invited", target, changes)
    return sent


def revoke_invitation(caller: Principal, invitation_id: str, *, origin: Origin) -> Invitation:
    invitation = members.revoke_invitation(caller, invitation_id)
    changes = {"role": (invitation.role, None)}
    target = f"invitation:{invitation_id}"
    origin.record(caller, caller.account_id, "invitation.revoked", target, changes)
    return invitation


def accept_invitation(person: Principal, token: str, *, name: str, origin: Origin) -> Member:
    member = members.accept_invitation(person, token, name=name)
    changes = {"role": (None, member.role)}
    target = f"person:{member.person_id}"
    origin.record(person, member.account_id, "member.joined", target, changes)
    return member


def change_role(caller: Principal, person_id: str, role: str, *, origin: Origin) -> Member:
    member, before = members.change_role(caller, person_id, role)
    if before != member.role:
        changes = {"role": (before, member.role)}
        target = f"person:{person_id}"
        origin.record(caller, caller.account_id, "member.role_changed", target, changes)
    return member


def remove_member(caller: Principal, person_id: str, *, origin: Origin) -> Member:
    """Remove the member, revoke the keys they created, and mail them and the owners."""
    member = members.remove_member(caller, person_id)
    changes = {"role": (member.role, None)}
    origin.record(caller, caller.account_id, "member.removed", f"person:{person_id}", changes)
    for key in members.revoke_keys_created_by(member):
        revoked = {"status": ("active", "revoked"), "reason": (None, "member_removed")}
        origin.record(caller, caller.account_id, "key.revoked", f"key:{key.key_id}", revoked)
    members.notify_removed(caller, member)
    return member


def transfer_ownership(caller: Principal, person_id: str, *, origin: Origin) -> Member:
    """Returns the new owner."""
    changed = members.transfer_ownership(caller, person_id)
    for member, before in changed:
        changes = {"role": (before, member.role)}
        target = f"person:{member.person_id}"
        origin.record(caller, caller.account_id, "member.role_changed", target, changes)
    return changed[0][0]
