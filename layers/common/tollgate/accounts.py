"""Customer accounts: created by the operator with a wallet at zero and a first admin key, and
read by the operator with the account's flag and wallet."""

from __future__ import annotations

import secrets
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from tollgate import billing, clock, keys, ledger
from tollgate.errors import NotFound
from tollgate.store import keys as store
from tollgate.store.layout import account_pk
from tollgate.store.models import Account, Wallet
from tollgate.validation import email_field, reject_unknown_fields, text_field


@dataclass(frozen=True, slots=True)
class NewAccount:
    email: str
    name: str


@dataclass(frozen=True, slots=True)
class CreatedAccount:
    account: Account
    admin_key: keys.CreatedKey


def parse_new_account(body: Mapping[str, Any]) -> NewAccount:
    reject_unknown_fields(body, ("email", "name"))
    return NewAccount(email=email_field(body), name=text_field(body, "name", required=True))


def create_account(new: NewAccount, *, now: datetime | None = None) -> CreatedAccount:
    now = now or clock.utcnow()
    account_id = "acct_" + secrets.token_hex(12)
    account = Account(
        account_pk(account_id),
        "PROFILE",
        account_id=account_id,
        email=new.email,
        name=new.name,
        status="active",
        created_at=now,
    )
    admin_key = keys.build_key(account_id, keys.NewKey(name="admin", role="admin"), now=now)
    store.create_account(account, ledger.new_wallet(account_id, now=now), admin_key.key)
    return CreatedAccount(account=account, admin_key=admin_key)


def account_view(account: Account) -> dict[str, Any]:
    return {
        "id": account.account_id,
        "object": "account",
        "email": account.email,
        "name": account.name,
        "status": account.status,
        "created_at": int(account.created_at.timestamp()),
    }


def get_account(account_id: str) -> Account:
    found = store.get_account(account_id)
    if found is None:
        raise NotFound(f"Account {account_id} does not exist.", code="account_not_found")
    return found


def operator_account_view(account: Account, wallet: Wallet | None) -> dict[str, Any]:
    """What the operator sees of an account: its profile, why to look at it (``flagged``, e.g.
    ``dispute <id>`` while a payment is disputed), the reason and time of its last suspension
    or reinstatement, and its wallet as its owner sees it."""
    changed = account.status_changed_at
    return {
        **account_view(account),
        "flagged": account.flagged,
        "status_reason": account.status_reason,
        "status_changed_at": int(changed.timestamp()) if changed is not None else None,
        "wallet": billing.wallet_view(wallet) if wallet is not None else None,
    }
