"""An account's scheduled deletion and the purge of its personal data, in KeysTable."""

from __future__ import annotations

from datetime import datetime

from pynamodb.transactions import TransactWrite

from tollgate.errors import Conflict
from tollgate.store.connection import connection
from tollgate.store.errors import storage_errors
from tollgate.store.identity import CODE_SK, code_pk
from tollgate.store.layout import SECRET_SK, account_pk, secret_pk
from tollgate.store.models import (
    Account,
    AccountEmail,
    ApiKey,
    AuthCode,
    KeySecret,
    ScheduledDeletion,
)

DELETIONS = "DELETIONS"
PROFILE = "PROFILE"
ACTIVE = "active"
SCHEDULED = "deletion_scheduled"
PURGED = "deleted"


def _marker(account_id: str, purge_after: datetime) -> ScheduledDeletion:
    return ScheduledDeletion(
        DELETIONS, f"{purge_after.isoformat()}#{account_id}", account_id=account_id
    )


def schedule(account: Account, purge_after: datetime) -> None:
    """The account, active until now, is to be purged after ``purge_after``."""
    not_active = Conflict(
        "The account is not active: its deletion is already scheduled, or it is suspended.",
        code="account_not_active",
    )
    with (
        storage_errors("schedule_deletion", conditions={0: not_active}),
        TransactWrite(connection=connection()) as tx,
    ):
        tx.update(
            account,
            actions=[Account.status.set(SCHEDULED), Account.purge_after.set(purge_after)],
            condition=Account.status == ACTIVE,
        )
        tx.save(_marker(account.account_id, purge_after))


def cancel(account: Account) -> None:
    """Back to active, if its purge has not begun (the marker is still there)."""
    if account.purge_after is None:
        raise Conflict("The account's deletion is not scheduled.", code="deletion_not_scheduled")
    marker = _marker(account.account_id, account.purge_after)
    too_late = Conflict("The account's deletion is not scheduled.", code="deletion_not_scheduled")
    with (
        storage_errors("cancel_deletion", conditions={0: too_late, 1: too_late}),
        TransactWrite(connection=connection()) as tx,
    ):
        tx.update(
            account,
            actions=[Account.status.set(ACTIVE), Account.purge_after.remove()],
            condition=Account.status == SCHEDULED,
        )
        tx.delete(marker, condition=ScheduledDeletion.pk.exists())


def due(now: datetime) -> list[ScheduledDeletion]:
    with storage_errors("due_deletions"):
        return list(
            ScheduledDeletion.query(
                DELETIONS, ScheduledDeletion.sk <= now.isoformat(), consistent_read=True
            )
        )


def scrub_account(account: Account, marker: ScheduledDeletion) -> None:
    """The profile keeps only what the ledger needs (its id and status); the email guard and
    the schedule marker go."""
    with storage_errors("scrub_account"), TransactWrite(connection=connection()) as tx:
        tx.update(
            account,
            actions=[
                Account.email.set(account.account_id),
                Account.name.set(account.account_id),
                Account.status.set(PURGED),
                Account.purge_after.remove(),
                Account.flagged.remove(),
                Account.company.remove(),
                Account.language.remove(),
                Account.status_reason.remove(),
                Account.notifications_off.remove(),
                Account.low_balance_threshold.remove(),
                Account.low_balance_warned_at.remove(),
            ],
            condition=Account.status == SCHEDULED,
        )
        tx.delete(AccountEmail(f"EMAIL#{account.email.lower()}", "EMAIL"))
        tx.delete(marker)


def delete_key(key: ApiKey) -> None:
    """A key's record and its current secret's item (rotated-out ones expire by TTL)."""
    with storage_errors("delete_key"), TransactWrite(connection=connection()) as tx:
        tx.delete(key)
        tx.delete(KeySecret(secret_pk(key.digest), SECRET_SK))


def profile(account_id: str) -> Account:
    return Account(account_pk(account_id), PROFILE)


def delete_codes(email_digest: str, purposes: tuple[str, ...]) -> None:
    """A person's pending emailed codes (a reset's, or an unconfirmed sign-up's with its name
    and company), named by the hash of their email."""
    with storage_errors("delete_codes"):
        for purpose in purposes:
            AuthCode(code_pk(purpose, email_digest), CODE_SK).delete()
