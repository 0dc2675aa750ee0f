"""An account's notification preferences, on its profile item in KeysTable."""

from __future__ import annotations

from pynamodb.exceptions import UpdateError
from pynamodb.expressions.update import Action

from tollgate.errors import NotFound
from tollgate.store.errors import storage_errors
from tollgate.store.layout import account_pk
from tollgate.store.models import Account


def switch_notifications(account_id: str, *, off: set[str], on: set[str]) -> Account:
    """Add ``off`` to the account's switched-off kinds and take ``on`` out of them: set
    operations, so two owners changing different kinds at once both get their change. The
    account as it now is; NotFound if there is no such account."""
    account = Account(account_pk(account_id), "PROFILE")
    # One update may not both add to and delete from an attribute: two, each atomic.
    updates: list[Action] = [Account.notifications_off.delete(on)] if on else []
    updates += [Account.notifications_off.add(off)] if off else []
    with storage_errors("switch_notifications"):
        try:
            if not updates:
                account.refresh(consistent_read=True)
            for action in updates:
                account.update(actions=[action], condition=Account.pk.exists())
        except (UpdateError, Account.DoesNotExist) as error:
            if isinstance(error, UpdateError) and (
                error.cause_response_code != "ConditionalCheckFailedException"
            ):
                raise
            missing = NotFound(f"Account {account_id} does not exist.", code="account_not_found")
            raise missing from None
    return account
