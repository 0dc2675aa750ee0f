"""Accounts and API keys in KeysTable."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from pynamodb.transactions import TransactWrite

from tollgate.errors import Conflict
from tollgate.store.accounts import index_in_account_list
from tollgate.store.connection import connection
from tollgate.store.errors import get_item, storage_errors
from tollgate.store.layout import (
    KEY_SK,
    SECRET_SK,
    account_pk,
    key_pk,
    origin_pk,
    secret_pk,
)
from tollgate.store.models import (
    Account,
    AccountEmail,
    ApiKey,
    KeyOrigin,
    KeySecret,
    SpendCounter,
    Wallet,
)
from tollgate.store.pagination import decode_cursor, encode_cursor, page_size


def secret_item(key: ApiKey) -> KeySecret:
    """The lookup item of a key's current secret: which key it opens, nothing more."""
    return KeySecret(
        pk=secret_pk(key.digest), sk=SECRET_SK, key_id=key.key_id, account_id=key.account_id
    )


def create_account(account: Account, wallet: Wallet, admin_key: ApiKey) -> None:
    """Write the account, its email guard, its empty wallet and its first key atomically."""
    guard = AccountEmail(
        pk=f"EMAIL#{account.email.lower()}", sk="EMAIL", account_id=account.account_id
    )
    email_taken = Conflict(
        "An account with this email already exists.", code="email_taken", param="email"
    )
    index_in_account_list(account)
    with (
        storage_errors("create_account", conditions={0: email_taken}),
        TransactWrite(connection=connection()) as tx,
    ):
        tx.save(guard, condition=AccountEmail.pk.does_not_exist())
        tx.save(account, condition=Account.pk.does_not_exist())
        tx.save(wallet, condition=Wallet.pk.does_not_exist())
        _save_key(tx, admin_key)


def get_account(account_id: str) -> Account | None:
    return get_item(Account, account_pk(account_id), "PROFILE")


def create_key(key: ApiKey) -> None:
    with storage_errors("create_key"), TransactWrite(connection=connection()) as tx:
        _save_key(tx, key)


def _save_key(tx: TransactWrite, key: ApiKey) -> None:
    tx.save(key, condition=ApiKey.pk.does_not_exist())
    tx.save(secret_item(key), condition=KeySecret.pk.does_not_exist())
    for item in origin_index(key.key_id, key.account_id, _indexed(key, {})):
        tx.save(item)


def origin_index(key_id: str, account_id: str, origins: dict[str, Any]) -> list[KeyOrigin]:
    """The origin index items of a key (``origins``: origin -> the key's expiry)."""
    return [
        KeyOrigin(
            pk=origin_pk(origin),
            sk=key_pk(key_id),
            key_id=key_id,
            account_id=account_id,
            ttl=expires,
        )
        for origin, expires in origins.items()
    ]


def _indexed(key: ApiKey, changes: dict[str, Any]) -> dict[str, Any]:
    """The origins the key allows once ``changes`` apply, each with the key's expiry: none
    unless the key is active."""
    after = {name: getattr(key, name) for name in ("status", "allowed_origins", "expires_at")}
    after.update(changes)
    if after["status"] != "active":
        return {}
    return {origin: after["expires_at"] for origin in after["allowed_origins"] or ()}


def find_secret(digest: str) -> KeySecret | None:
    """The key a presented secret belongs to (strongly consistent: revocation is immediate)."""
    return get_item(KeySecret, secret_pk(digest), SECRET_SK)


def get_key(key_id: str) -> ApiKey | None:
    return get_item(ApiKey, key_pk(key_id), KEY_SK)


def list_keys(
    account_id: str,
    *,
    limit: int | None,
    cursor: str | None,
    role: str | None = None,
    environment: str | None = None,
    status: str | None = None,
    now: datetime,
) -> tuple[list[ApiKey], str | None]:
    partition = account_pk(account_id)
    start = decode_cursor(cursor, partition=("gsi1pk", partition))
    conditions = []
    if role is not None:
        conditions.append(ApiKey.role == role)
    if environment is not None:
        conditions.append(ApiKey.environment == environment)
    if status == "expired":
        conditions.append((ApiKey.status == "active") & (ApiKey.expires_at <= now))
    elif status == "active":
        conditions.append(
            (ApiKey.status == "active")
            & (ApiKey.expires_at.does_not_exist() | (ApiKey.expires_at > now))
        )
    elif status is not None:
        conditions.append(ApiKey.status == status)
    condition = None
    for part in conditions:
        condition = part if condition is None else condition & part
    with storage_errors("list_keys"):
        results = ApiKey.by_account.query(
            partition,
            ApiKey.gsi1sk.startswith("KEY#"),
            filter_condition=condition,
            scan_index_forward=False,
            limit=page_size(limit),
            last_evaluated_key=start,
        )
        keys = list(results)
    return keys, encode_cursor(results.last_evaluated_key)


def update_key(key: ApiKey, changes: dict[str, Any]) -> None:
    """Set (or, for None, remove) attributes of the key record and bump its revision; ``key``
    is refreshed from the stored result. Every secret of the key reads this one record, so
    the change applies to all of them."""
    actions = [*_actions(ApiKey, changes), ApiKey.revision.add(1)]
    before, after = _indexed(key, {}), _indexed(key, changes)
    if before == after:
        with storage_errors("update_key"):
            key.update(actions=actions, condition=ApiKey.pk.exists())
        return
    _update_key_and_origins(key, actions, before, after)


def _update_key_and_origins(
    key: ApiKey, actions: list, before: dict[str, Any], after: dict[str, Any]
) -> None:
    """The key record and its origin index items in one transaction, on condition that the
    key is unchanged since it was read (so ``before`` is what the index holds)."""
    revised = Conflict("The key was changed at the same moment; try again.", code="key_changed")
    removed = before.keys() - after.keys()
    items = len(after) + len(removed) + 1  # only the key's update has a condition
    with (
        storage_errors("update_key", conditions=dict.fromkeys(range(items), revised)),
        TransactWrite(connection=connection()) as tx,
    ):
        for item in origin_index(key.key_id, key.account_id, after):
            tx.save(item)
        for origin in removed:
            tx.delete(KeyOrigin(origin_pk(origin), key_pk(key.key_id)))
        tx.update(key, actions=actions, condition=ApiKey.pk.exists() & _unchanged(key))
    key.refresh(consistent_read=True)


def _actions(model: type, changes: dict[str, Any]) -> list:
    return [
        getattr(model, name).remove() if value is None else getattr(model, name).set(value)
        for name, value in changes.items()
    ]


def rotate_key(
    key: ApiKey,
    *,
    digest: str,
    prefix: str,
    last_four: str,
    grace_until: datetime | None,
    now: datetime,
) -> None:
    """A new secret for the same key id; the old secret works until ``grace_until`` (or stops
    at once). One transaction, on condition that the key is still active and unchanged since
    it was read; older secrets keep the end they were given."""
    old = key.digest
    ends = grace_until or now
    revised = Conflict(
        "The key was changed or revoked while it was being rotated.", code="key_changed"
    )
    with (  # PynamoDB sends puts before updates: the new secret is item 0, the key item 1
        storage_errors("rotate_key", conditions={1: revised}),
        TransactWrite(connection=connection()) as tx,
    ):
        tx.update(
            key,
            actions=[
                ApiKey.digest.set(digest),
                ApiKey.prefix.set(prefix),
                ApiKey.last_four.set(last_four),
                ApiKey.rotated_at.set(now),
                ApiKey.revision.add(1),
            ],
            condition=ApiKey.pk.exists() & (ApiKey.status == "active") & _unchanged(key),
        )
        tx.save(
            KeySecret(
                pk=secret_pk(digest), sk=SECRET_SK, key_id=key.key_id, account_id=key.account_id
            ),
            condition=KeySecret.pk.does_not_exist(),
        )
        tx.update(
            KeySecret(secret_pk(old), SECRET_SK),
            actions=[KeySecret.grace_until.set(ends), KeySecret.ttl.set(ends + timedelta(days=1))],
            condition=KeySecret.pk.exists(),
        )
    key.digest, key.prefix, key.last_four, key.rotated_at = digest, prefix, last_four, now
    key.revision = int(key.revision or 0) + 1


def _unchanged(key: ApiKey) -> Any:
    """The key record still has the revision ``key`` was read at (a key written before
    revisions existed has none: 0)."""
    if key.revision:
        return ApiKey.revision == key.revision
    return ApiKey.revision.does_not_exist() | (ApiKey.revision == 0)


def spend_counters(keys_and_periods: list[tuple[str, str]]) -> dict[tuple[str, str], int]:
    """What each (key id, period) pair has spent so far, in one batch read."""
    if not keys_and_periods:
        return {}
    wanted = [(key_pk(key_id), f"SPEND#{period}") for key_id, period in keys_and_periods]
    with storage_errors("spend_counters"):
        found = {(c.pk, c.sk): c.spent for c in SpendCounter.batch_get(wanted)}
    return {
        pair: int(found.get((key_pk(pair[0]), f"SPEND#{pair[1]}"), 0)) for pair in keys_and_periods
    }
