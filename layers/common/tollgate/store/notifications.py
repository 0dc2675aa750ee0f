"""An account's notification preferences and low-balance watch, on its profile in KeysTable."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime

from pynamodb.exceptions import UpdateError
from pynamodb.expressions.condition import Condition
from pynamodb.expressions.update import Action

from tollgate.store.accounts import read_profile, update_profile
from tollgate.store.errors import storage_errors
from tollgate.store.layout import ACCOUNTS, WALLET_SK, account_pk
from tollgate.store.models import Account, Wallet


def switch_notifications(account_id: str, *, off: set[str], on: set[str]) -> Account:
    """Add ``off`` to the account's switched-off kinds and take ``on`` out of them: set
    operations, so two owners changing different kinds at once both get their change. The
    account as it now is; NotFound if there is no such account."""
    # One update may not both add to and delete from an attribute: two, each atomic.
    updates: list[Action] = [Account.notifications_off.delete(on)] if on else []
    updates += [Account.notifications_off.add(off)] if off else []
    if not updates:
        return read_profile(account_id)
    for action in updates:
        account = update_profile(account_id, [action], operation="switch_notifications")
    return account


def set_low_balance_threshold(account_id: str, threshold: int | None) -> Account:
    """Set (or, with None, remove) the account's low-balance threshold in nano-USD; a new
    threshold forgets an earlier warning, so a balance already below it is warned about."""
    if threshold is None:
        actions: list[Action] = [
            Account.low_balance_threshold.remove(),
            Account.low_balance_warned_at.remove(),
        ]
    else:
        actions = [
            Account.low_balance_threshold.set(threshold),
            Account.low_balance_warned_at.remove(),
        ]
    return update_profile(account_id, actions, operation="set_low_balance_threshold")


def watched_accounts() -> Iterator[Account]:
    """The accounts with a low-balance threshold: the account list's profiles (the by_account
    index's ``ACCOUNTS`` partition, which holds every profile), filtered."""
    with storage_errors("watched_accounts"):
        yield from Account.by_creation.query(
            ACCOUNTS, filter_condition=Account.low_balance_threshold.exists()
        )


def funds(account_ids: list[str]) -> dict[str, int]:
    """Each account's balance plus what it holds for requests in flight, in nano-USD (an
    account without a wallet is left out)."""
    found: dict[str, int] = {}
    with storage_errors("wallets"):
        for wallet in Wallet.batch_get([(account_pk(a), WALLET_SK) for a in account_ids]):
            found[wallet.account_id] = int(wallet.balance) + int(wallet.held)
    return found


def mark_warned(account: Account, now: datetime) -> bool:
    """Record that the account was warned at its current threshold; False if it already was,
    or its threshold changed meanwhile (another run, an owner's change): then do not warn."""
    condition = Account.low_balance_warned_at.does_not_exist() & (
        Account.low_balance_threshold == account.low_balance_threshold
    )
    return _conditional(account, [Account.low_balance_warned_at.set(now)], condition)


def clear_warned(account: Account) -> bool:
    """Forget the warning once the balance is back above the threshold."""
    condition = Account.low_balance_warned_at.exists()
    return _conditional(account, [Account.low_balance_warned_at.remove()], condition)


def _conditional(account: Account, actions: list[Action], condition: Condition) -> bool:
    with storage_errors("low_balance_warning"):
        try:
            account.update(actions=actions, condition=condition)
        except UpdateError as error:
            if error.cause_response_code != "ConditionalCheckFailedException":
                raise
            return False
    return True
