"""The account profile's own fields as its people correct them (name, company, language),
and its contact email with the guard that keeps it unique (``EMAIL#<lower-cased email>``)."""

from __future__ import annotations

from pynamodb.expressions.update import Action
from pynamodb.transactions import TransactWrite

from tollgate.errors import Conflict
from tollgate.store.accounts import update_profile
from tollgate.store.connection import connection
from tollgate.store.errors import get_item, storage_errors
from tollgate.store.layout import ACCOUNT_SK, account_pk
from tollgate.store.models import Account, AccountEmail

EMAIL_GUARD_SK = "EMAIL"

CORRECTABLE = ("name", "company", "language")


def correct_profile(account_id: str, fields: dict[str, str | None]) -> None:
    """Set each of ``fields`` (None: remove it) in one conditional update; NotFound if the
    account does not exist."""
    actions: list[Action] = []
    for name, value in fields.items():
        if name not in CORRECTABLE:
            raise ValueError(f"{name!r} is not a correctable profile field")
        attribute = getattr(Account, name)
        actions.append(attribute.remove() if value is None else attribute.set(value))
    update_profile(account_id, actions, operation="correct_profile")


def email_guard_owner(email: str) -> str | None:
    """The account whose email guard holds ``email``, if any."""
    guard = get_item(AccountEmail, email_guard_pk(email), EMAIL_GUARD_SK)
    return guard.account_id if guard is not None else None


def change_email(account_id: str, old: str, new: str) -> None:
    """Make ``new`` the account's email in one transaction: its guard taken (409 if another
    account holds it), the profile changed only if its email is still ``old`` (409
    otherwise), and the old guard released if it is this account's (a signed-up account has
    none: the user pool keeps people's emails unique)."""
    taken = Conflict("Another account uses this email.", code="email_taken", param="email")
    changed = Conflict(
        "The account's email changed meanwhile; start the change again.",
        code="concurrent_change",
    )
    release = email_guard_owner(old) == account_id
    # PynamoDB sends deletes, then puts, then updates: the reasons come in that order
    first = 1 if release else 0
    conditions = {first: taken, first + 1: changed, **({0: changed} if release else {})}
    with (
        storage_errors("change_email", conditions=conditions),
        TransactWrite(connection=connection()) as tx,
    ):
        tx.save(
            AccountEmail(email_guard_pk(new), EMAIL_GUARD_SK, account_id=account_id),
            condition=AccountEmail.pk.does_not_exist(),
        )
        tx.update(
            Account(account_pk(account_id), ACCOUNT_SK),
            actions=[Account.email.set(new)],
            condition=Account.email == old,
        )
        if release:
            tx.delete(
                AccountEmail(email_guard_pk(old), EMAIL_GUARD_SK),
                condition=AccountEmail.account_id == account_id,
            )


def email_guard_pk(email: str) -> str:
    return f"EMAIL#{email.lower()}"
