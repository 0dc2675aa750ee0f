"""Deleting an account: an owner schedules it (every key revoked at once), may cancel it for
30 days, then the daily purge removes the personal data and keeps the financial records.

Scheduling also cancels the account's pending invitations and mails its owners.

What the purge removes: the profile's name, email and company (the profile item itself stays,
holding only its id and status ``deleted``: the ledger and payments point at it), the email's
uniqueness guard, the account's members and their logins (the user pool's user, unless the
person belongs to another account; with it their pending emailed codes), its invitations,
its keys (their names and tags are the customer's words), its monthly usage archives (every
version) and their index, its exports (every version) and their records, its support tickets
(threads, files and their objects, the pointers from their ids, the opening counts). What
stays: the wallet, the ledger and the payments ("indefinitely for financial compliance"; none
of them holds a person's name or email), the audit trail (hash-chained and signed, so never
rewritten; it names people only by opaque ids), and usage records until their TTL (key ids,
models, costs). Failed log-in counters (keyed by a hash of the email) age out within the hour.
"""

from __future__ import annotations

from collections.abc import Mapping
from contextlib import suppress
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from tollgate import accounts, audit, keys, notifications
from tollgate.auth import Principal
from tollgate.errors import BadRequest, Conflict
from tollgate.identity import codes
from tollgate.identity.cognito import Refused, UserPool, user_pool
from tollgate.settings import Settings
from tollgate.store import archives as archive_store
from tollgate.store import deletion as store
from tollgate.store import exports as export_store
from tollgate.store import members as member_store
from tollgate.store import ticket_files as ticket_file_store
from tollgate.store import tickets as ticket_store
from tollgate.store.keys import list_keys
from tollgate.store.models import Account, Member, ScheduledDeletion
from tollgate.validation import reject_unknown_fields

GRACE = timedelta(days=30)
ACTOR = "purge"  # who the audit trail says purged an account
SCHEDULED = store.SCHEDULED


def schedule_deletion(
    account_id: str,
    body: Mapping[str, Any],
    *,
    now: datetime,
    settings: Settings,
    scheduled_by: str = "",
) -> Account:
    """Schedule the account's purge ``GRACE`` from now, once its name is typed back, revoke
    every key, cancel the pending invitations and mail the owners (``scheduled_by``: who, as
    they know them). Asking again revokes and cancels whatever a failed first attempt left."""
    account = accounts.get_account(account_id)
    first = account.status != SCHEDULED
    if first:
        _check_confirmation(body, account)
        store.schedule(account, now + GRACE)
    revoke_every_key(account_id, now=now)
    cancel_invitations(account_id)
    scheduled = accounts.get_account(account_id)
    if first:
        _tell_the_owners(scheduled, scheduled_by, settings)
    return scheduled


def known_as(owner: Principal) -> str:
    """Who scheduled it, as the other owners know them: their email."""
    member = member_store.get_member(owner.account_id, owner.person_id)
    return member.email if member is not None else owner.actor


def cancel_invitations(account_id: str) -> None:
    for invitation in member_store.invitations_of(account_id):
        # accepted or revoked at the same moment: the purge removes the member
        with suppress(Conflict):
            member_store.delete_invitation(invitation)


def _tell_the_owners(account: Account, scheduled_by: str, settings: Settings) -> None:
    assert account.purge_after is not None
    notifications.send(
        "deletion_scheduled",
        account.account_id,
        context={
            "purge_on": account.purge_after.date().isoformat(),
            "scheduled_by": scheduled_by,
            "restore_url": f"{settings.console_url.rstrip('/')}/account/restore",
        },
    )


def _check_confirmation(body: Mapping[str, Any], account: Account) -> None:
    reject_unknown_fields(body, ("confirm",))
    if body.get("confirm") != account.name:
        raise BadRequest(
            "To delete the account, send its name as 'confirm', exactly as it is shown.",
            code="confirmation_mismatch",
            param="confirm",
        )


def revoke_every_key(account_id: str, *, now: datetime) -> int:
    revoked = 0
    for key in _every_key(account_id, now=now, status="active"):
        keys.revoke_key(account_id, key.key_id, now=now)
        revoked += 1
    return revoked


def _every_key(account_id: str, *, now: datetime, status: str | None = None) -> list[Any]:
    found: list[Any] = []
    cursor: str | None = None
    while True:
        page, cursor = list_keys(account_id, limit=100, cursor=cursor, status=status, now=now)
        found.extend(page)
        if cursor is None:
            return found


def restore(account_id: str, *, now: datetime) -> Account:
    """Cancel a scheduled deletion before its purge. The keys stay revoked: new ones are made
    by the owner, so a secret that leaked with the account's end does not come back."""
    account = accounts.get_account(account_id)
    if account.status != SCHEDULED or account.purge_after is None:
        raise Conflict("The account's deletion is not scheduled.", code="deletion_not_scheduled")
    if account.purge_after <= now:
        raise Conflict("The account's purge has begun; it cannot be restored.", code="purged")
    store.cancel(account)
    return accounts.get_account(account_id)


def deletion_view(account: Account) -> dict[str, Any]:
    return {
        "id": account.account_id,
        "object": "account",
        "status": account.status,
        "purge_after": int(account.purge_after.timestamp()) if account.purge_after else None,
    }


@dataclass(frozen=True)
class PurgeSummary:
    purged: list[str]

    def view(self) -> dict[str, Any]:
        return {"purged": len(self.purged)}


@dataclass(frozen=True)
class Holdings:
    """Where an account's data is held besides the tables: the buckets and the user pool."""

    archives: archive_store.ArchiveObjects
    exports: archive_store.ArchiveObjects
    people: UserPool
    ticket_files: archive_store.ArchiveObjects

    @classmethod
    def of(cls, settings: Settings) -> Holdings:
        return cls(
            archive_store.archive_objects(settings),
            export_store.export_objects(settings),
            user_pool(settings),
            ticket_file_store.ticket_files(settings),
        )


def purge_due(holdings: Holdings, *, now: datetime) -> PurgeSummary:
    """Purge every account whose grace ended by ``now``."""
    purged = []
    for marker in store.due(now):
        purge_account(marker, holdings, now=now)
        purged.append(marker.account_id)
    return PurgeSummary(purged)


def purge_account(marker: ScheduledDeletion, holdings: Holdings, *, now: datetime) -> None:
    """Everything but the profile first, the profile last: its scrub also removes the marker,
    so a purge that fails half-way is simply run again the next day."""
    account_id = marker.account_id
    account = accounts.get_account(account_id)
    for key in _every_key(account_id, now=now):
        store.delete_key(key)
    cancel_invitations(account_id)
    for member in member_store.members_of(account_id):
        _remove_member(member, holdings.people)
    holdings.archives.delete_every_version(archive_store.account_archive_prefix(account_id))
    archive_store.delete_batches(account_id)
    holdings.exports.delete_every_version(export_store.account_prefix(account_id))
    export_store.delete_records(account_id)
    files = holdings.ticket_files
    files.delete(files.keys(ticket_file_store.account_prefix(account_id)))
    ticket_store.delete_account_tickets(account_id)
    audit.record(
        account_id,
        actor=ACTOR,
        action="account.purged",
        target=f"account:{account_id}",
        now=now,
    )
    store.scrub_account(account, marker)


def _remove_member(member: Member, people: UserPool) -> None:
    """The membership, and the person's login unless another account is theirs too (the
    login first: the member item is how a rerun finds it)."""
    if set(member_store.accounts_of(member.person_id)) <= {member.account_id}:
        with suppress(Refused):  # gone already (a rerun)
            people.delete(member.email)
        store.delete_codes(codes.email_digest(member.email), (codes.VERIFY, codes.RESET))
    member.delete()
