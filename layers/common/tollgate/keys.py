"""API keys: creation, listing, revocation and the views the API shows of them.

A secret is ``tg-`` followed by 256 random bits (base64url). Only its SHA-256 digest is stored;
the public key id, the visible prefix and the last four characters identify it afterwards.
"""

from __future__ import annotations

import secrets
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from tollgate import clock
from tollgate.errors import NotFound
from tollgate.secret_keys import SECRET_PREFIX, digest, generate_secret
from tollgate.store import keys as store
from tollgate.store import layout
from tollgate.store.models import ApiKey
from tollgate.validation import choice_field, reject_unknown_fields, text_field

ROLES = ("inference", "admin")
_VISIBLE_PREFIX_LENGTH = len(SECRET_PREFIX) + 4


@dataclass(frozen=True, slots=True)
class NewKey:
    name: str
    role: str


@dataclass(frozen=True, slots=True)
class CreatedKey:
    key: ApiKey
    secret: str


def parse_new_key(body: Mapping[str, Any]) -> NewKey:
    reject_unknown_fields(body, ("name", "role"))
    return NewKey(
        name=text_field(body, "name", max_length=100),
        role=choice_field(body, "role", ROLES, default="inference"),
    )


def build_key(account_id: str, new: NewKey, *, now: datetime) -> CreatedKey:
    """A key record and its secret, not yet stored (account creation stores it in its own
    transaction)."""
    secret = generate_secret()
    key_id = "key_" + secrets.token_hex(12)
    key = ApiKey(
        pk=layout.key_pk(key_id),
        sk=layout.KEY_SK,
        key_id=key_id,
        account_id=account_id,
        role=new.role,
        name=new.name,
        status="active",
        prefix=secret[:_VISIBLE_PREFIX_LENGTH],
        last_four=secret[-4:],
        digest=digest(secret),
        created_at=now,
        gsi1pk=layout.account_pk(account_id),
        gsi1sk=f"KEY#{now.isoformat()}#{key_id}",
    )
    return CreatedKey(key=key, secret=secret)


def create_key(account_id: str, new: NewKey, *, now: datetime | None = None) -> CreatedKey:
    created = build_key(account_id, new, now=now or clock.utcnow())
    store.create_key(created.key)
    return created


def list_keys(account_id: str, *, limit: int | None = None, cursor: str | None = None):
    return store.list_keys(account_id, limit=limit, cursor=cursor)


def revoke_key(account_id: str, key_id: str, *, now: datetime | None = None) -> ApiKey:
    """Revoke one of the account's keys; revoking a revoked key changes nothing."""
    key = store.get_key(key_id)
    if key is None or key.account_id != account_id:
        raise NotFound(f"No API key with id '{key_id}'.", code="key_not_found", param="key_id")
    if key.status != "revoked":
        store.revoke_key(key, at=now or clock.utcnow())
    return key


def key_view(key: ApiKey, *, secret: str | None = None) -> dict[str, Any]:
    """The key as the API shows it; the secret appears only in the creation response."""
    view: dict[str, Any] = {
        "id": key.key_id,
        "object": "api_key",
        "name": key.name,
        "role": key.role,
        "status": key.status,
        "prefix": key.prefix,
        "last_four": key.last_four,
        "redacted_value": f"{key.prefix}...{key.last_four}",
        "created_at": int(key.created_at.timestamp()),
        "revoked_at": int(key.revoked_at.timestamp()) if key.revoked_at else None,
    }
    if secret is not None:
        view["secret"] = secret
    return view
