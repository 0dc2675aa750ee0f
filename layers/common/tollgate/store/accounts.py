"""Account profiles in KeysTable: their status and the operator's list of them.

Every profile is also an entry of the by_account index under the partition ``ACCOUNTS``,
sorted newest first by creation, so listing accounts reads profiles only (never the keys
table's keys, secrets and counters), a page at a time.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime

from pynamodb.exceptions import UpdateError
from pynamodb.expressions.update import Action

from tollgate.errors import Conflict, NotFound
from tollgate.store.errors import get_item, storage_errors
from tollgate.store.layout import ACCOUNT_SK, ACCOUNTS, account_pk, timestamp
from tollgate.store.models import Account, Wallet
from tollgate.store.pagination import decode_cursor, encode_cursor, page_size

# A search reads at most this many profiles for one page; past it the page may be short
# (even empty), and its cursor goes on from where it stopped.
SEARCH_BUDGET = 1000


def index_in_account_list(account: Account) -> None:
    account.gsi1pk = ACCOUNTS
    account.gsi1sk = f"{timestamp(account.created_at)}#{account.account_id}"


def index_unlisted_accounts() -> int:
    """Put the profiles written before the account list existed (without index keys) into
    it; returns how many. A Scan of KeysTable: run once, with the operator's credentials."""
    indexed = 0
    unlisted = (Account.sk == ACCOUNT_SK) & Account.gsi1pk.does_not_exist()
    with storage_errors("index_unlisted_accounts"):
        for account in Account.scan(unlisted, consistent_read=True):
            index_in_account_list(account)
            account.update(
                actions=[Account.gsi1pk.set(account.gsi1pk), Account.gsi1sk.set(account.gsi1sk)],
                condition=Account.pk.exists(),
            )
            indexed += 1
    return indexed


def account_status(account_id: str) -> str | None:
    """The account's status as it stands now (a consistent read of that one attribute); None
    when there is no such account."""
    with storage_errors("account_status"):
        try:
            found = Account.get(
                account_pk(account_id),
                ACCOUNT_SK,
                consistent_read=True,
                attributes_to_get=["status"],
            )
        except Account.DoesNotExist:
            return None
    return found.status


def change_status(account: Account, status: str, *, reason: str, now: datetime) -> None:
    """Move the account from the status it was read with to ``status``, on condition that
    nobody changed it in between (else a Conflict: read it again)."""
    changed = Conflict(
        f"The account's status changed while this request ran; it is no longer "
        f"'{account.status}'. Read it again.",
        code="account_status_changed",
    )
    with storage_errors("change_status"):
        try:
            account.update(
                actions=[
                    Account.status.set(status),
                    Account.status_reason.set(reason),
                    Account.status_changed_at.set(now),
                ],
                condition=Account.pk.exists() & (Account.status == account.status),
            )
        except UpdateError as error:
            if error.cause_response_code == "ConditionalCheckFailedException":
                raise changed from error
            raise


def list_accounts(
    *, limit: int | None, cursor: str | None, wanted: Callable[[Account], bool]
) -> tuple[list[Account], str | None]:
    """A page of the accounts ``wanted`` says yes to, newest first; the cursor goes on from
    the last profile read."""
    size = page_size(limit)
    start = decode_cursor(cursor, partition=("gsi1pk", ACCOUNTS))
    found: list[Account] = []
    with storage_errors("list_accounts"):
        results = Account.by_creation.query(
            ACCOUNTS,
            scan_index_forward=False,
            last_evaluated_key=start,
            page_size=size,
            limit=SEARCH_BUDGET,
        )
        for account in results:
            if wanted(account):
                found.append(account)
                if len(found) == size:
                    break
        last = results.last_evaluated_key
    return found, encode_cursor(last)


def wallets(account_ids: list[str]) -> dict[str, Wallet]:
    """The wallets of these accounts, in one batch read."""
    if not account_ids:
        return {}
    with storage_errors("wallets"):
        found = Wallet.batch_get([(account_pk(a), "WALLET") for a in account_ids])
        return {wallet.account_id: wallet for wallet in found}


def update_profile(account_id: str, actions: list[Action], *, operation: str) -> Account:
    """One conditional update of an existing profile, which it returns as it now is; NotFound
    if there is no such account (the update never creates one)."""
    account = Account(account_pk(account_id), ACCOUNT_SK)
    with storage_errors(operation):
        try:
            account.update(actions=actions, condition=Account.pk.exists())
        except UpdateError as error:
            if error.cause_response_code != "ConditionalCheckFailedException":
                raise
            raise _not_found(account_id) from None
    return account


def read_profile(account_id: str) -> Account:
    """The profile, strongly consistent; NotFound if there is no such account."""
    account = get_item(Account, account_pk(account_id), ACCOUNT_SK)
    if account is None:
        raise _not_found(account_id)
    return account


def _not_found(account_id: str) -> NotFound:
    return NotFound(f"Account {account_id} does not exist.", code="account_not_found")
