"""API keys: creation, listing, reading, changing, rotation, revocation and their views.

A secret is ``tg-`` followed by 256 random bits (base64url). Only its SHA-256 digest is stored;
the public key id, the visible prefix and the last four characters identify it afterwards.
What a key may do is its policy (``tollgate.key_policy``). The key record alone holds its
status, role and policy; each secret item only says which key it opens and, once rotated out,
when it stops. So a change, a revocation or an expiry applies to every secret of the key.
"""

from __future__ import annotations

import secrets
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from typing import Any

from tollgate import clock
from tollgate.catalog import aliases_of
from tollgate.errors import BadRequest, Conflict, Forbidden, NotFound
from tollgate.key_policy import (
    POLICY_FIELDS,
    KeyPolicy,
    SpendCap,
    parse_policy,
    policy_view,
    spend_period,
)
from tollgate.money import format_usd
from tollgate.secret_keys import SECRET_PREFIX, digest, generate_secret
from tollgate.settings import get_settings
from tollgate.store import keys as store
from tollgate.store import layout
from tollgate.store.models import ApiKey
from tollgate.validation import choice_field, reject_unknown_fields, text_field

ROLES = ("inference", "admin")
STATUSES = ("active", "revoked", "expired")
MAX_GRACE = timedelta(hours=24)
_VISIBLE_PREFIX_LENGTH = len(SECRET_PREFIX) + 4


@dataclass(frozen=True, slots=True)
class NewKey:
    name: str
    role: str
    policy: KeyPolicy = field(default_factory=KeyPolicy)
    created_by: str | None = None  # the member who asked for it


@dataclass(frozen=True, slots=True)
class CreatedKey:
    key: ApiKey
    secret: str


def parse_new_key(body: Mapping[str, Any], *, now: datetime | None = None) -> NewKey:
    reject_unknown_fields(body, ("name", "role", *POLICY_FIELDS))
    return NewKey(
        name=text_field(body, "name", max_length=100),
        role=choice_field(body, "role", ROLES, default="inference"),
        policy=parse_policy(
            body, KeyPolicy(), now=now or clock.utcnow(), aliases=_model_aliases(body)
        ),
    )


def _model_aliases(body: Mapping[str, Any]) -> Mapping[str, str]:
    """The catalog's aliases, for a body that names models."""
    return aliases_of(get_settings().catalog_path) if body.get("allowed_models") else {}


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
        created_by=new.created_by,
        gsi1pk=layout.account_pk(account_id),
        gsi1sk=f"KEY#{now.isoformat()}#{key_id}",
        **_policy_attributes(new.policy),
    )
    return CreatedKey(key=key, secret=secret)


def create_key(account_id: str, new: NewKey, *, now: datetime | None = None) -> CreatedKey:
    created = build_key(account_id, new, now=now or clock.utcnow())
    store.create_key(created.key)
    return created


def get_key(account_id: str, key_id: str, *, created_by: str | None = None) -> ApiKey:
    """One of the account's keys; with ``created_by``, only one that member created (a
    developer manages only their own keys)."""
    key = store.get_key(key_id)
    if key is None or key.account_id != account_id:
        raise NotFound(f"No API key with id '{key_id}'.", code="key_not_found", param="key_id")
    if created_by is not None and key.created_by != created_by:
        raise Forbidden(
            "Your role manages only the inference keys you created.", code="not_your_key"
        )
    return key


def for_member(new: NewKey, person_id: str, *, any_role: bool) -> NewKey:
    """A key a member asks for, marked as theirs; without ``any_role`` only an inference key."""
    if not any_role and new.role != "inference":
        raise Forbidden("Your role may create only inference keys.", code="inference_keys_only")
    return replace(new, created_by=person_id)


def list_keys(
    account_id: str,
    *,
    limit: int | None = None,
    cursor: str | None = None,
    role: str | None = None,
    environment: str | None = None,
    status: str | None = None,
    now: datetime | None = None,
) -> tuple[list[ApiKey], str | None]:
    if role is not None and role not in ROLES:
        raise BadRequest(f"'role' must be one of: {', '.join(ROLES)}.", param="role")
    if status is not None and status not in STATUSES:
        raise BadRequest(f"'status' must be one of: {', '.join(STATUSES)}.", param="status")
    return store.list_keys(
        account_id,
        limit=limit,
        cursor=cursor,
        role=role,
        environment=environment,
        status=status,
        now=now or clock.utcnow(),
    )


# A key's name and tags are the customer's own words, often a person's ("Ada's laptop"): the
# audit trail, kept after the account is deleted and never rewritten, records that they were
# set or changed, not what they say.
FREE_TEXT = ("name", "tags")
NOT_RECORDED = "<not recorded>"


def audited_changes(changes: Mapping[str, tuple[Any, Any]]) -> dict[str, tuple[Any, Any]]:
    """Audit changes with the free-text fields' words left out."""

    def hidden(value: Any) -> Any:
        return NOT_RECORDED if value else value

    return {
        name: (hidden(before), hidden(after)) if name in FREE_TEXT else (before, after)
        for name, (before, after) in changes.items()
    }


def update_key(
    account_id: str,
    key_id: str,
    body: Mapping[str, Any],
    *,
    created_by: str | None = None,
    now: datetime | None = None,
) -> tuple[ApiKey, dict[str, tuple[Any, Any]]]:
    """Change a key's name or policy; returns the key and the changed fields (before, after)."""
    now = now or clock.utcnow()
    reject_unknown_fields(body, ("name", *POLICY_FIELDS))
    if not body:
        raise BadRequest("Nothing to change: send 'name' or policy fields.")
    key = get_key(account_id, key_id, created_by=created_by)
    if key.status != "active":
        raise Conflict("A revoked key cannot be changed.", code="key_revoked")
    before = _policy_attributes(policy_of(key)) | {"name": key.name}
    policy = parse_policy(body, policy_of(key), now=now, aliases=_model_aliases(body))
    after = _policy_attributes(policy)
    after["name"] = text_field(body, "name", max_length=100) if "name" in body else key.name
    changes = {name: value for name, value in after.items() if before.get(name) != value}
    if changes:
        store.update_key(key, changes)  # re-reads the key as it now stands
    return key, {name: (before.get(name), value) for name, value in changes.items()}


def rotate_key(
    account_id: str,
    key_id: str,
    body: Mapping[str, Any],
    *,
    created_by: str | None = None,
    now: datetime | None = None,
) -> CreatedKey:
    """A new secret under the same key id; the old one keeps working for ``grace_seconds``
    (at most 24 hours; 0 or absent: it stops at once)."""
    now = now or clock.utcnow()
    reject_unknown_fields(body, ("grace_seconds",))
    grace = body.get("grace_seconds", 0)
    if isinstance(grace, bool) or not isinstance(grace, int) or grace < 0:
        raise BadRequest(
            "'grace_seconds' must be a whole number of seconds.", param="grace_seconds"
        )
    if grace > MAX_GRACE.total_seconds():  # before timedelta(), which overflows
        raise BadRequest("'grace_seconds' may be at most 86400 (24 hours).", param="grace_seconds")
    key = get_key(account_id, key_id, created_by=created_by)
    if key.status != "active":
        raise Conflict("A revoked key cannot be rotated.", code="key_revoked")
    secret = generate_secret()
    store.rotate_key(
        key,
        digest=digest(secret),
        prefix=secret[:_VISIBLE_PREFIX_LENGTH],
        last_four=secret[-4:],
        grace_until=now + timedelta(seconds=grace) if grace else None,
        now=now,
    )
    return CreatedKey(key=key, secret=secret)


def revoke_key(
    account_id: str, key_id: str, *, created_by: str | None = None, now: datetime | None = None
) -> ApiKey:
    """Revoke one of the account's keys, and so every secret it ever had; revoking a revoked
    key changes nothing."""
    now = now or clock.utcnow()
    key = get_key(account_id, key_id, created_by=created_by)
    if key.status != "revoked":
        store.update_key(key, {"status": "revoked", "revoked_at": now})
    return key


def policy_of(key: Any) -> KeyPolicy:
    """The policy held on a key record."""
    cap = (
        SpendCap(int(key.spend_cap), key.spend_cap_period)
        if key.spend_cap is not None and key.spend_cap_period
        else None
    )
    return KeyPolicy(
        environment=key.environment or "",
        allowed_models=tuple(key.allowed_models) if key.allowed_models else None,
        allowed_endpoints=tuple(key.allowed_endpoints) if key.allowed_endpoints else None,
        allowed_cidrs=tuple(key.allowed_cidrs) if key.allowed_cidrs else None,
        expires_at=key.expires_at,
        spend_cap=cap,
        rpm=int(key.rpm) if key.rpm is not None else None,
        tpm=int(key.tpm) if key.tpm is not None else None,
        tags=dict(getattr(key, "tags", None) or {}),
        allowed_origins=tuple(key.allowed_origins) if key.allowed_origins else None,
        require_no_training=bool(key.require_no_training),
    )


def _policy_attributes(policy: KeyPolicy) -> dict[str, Any]:
    return {
        "environment": policy.environment,
        "allowed_models": list(policy.allowed_models) if policy.allowed_models else None,
        "allowed_endpoints": list(policy.allowed_endpoints) if policy.allowed_endpoints else None,
        "allowed_cidrs": list(policy.allowed_cidrs) if policy.allowed_cidrs else None,
        "expires_at": policy.expires_at,
        "spend_cap": policy.spend_cap.amount if policy.spend_cap else None,
        "spend_cap_period": policy.spend_cap.period if policy.spend_cap else None,
        "rpm": policy.rpm,
        "tpm": policy.tpm,
        "tags": dict(policy.tags) or None,
        "allowed_origins": list(policy.allowed_origins) if policy.allowed_origins else None,
        "require_no_training": policy.require_no_training or None,
    }


def key_views(keys: list[ApiKey], *, now: datetime | None = None) -> list[dict[str, Any]]:
    """Keys as the API lists them, with their spend in the current cap period (one batch
    read for all the capped keys)."""
    now = now or clock.utcnow()
    periods = {
        key.key_id: spend_period(policy.spend_cap, now)
        for key in keys
        if (policy := policy_of(key)).spend_cap
    }
    spent = store.spend_counters(list(periods.items()))
    return [
        key_view(key, now=now, period_spend=spent.get((key.key_id, periods.get(key.key_id, ""))))
        for key in keys
    ]


def key_view(
    key: ApiKey,
    *,
    secret: str | None = None,
    now: datetime | None = None,
    period_spend: int | None = None,
) -> dict[str, Any]:
    """The key as the API shows it; the secret appears only when created or rotated."""
    now = now or clock.utcnow()
    policy = policy_of(key)
    status = key.status
    if status == "active" and policy.expires_at is not None and policy.expires_at <= now:
        status = "expired"
    view: dict[str, Any] = {
        "id": key.key_id,
        "object": "api_key",
        "name": key.name,
        "role": key.role,
        "status": status,
        "prefix": key.prefix,
        "last_four": key.last_four,
        "redacted_value": f"{key.prefix}...{key.last_four}",
        "created_at": _unix(key.created_at),
        "last_used_at": _unix(key.last_used_at),
        "rotated_at": _unix(key.rotated_at),
        "revoked_at": _unix(key.revoked_at),
        "spend_usd": format_usd(int(key.spend or 0)),
        **policy_view(policy),
    }
    if policy.spend_cap is not None:
        view["spend_cap"]["current_period"] = spend_period(policy.spend_cap, now)
        view["spend_cap"]["spent_usd"] = format_usd(period_spend or 0)
    if secret is not None:
        view["secret"] = secret
    return view


def _unix(moment: datetime | None) -> int | None:
    return int(moment.timestamp()) if moment else None
