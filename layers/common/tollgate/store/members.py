"""An account's members (people with a role) and its invitations in KeysTable, and the
accounts of a person.

Every change of a member is conditioned on the role it was read with, so a decision taken on
that role (an admin may change a developer, not an owner) cannot act on a member changed
meanwhile. Removing or demoting an owner also checks, in the same transaction, that another
owner still is one: DynamoDB serializes transactions, so each one that commits leaves that
other owner in place, and no interleaving of them leaves an account without an owner.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime

from pynamodb.exceptions import TransactWriteError
from pynamodb.expressions.condition import Condition
from pynamodb.transactions import TransactWrite

from tollgate.errors import Conflict, TollgateError
from tollgate.store.connection import connection
from tollgate.store.errors import cancellation_codes, get_item, storage_errors
from tollgate.store.layout import (
    account_pk,
    invitation_sk,
    invitation_token_pk,
    member_sk,
    person_pk,
)
from tollgate.store.models import Invitation, InvitationToken, Member

MEMBER_PREFIX = "MEMBER#"
INVITATION_PREFIX = "INVITE#"
INVITATION_TOKEN_SK = "INVITATION"


class OtherOwnerChanged(Conflict):
    """The owner who was to remain is no longer one; read the owners again."""


def member_item(
    account_id: str, person_id: str, *, email: str, name: str, role: str, joined_at: datetime
) -> Member:
    return Member(
        account_pk(account_id),
        member_sk(person_id),
        account_id=account_id,
        person_id=person_id,
        email=email,
        name=name,
        role=role,
        joined_at=joined_at,
        gsi1pk=person_pk(person_id),
        gsi1sk=account_pk(account_id),
    )


def get_member(account_id: str, person_id: str) -> Member | None:
    """Strongly consistent: a removal or a role change acts on the next request."""
    return get_item(Member, account_pk(account_id), member_sk(person_id))


def members_of(account_id: str) -> list[Member]:
    with storage_errors("members_of"):
        return list(
            Member.query(
                account_pk(account_id),
                Member.sk.startswith(MEMBER_PREFIX),
                consistent_read=True,
            )
        )


def owners_of(account_id: str) -> list[Member]:
    return [member for member in members_of(account_id) if member.role == "owner"]


def accounts_of(person_id: str) -> list[str]:
    """The ids of the accounts a person belongs to (the index is eventually consistent: a
    membership is always proven by get_member before it is used)."""
    with storage_errors("accounts_of"):
        found = Member.by_person.query(person_pk(person_id))
        return [item.gsi1sk.removeprefix("ACCOUNT#") for item in found]


def member_changed() -> Conflict:
    return Conflict(
        "This member was changed or removed at the same moment; read it again and retry.",
        code="member_changed",
    )


@contextmanager
def _concurrent_writes_are_conflicts() -> Iterator[None]:
    """Another transaction on the same items at the same moment: a 409 to retry, not a 500."""
    try:
        yield
    except TransactWriteError as error:
        codes = cancellation_codes(error)
        if "TransactionConflict" in codes and "ConditionalCheckFailed" not in codes:
            raise Conflict(
                "The account's members changed at the same moment; try again.",
                code="concurrent_change",
            ) from error
        raise


@contextmanager
def _transaction(operation: str, conditions: dict[int, TollgateError]) -> Iterator[TransactWrite]:
    with (
        storage_errors(operation, conditions=conditions),
        _concurrent_writes_are_conflicts(),
        TransactWrite(connection=connection()) as tx,
    ):
        yield tx


def _check_still_owner(tx: TransactWrite, account_id: str, person_id: str) -> None:
    tx.condition_check(
        Member, account_pk(account_id), member_sk(person_id), condition=Member.role == "owner"
    )


def change_role(member: Member, role: str, *, other_owner: str | None = None) -> None:
    """Set ``member``'s role if it is still the one read; ``other_owner`` must still be an
    owner (when an owner is demoted)."""
    checks = 1 if other_owner else 0
    conditions: dict[int, TollgateError] = {checks: member_changed()}
    if other_owner:
        conditions[0] = OtherOwnerChanged("")
    with _transaction("change_member_role", conditions) as tx:
        if other_owner:
            _check_still_owner(tx, member.account_id, other_owner)
        tx.update(member, [Member.role.set(role)], condition=Member.role == member.role)
    member.role = role


def remove_member(member: Member, *, other_owner: str | None = None) -> None:
    """Delete ``member`` if its role is still the one read; see ``change_role``."""
    checks = 1 if other_owner else 0
    conditions: dict[int, TollgateError] = {checks: member_changed()}
    if other_owner:
        conditions[0] = OtherOwnerChanged("")
    with _transaction("remove_member", conditions) as tx:
        if other_owner:
            _check_still_owner(tx, member.account_id, other_owner)
        tx.delete(member, condition=Member.role == member.role)


def transfer_ownership(owner: Member, successor: Member) -> None:
    """``successor`` becomes an owner and ``owner`` an admin, at once (an owner remains)."""
    with _transaction("transfer_ownership", {0: member_changed(), 1: member_changed()}) as tx:
        tx.update(successor, [Member.role.set("owner")], condition=Member.role == successor.role)
        tx.update(owner, [Member.role.set("admin")], condition=Member.role == "owner")
    successor.role, owner.role = "owner", "admin"


# ------------------------------------------------------------------------------ invitations


def invitation_token_item(invitation: Invitation) -> InvitationToken:
    return InvitationToken(
        invitation_token_pk(invitation.digest),
        INVITATION_TOKEN_SK,
        account_id=invitation.account_id,
        invitation_id=invitation.invitation_id,
        invitation_sk=invitation.sk,
        ttl=invitation.ttl,
    )


def invitation_item(
    account_id: str,
    invitation_id: str,
    *,
    email: str,
    role: str,
    digest: str,
    invited_by: str,
    created_at: datetime,
    expires_at: datetime,
    ttl: datetime,
) -> Invitation:
    return Invitation(
        account_pk(account_id),
        invitation_sk(email),
        invitation_id=invitation_id,
        account_id=account_id,
        email=email,
        role=role,
        digest=digest,
        invited_by=invited_by,
        created_at=created_at,
        expires_at=expires_at,
        ttl=ttl,
    )


def save_invitation(invitation: Invitation, *, replaces: Invitation | None) -> None:
    """Store a new invitation and its token lookup, in place of ``replaces`` (the email's
    pending invitation as read, whose token then opens nothing) or of none."""
    changed = Conflict(
        "An invitation to this email was sent at the same moment; list them and retry.",
        code="invitation_changed",
    )
    with _transaction("save_invitation", {1 if replaces else 0: changed}) as tx:
        kept: Condition = Invitation.pk.does_not_exist()
        if replaces is not None:
            tx.delete(invitation_token_item(replaces))
            kept = Invitation.invitation_id == replaces.invitation_id
        tx.save(invitation, condition=kept)
        tx.save(invitation_token_item(invitation), condition=InvitationToken.pk.does_not_exist())


def invitations_of(account_id: str) -> list[Invitation]:
    with storage_errors("invitations_of"):
        return list(
            Invitation.query(
                account_pk(account_id),
                Invitation.sk.startswith(INVITATION_PREFIX),
                consistent_read=True,
            )
        )


def get_invitation(account_id: str, email: str) -> Invitation | None:
    return get_item(Invitation, account_pk(account_id), invitation_sk(email))


def find_invitation(digest: str) -> Invitation | None:
    """The invitation a token's digest opens, if it is still the pending one."""
    token = get_item(InvitationToken, invitation_token_pk(digest), INVITATION_TOKEN_SK)
    if token is None:
        return None
    invitation = get_item(Invitation, account_pk(token.account_id), token.invitation_sk)
    return invitation if invitation is not None and invitation.digest == digest else None


def invitation_gone() -> Conflict:
    return Conflict(
        "This invitation was used, revoked or replaced at the same moment.",
        code="invitation_changed",
    )


def delete_invitation(invitation: Invitation) -> None:
    with _transaction("delete_invitation", {0: invitation_gone()}) as tx:
        tx.delete(invitation, condition=Invitation.digest == invitation.digest)
        tx.delete(invitation_token_item(invitation))


def accept_invitation(invitation: Invitation, member: Member) -> None:
    """The invitation used up and the member added, at once: a token works only once."""
    already = Conflict(
        "You are already a member of this account.", code="already_member", param="token"
    )
    with _transaction("accept_invitation", {0: invitation_gone(), 2: already}) as tx:
        tx.delete(invitation, condition=Invitation.digest == invitation.digest)
        tx.delete(invitation_token_item(invitation))
        tx.save(member, condition=Member.pk.does_not_exist())
