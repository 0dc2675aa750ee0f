"""Customer accounts: created by the operator with a wallet at zero and a first admin key, or
by a person's confirmed sign-up with a wallet at zero and that person as its owner; read by the
operator with the account's flag and wallet."""

from __future__ import annotations

import hashlib
import secrets
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from tollgate import billing, clock, keys, ledger
from tollgate.errors import NotFound
from tollgate.notifications.preferences import preferences_view
from tollgate.permissions import OWNER
from tollgate.store import identity as identity_store
from tollgate.store import keys as store
from tollgate.store import members as member_store
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
    account = _account_item(account_id, new, now)
    admin_key = keys.build_key(account_id, keys.NewKey(name="admin", role="admin"), now=now)
    store.create_account(account, ledger.new_wallet(account_id, now=now), admin_key.key)
    return CreatedAccount(account=account, admin_key=admin_key)


def create_owned_account(
    person_id: str, new: NewAccount, *, owner_name: str, now: datetime | None = None
) -> tuple[Account, bool]:
    """The account a person's confirmed sign-up makes: wallet at zero, the person its owner,
    no key (the owner makes keys with their session). Its id is derived from the person's, so
    a repeated or concurrent confirmation finds it made (False) instead of making another."""
    now = now or clock.utcnow()
    account_id = signed_up_account_id(person_id)
    account = _account_item(account_id, new, now)
    owner = member_store.member_item(
        account_id, person_id, email=new.email, name=owner_name, role=OWNER, joined_at=now
    )
    made = identity_store.create_signed_up_account(
        account, ledger.new_wallet(account_id, now=now), owner
    )
    return account, made


def signed_up_account_id(person_id: str) -> str:
    return "acct_" + hashlib.sha256(f"signup:{person_id}".encode()).hexdigest()[:24]


def _account_item(account_id: str, new: NewAccount, now: datetime) -> Account:
    return Account(
        account_pk(account_id),
        "PROFILE",
        account_id=account_id,
        email=new.email,
        name=new.name,
        status="active",
        created_at=now,
    )


def account_view(account: Account) -> dict[str, Any]:
    return {
        "id": account.account_id,
        "object": "account",
        "email": account.email,
        "name": account.name,
        "status": account.status,
        "created_at": int(account.created_at.timestamp()),
    }


def profile_view(account: Account) -> dict[str, Any]:
    """The account as its own people see it (``GET /v1/account``): what ``PATCH`` corrects,
    each notification kind with whether it is sent, and the low-balance threshold."""
    notifications = preferences_view(account)
    return {
        **account_view(account),
        "company": account.company,
        "language": account.language,
        "notifications": notifications,
        "low_balance_threshold_usd": notifications["low_balance_threshold_usd"],
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
