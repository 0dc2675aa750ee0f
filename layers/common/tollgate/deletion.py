"""Deleting an account: an owner schedules it (every key revoked at once), may cancel it for
30 days, then the daily purge removes the personal data and keeps the financial records.

What the purge removes: the profile's name and email (the profile item itself stays, holding
only its id and status ``deleted``: the ledger and payments point at it), the email's
uniqueness guard, the account's members, its keys (their names and tags are the customer's
words), its monthly usage archives (every version) and their index. What stays: the wallet,
the ledger and the payments ("indefinitely for financial compliance"; none of them holds a
person's name or email), the audit trail (hash-chained and signed, so never rewritten; it
names people only by opaque ids), and usage records until their TTL (key ids, models, costs).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from tollgate import accounts, audit, keys
from tollgate.errors import BadRequest, Conflict
from tollgate.store import archives as archive_store
from tollgate.store import deletion as store
from tollgate.store import members as member_store
from tollgate.store.keys import list_keys
from tollgate.store.models import Account, ScheduledDeletion
from tollgate.validation import reject_unknown_fields

GRACE = timedelta(days=30)
ACTOR = "purge"  # who the audit trail says purged an account
SCHEDULED = store.SCHEDULED


def schedule_deletion(account_id: str, body: Mapping[str, Any], *, now: datetime) -> Account:
    """Schedule the account's purge ``GRACE`` from now, once its name is typed back, and
    revoke every key. Asking again revokes whatever a failed first attempt left active."""
    account = accounts.get_account(account_id)
    if account.status != SCHEDULED:
        _check_confirmation(body, account)
        store.schedule(account, now + GRACE)
    revoke_every_key(account_id, now=now)
    return accounts.get_account(account_id)


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


def purge_due(objects: archive_store.ArchiveObjects, *, now: datetime) -> PurgeSummary:
    """Purge every account whose grace ended by ``now``."""
    purged = []
    for marker in store.due(now):
        purge_account(marker, objects, now=now)
        purged.append(marker.account_id)
    return PurgeSummary(purged)


def purge_account(
    marker: ScheduledDeletion, objects: archive_store.ArchiveObjects, *, now: datetime
) -> None:
    """Everything but the profile first, the profile last: its scrub also removes the marker,
    so a purge that fails half-way is simply run again the next day."""
    account_id = marker.account_id
    account = accounts.get_account(account_id)
    for key in _every_key(account_id, now=now):
        store.delete_key(key)
    for member in member_store.members_of(account_id):
        member.delete()
    objects.delete_every_version(archive_store.account_archive_prefix(account_id))
    archive_store.delete_batches(account_id)
    audit.record(
        account_id,
        actor=ACTOR,
        action="account.purged",
        target=f"account:{account_id}",
        now=now,
    )
    store.scrub_account(account, marker)
