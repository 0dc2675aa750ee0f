"""What happens around a change to a key, whoever asks for it (KeysFunction or the console):
the member rules (a developer asks only for inference keys and manages only their own), the
audit event, the owners' mail and the metrics. ``tollgate.keys`` holds the keys themselves."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from tollgate import api, audit, keys, notifications
from tollgate.auth import Principal
from tollgate.observability import metrics
from tollgate.permissions import KEYS_MANAGE
from tollgate.store.models import ApiKey


@dataclass(frozen=True, slots=True)
class Caller:
    """Who acts, and the request the audit trail ties their action to."""

    principal: Principal
    request_id: str | None = None
    source_ip: str | None = None


def only_own(principal: Principal) -> str | None:
    """Whose keys the caller may change: anyone's (None) or only their own."""
    return None if principal.may(KEYS_MANAGE) else principal.person_id


def create(caller: Caller, body: Mapping[str, Any]) -> dict[str, Any]:
    """A new key from an API body; its view, with the secret shown this once."""
    who = caller.principal
    new = keys.parse_new_key(body)
    if who.person_id:
        new = keys.for_member(new, who.person_id, any_role=who.may(KEYS_MANAGE))
    created = keys.create_key(who.account_id, new)
    view = keys.key_view(created.key, secret=created.secret)
    _record(
        caller, "key.created", created.key.key_id, keys.audited_changes(api.created_fields(view))
    )
    _notify(who, "key_created", created.key, role=created.key.role)
    metrics.add_metric(name="KeysCreated", unit="Count", value=1)
    return view


def update(caller: Caller, key_id: str, body: Mapping[str, Any]) -> dict[str, Any]:
    """Change a key's name or policy; its view as it now stands."""
    who = caller.principal
    key, changes = keys.update_key(who.account_id, key_id, body, created_by=only_own(who))
    if changes:
        _record(caller, "key.updated", key_id, keys.audited_changes(changes))
    (view,) = keys.key_views([key])
    return view


def rotate(caller: Caller, key_id: str, body: Mapping[str, Any]) -> dict[str, Any]:
    """A new secret for the key (shown this once); the old one works for the grace asked."""
    who = caller.principal
    rotated = keys.rotate_key(who.account_id, key_id, body, created_by=only_own(who))
    grace = body.get("grace_seconds", 0)
    _record(caller, "key.rotated", key_id, {"grace_seconds": (None, grace)})
    _notify(who, "key_rotated", rotated.key, grace_until=_grace_end(rotated.key, grace))
    return keys.key_view(rotated.key, secret=rotated.secret)


def revoke(caller: Caller, key_id: str) -> dict[str, Any]:
    who = caller.principal
    revoked = keys.revoke_key(who.account_id, key_id, created_by=only_own(who))
    _record(caller, "key.revoked", key_id, {"status": ("active", "revoked")})
    _notify(who, "key_revoked", revoked)
    metrics.add_metric(name="KeysRevoked", unit="Count", value=1)
    return keys.key_view(revoked)


def _record(caller: Caller, action: str, key_id: str, changes=None) -> None:
    audit.record(
        caller.principal.account_id,
        actor=caller.principal.actor,
        action=action,
        target=f"key:{key_id}",
        request_id=caller.request_id,
        source_ip=caller.source_ip,
        changes=changes,
    )


def _notify(who: Principal, kind: str, key: ApiKey, **extra: Any) -> None:
    """Mail the account's owners about a key: its id, name and who acted, never its secret."""
    context = {"key_id": key.key_id, "key_name": key.name, "actor": who.actor}
    notifications.send(kind, who.account_id, context={**context, **extra})


def _grace_end(key: ApiKey, seconds: Any) -> str | None:
    """When the rotated-out secret stops working, for the mail (None: at once)."""
    if not seconds or key.rotated_at is None:
        return None
    return f"{key.rotated_at + timedelta(seconds=seconds):%Y-%m-%d %H:%M} UTC"
