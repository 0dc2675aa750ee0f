"""Who receives a notification sent without ``to``: the account's owners."""

from __future__ import annotations

from tollgate.store.members import owners_of
from tollgate.store.models import Account


def owner_emails(account: Account) -> list[str]:
    """The addresses of the account's owners (members with the ``owner`` role). An account
    the operator made has no member until someone is invited: its own email stands for its
    owner then."""
    owners = sorted({owner.email for owner in owners_of(account.account_id)})
    return owners or [account.email]
