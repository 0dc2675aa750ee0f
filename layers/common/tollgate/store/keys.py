"""Accounts and API keys in KeysTable."""

from __future__ import annotations

from datetime import datetime

from pynamodb.transactions import TransactWrite

from tollgate.errors import Conflict
from tollgate.store.connection import connection
from tollgate.store.errors import storage_errors
from tollgate.store.layout import KEY_SK, SECRET_SK, account_pk, key_pk, secret_pk
from tollgate.store.models import Account, AccountEmail, ApiKey, KeySecret, Wallet
from tollgate.store.pagination import decode_cursor, encode_cursor, page_size


def secret_item(key: ApiKey) -> KeySecret:
    """The secret-lookup item that goes with a key record."""
    return KeySecret(
        pk=secret_pk(key.digest),
        sk=SECRET_SK,
        key_id=key.key_id,
        account_id=key.account_id,
        role=key.role,
        status=key.status,
    )


def create_account(account: Account, wallet: Wallet, admin_key: ApiKey) -> None:
    """Write the account, its email guard, its empty wallet and its first key atomically."""
    guard = AccountEmail(
        pk=f"EMAIL#{account.email.lower()}", sk="EMAIL", account_id=account.account_id
    )
    email_taken = Conflict(
        "An account with this email already exists.", code="email_taken", param="email"
    )
    with (
        storage_errors("create_account", conditions={0: email_taken}),
        TransactWrite(connection=connection()) as tx,
    ):
        tx.save(guard, condition=AccountEmail.pk.does_not_exist())
        tx.save(account, condition=Account.pk.does_not_exist())
        tx.save(wallet, condition=Wallet.pk.does_not_exist())
        _save_key(tx, admin_key)


def get_account(account_id: str) -> Account | None:
    return _get(Account, account_pk(account_id), "PROFILE")


def create_key(key: ApiKey) -> None:
    with storage_errors("create_key"), TransactWrite(connection=connection()) as tx:
        _save_key(tx, key)


def _save_key(tx: TransactWrite, key: ApiKey) -> None:
    tx.save(key, condition=ApiKey.pk.does_not_exist())
    tx.save(secret_item(key), condition=KeySecret.pk.does_not_exist())


def find_secret(digest: str) -> KeySecret | None:
    """The key a presented secret belongs to (strongly consistent: revocation is immediate)."""
    return _get(KeySecret, secret_pk(digest), SECRET_SK)


def get_key(key_id: str) -> ApiKey | None:
    return _get(ApiKey, key_pk(key_id), KEY_SK)


def list_keys(
    account_id: str, *, limit: int | None, cursor: str | None
) -> tuple[list[ApiKey], str | None]:
    partition = account_pk(account_id)
    start = decode_cursor(cursor, partition=("gsi1pk", partition))
    with storage_errors("list_keys"):
        results = ApiKey.by_account.query(
            partition,
            ApiKey.gsi1sk.startswith("KEY#"),
            scan_index_forward=False,
            limit=page_size(limit),
            last_evaluated_key=start,
        )
        keys = list(results)
    return keys, encode_cursor(results.last_evaluated_key)


def revoke_key(key: ApiKey, *, at: datetime) -> None:
    """Mark the key and its secret item revoked in one transaction."""
    with storage_errors("revoke_key"), TransactWrite(connection=connection()) as tx:
        tx.update(
            key,
            actions=[ApiKey.status.set("revoked"), ApiKey.revoked_at.set(at)],
            condition=ApiKey.pk.exists(),
        )
        tx.update(
            secret_item(key),
            actions=[KeySecret.status.set("revoked")],
            condition=KeySecret.pk.exists(),
        )
    key.status = "revoked"
    key.revoked_at = at


def _get(model, hash_key: str, range_key: str):
    with storage_errors(f"get_{model.__name__}"):
        try:
            return model.get(hash_key, range_key, consistent_read=True)
        except model.DoesNotExist:
            return None
