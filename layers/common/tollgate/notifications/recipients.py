"""Who receives a notification sent without ``to``: the account's owners."""

from __future__ import annotations

from tollgate.store.models import Account


def owner_emails(account: Account) -> list[str]:
    """The addresses of the account's owners. Until the Member store holds them, the
    account's own email is its one owner's."""
    return [account.email]
