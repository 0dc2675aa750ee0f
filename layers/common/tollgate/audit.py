"""The audit trail: every administrative action appends one event to its account's chain.

Events live in AuditTable (``tollgate.store.audit``) under pk ``ACCOUNT#<account id>`` and sk
``EVENT#<sequence zero-padded to 12 digits>``; the first event of an account has sequence 1.
They are never updated or deleted by the code (IAM allows only a conditional PutItem and
Query) and expire 90 days after ``created_at`` (the ``ttl`` attribute).

Each event carries ``previous_digest``, the ``digest`` of the account's previous event (64
zeros for sequence 1), and ``previous_created_at``, that event's ``created_at`` (absent for
sequence 1). An altered event no longer matches its digest; a deleted one leaves a gap in the
sequences, or a ``previous_digest`` that matches nothing. A gap is expected where events
expired: the event after it says when its predecessor was written, and if that is more than 90
days ago, everything before it has expired by design.

The digest, so an operator can re-verify an item with any tool:

    digest = lowercase hex SHA-256 of the UTF-8 bytes of the canonical JSON document

The canonical document is a JSON object with exactly these twelve keys, in sorted order,
written without any whitespace (separators ``,`` and ``:``), non-ASCII characters as UTF-8
(not ``\\u`` escapes), the way ``json.dumps(doc, sort_keys=True, separators=(",", ":"),
ensure_ascii=False)`` or ``jq -cS`` print it:

    account_id           string
    action               string, e.g. "key.created"
    actor                string, e.g. "operator", "key:key_..."
    changes              the stored JSON value of ``changes`` parsed (its object keys sorted
                         too), or null when the item has no ``changes``
    created_at           string, exactly as stored: "YYYY-MM-DDTHH:MM:SS.ffffff+0000" (UTC)
    previous_created_at  string in the same form, or null for sequence 1
    previous_digest      string, 64 hex characters
    request_id           string, or null when absent
    sequence             integer
    source_ip            string, or null when absent
    target               string, e.g. "key:key_...", "account:acct_..."
    ttl                  integer, Unix seconds (created_at + 90 days, truncated)

An attribute missing from the item is null in the document; ``pk``, ``sk`` and ``digest``
are not part of it (the verifier checks that pk and sk agree with account_id and sequence).
For example, from the AWS CLI's output of a Query on the account's partition (each line
printed by jq, hashed with ``printf %s "$line" | sha256sum``, must equal that item's digest):

    jq -cS '.Items[] | {account_id: .account_id.S, action: .action.S, actor: .actor.S,
      changes: (if .changes then .changes.S | fromjson else null end),
      created_at: .created_at.S, previous_created_at: .previous_created_at.S,
      previous_digest: .previous_digest.S, request_id: .request_id.S,
      sequence: (.sequence.N | tonumber), source_ip: .source_ip.S, target: .target.S,
      ttl: (.ttl.N | tonumber)}'

The chain alone proves nothing against someone who can write the table: SHA-256 is public,
so an edited event with its digest recomputed, and the events after it re-linked, form a valid
chain, and deleting the newest events leaves no trace. Two things close that:

- ``mac``: hex HMAC-SHA256 of the same canonical JSON, keyed by the audit key (the UTF-8
  bytes of the first comma-separated entry of the ``AuditKeySecret``; older entries still
  verify after a rotation). Only the functions that write events, the checkpoint job and the
  operator can read it: ``printf %s "$line" | openssl dgst -sha256 -hmac "$KEY"``. Events
  written before signing began carry none; an unsigned event after a signed one is an error.
- checkpoints: every hour the checkpoint job writes each account's new head (sequence,
  digest, its ``created_at``, the time of the checkpoint) as signed JSON to
  ``checkpoints/<account>/<sequence>.json`` in a bucket whose Object Lock locks every version
  longer than the events live (``tollgate.store.audit_checkpoints``). A checkpointed event
  whose digest changed, or a chain that ends before its newest checkpoint (unless that event
  expired), is an error.

Someone who holds the key (a writer's role) can still append forged events, or rewrite or
delete those written since the last checkpoint; nothing before it (docs/architecture.md).
"""

from __future__ import annotations

import calendar
import dataclasses
import enum
import hashlib
import hmac
import json
import random
import time
from collections.abc import Iterable, Mapping
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import TYPE_CHECKING, Any

from tollgate import clock
from tollgate import secrets as tollgate_secrets
from tollgate.errors import BadRequest, Conflict
from tollgate.secret_keys import SECRET_PREFIX
from tollgate.settings import Settings, get_settings
from tollgate.store import audit as store
from tollgate.store import audit_checkpoints as checkpoint_store
from tollgate.store.keys import get_account
from tollgate.store.layout import account_pk, parse_timestamp, timestamp
from tollgate.store.models import AuditEvent

if TYPE_CHECKING:
    from tollgate.auth import Principal

GENESIS_DIGEST = "0" * 64
RETENTION = timedelta(days=90)
# Between attempts: a random pause up to 10 ms, doubling each time, at most 200 ms: 20
# attempts wait 1.7 s on average (3.3 s at most) for writers of the same account to pass; 12
# once starved a writer behind seven others on a loaded 2-core machine.
MAX_ATTEMPTS = 20
_BACKOFF_SECONDS, _MAX_BACKOFF_SECONDS = 0.01, 0.2
OPERATOR_ACTOR = "operator"

# Field names never recorded in ``changes``, whatever the caller passes.
_SENSITIVE_NAMES = ("secret", "digest", "password")
# A string this long starting with the key prefix is a key secret, never recorded either.
_MIN_SECRET_LENGTH = 40

Change = tuple[Any, Any] | Mapping[str, Any]


@dataclasses.dataclass(frozen=True, slots=True)
class ChainReport:
    """What the verifier found walking an account's chain, oldest event first."""

    account_id: str
    ok: bool
    events: int
    first_sequence: int | None
    last_sequence: int | None
    last_digest: str | None
    problems: list[str]
    notes: list[str]

    def as_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


# ------------------------------------------------------------------------------ writing


def record(
    account_id: str,
    *,
    actor: str,
    action: str,
    target: str,
    request_id: str | None = None,
    source_ip: str | None = None,
    changes: Mapping[str, Change] | None = None,
    now: datetime | None = None,
    settings: Settings | None = None,
) -> AuditEvent:
    """Append the next event to the account's chain, signed with the audit key, and return it.

    ``changes`` maps a field to ``(before, after)`` or ``{"before": ..., "after": ...}``;
    fields named like a secret or a digest, secret-looking values and unchanged fields are
    left out. A concurrent writer that takes the same sequence first makes this re-read the
    chain's head and try again; after MAX_ATTEMPTS it gives up with a Conflict.
    """
    for name, value in (("actor", actor), ("action", action), ("target", target)):
        if not isinstance(value, str) or not value:
            raise ValueError(f"an audit event needs a non-empty {name}")
    recorded = normalize_changes(changes)
    signing_key = tollgate_secrets.audit_keys(settings or get_settings())[0]
    for attempt in range(MAX_ATTEMPTS):
        event = build_event(
            account_id,
            previous=store.latest_event(account_id),
            actor=actor,
            action=action,
            target=target,
            request_id=request_id,
            source_ip=source_ip,
            changes=recorded,
            now=now or clock.utcnow(),
            signing_key=signing_key,
        )
        if store.append_event(event):
            return event
        time.sleep(random.uniform(0, min(_MAX_BACKOFF_SECONDS, _BACKOFF_SECONDS * 2**attempt)))
    raise Conflict(
        "The audit trail is busy; the action was not recorded. Try again.",
        code="audit_contention",
    )


@dataclasses.dataclass(frozen=True, slots=True)
class Origin:
    """The request behind a change, as the audit trail records it."""

    request_id: str | None = None
    source_ip: str | None = None

    def record(
        self, caller: Principal, account_id: str, action: str, target: str, changes: Any = None
    ) -> None:
        # people are named by id, never by email or name: the trail outlives a deleted account
        record(
            account_id,
            actor=caller.actor,
            action=action,
            target=target,
            request_id=self.request_id,
            source_ip=self.source_ip,
            changes=changes,
        )


def build_event(
    account_id: str,
    *,
    previous: AuditEvent | None,
    actor: str,
    action: str,
    target: str,
    request_id: str | None = None,
    source_ip: str | None = None,
    changes: dict[str, Any] | None = None,
    now: datetime,
    signing_key: bytes | None = None,
) -> AuditEvent:
    """The event that follows ``previous`` (None: the account's first), digest and (given a
    key) HMAC included; not stored. ``changes`` must already be normalized."""
    created_at = now if now.tzinfo else now.replace(tzinfo=UTC)
    sequence = int(previous.sequence) + 1 if previous else 1
    event = AuditEvent(
        account_pk(account_id),
        store.event_sk(sequence),
        account_id=account_id,
        sequence=sequence,
        actor=actor,
        action=action,
        target=target,
        request_id=request_id,
        source_ip=source_ip,
        changes=changes or None,
        previous_digest=previous.digest if previous else GENESIS_DIGEST,
        previous_created_at=previous.created_at if previous else None,
        created_at=created_at,
        ttl=created_at + RETENTION,
    )
    event.digest = event_digest(event)
    if signing_key is not None:
        event.mac = event_mac(event, signing_key)
    return event


def normalize_changes(changes: Mapping[str, Change] | None) -> dict[str, Any] | None:
    """``{field: {"before": x, "after": y}}`` with plain JSON values, or None if nothing
    changed; never a secret, a digest or key material."""
    if not changes:
        return None
    result: dict[str, Any] = {}
    for field, change in changes.items():
        if isinstance(change, tuple) and len(change) == 2:
            before, after = change
        elif isinstance(change, Mapping) and set(change) <= {"before", "after"}:
            before, after = change.get("before"), change.get("after")
        else:
            raise ValueError(f"change of {field!r} must be (before, after) or before/after")
        if _sensitive_name(field):
            continue
        before, after = _plain(before), _plain(after)
        if before == after or _holds_secret(before) or _holds_secret(after):
            continue
        result[str(field)] = {"before": before, "after": after}
    return result or None


def _sensitive_name(name: Any) -> bool:
    lowered = str(name).lower()
    return any(word in lowered for word in _SENSITIVE_NAMES)


def _holds_secret(value: Any) -> bool:
    if isinstance(value, str):
        return value.startswith(SECRET_PREFIX) and len(value) >= _MIN_SECRET_LENGTH
    if isinstance(value, list):
        return any(_holds_secret(item) for item in value)
    if isinstance(value, dict):
        return any(_holds_secret(item) for item in value.values())
    return False


def _plain(value: Any) -> Any:
    """A JSON value (nested sensitive names dropped) that reads back exactly as written."""
    if value is None or isinstance(value, bool | int | str):
        return value
    if isinstance(value, float):
        return int(value) if value.is_integer() else value
    if isinstance(value, datetime):
        return (value if value.tzinfo else value.replace(tzinfo=UTC)).astimezone(UTC).isoformat()
    if isinstance(value, enum.Enum):
        return _plain(value.value)
    if isinstance(value, Decimal):
        return int(value) if value == value.to_integral_value() else str(value)
    if isinstance(value, Mapping):
        return {str(k): _plain(v) for k, v in value.items() if not _sensitive_name(k)}
    if isinstance(value, set | frozenset):
        return sorted((_plain(item) for item in value), key=lambda item: json.dumps(item))
    if isinstance(value, list | tuple):
        return [_plain(item) for item in value]
    return str(value)


# ------------------------------------------------------------------------------ the digest


def canonical_document(event: AuditEvent) -> dict[str, Any]:
    """Every field the digest covers, as the module docstring describes them."""
    return {
        "account_id": event.account_id,
        "action": event.action,
        "actor": event.actor,
        "changes": event.changes,
        "created_at": timestamp(event.created_at),
        "previous_created_at": (
            timestamp(event.previous_created_at) if event.previous_created_at else None
        ),
        "previous_digest": event.previous_digest,
        "request_id": event.request_id,
        "sequence": int(event.sequence),
        "source_ip": event.source_ip,
        "target": event.target,
        "ttl": calendar.timegm(event.ttl.utctimetuple()),
    }


def canonical_json(event: AuditEvent) -> bytes:
    document = canonical_document(event)
    return json.dumps(
        document, sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False
    ).encode("utf-8")


def event_digest(event: AuditEvent) -> str:
    return hashlib.sha256(canonical_json(event)).hexdigest()


def event_mac(event: AuditEvent, key: bytes) -> str:
    """Hex HMAC-SHA256 of the same canonical JSON, keyed by the audit key."""
    return hmac.new(key, canonical_json(event), hashlib.sha256).hexdigest()


def _signed_by(mac: str | None, message: bytes, keys: Iterable[bytes]) -> bool:
    return mac is not None and any(
        hmac.compare_digest(mac, hmac.new(key, message, hashlib.sha256).hexdigest()) for key in keys
    )


# ------------------------------------------------------------------------------ reading


def list_events(
    account_id: str,
    *,
    limit: int | None = None,
    cursor: str | None = None,
    action: str | None = None,
    actor: str | None = None,
    target: str | None = None,
    since: datetime | None = None,
    until: datetime | None = None,
    now: datetime | None = None,
) -> tuple[list[AuditEvent], str | None]:
    """The account's events, newest first, filtered; expired events are never shown."""
    if since is not None and until is not None and since > until:
        raise BadRequest("'from' must not be after 'to'.", param="from")
    return store.list_events(
        account_id,
        limit=limit,
        cursor=cursor,
        now=now or clock.utcnow(),
        action=action,
        actor=actor,
        target=target,
        since=since,
        until=until,
    )


def parse_filters(query: Mapping[str, str] | None) -> dict[str, Any]:
    """The list filters of a query string: action, actor, target, from and to (ISO 8601 or
    Unix seconds), as keyword arguments of ``list_events``."""
    query = query or {}

    def text(name: str) -> str | None:
        value = (query.get(name) or "").strip()
        return value or None

    return {
        "action": text("action"),
        "actor": text("actor"),
        "target": text("target"),
        "since": parse_time(text("from"), "from"),
        "until": parse_time(text("to"), "to"),
    }


def parse_time(value: str | None, param: str) -> datetime | None:
    """ISO 8601 (a naive time is UTC) or Unix seconds, as an aware UTC datetime."""
    if value is None:
        return None
    try:
        if value.lstrip("-").replace(".", "", 1).isdigit():
            return datetime.fromtimestamp(float(value), UTC)
        parsed = datetime.fromisoformat(value.replace("Z", "+00:00").replace("z", "+00:00"))
    except (ValueError, OverflowError, OSError):
        raise BadRequest(
            f"'{param}' must be an ISO 8601 time or Unix seconds.", param=param
        ) from None
    return (parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)).astimezone(UTC)


def event_view(event: AuditEvent) -> dict[str, Any]:
    """The event as the API shows it."""
    return {
        "object": "audit_event",
        "account_id": event.account_id,
        "sequence": int(event.sequence),
        "actor": event.actor,
        "action": event.action,
        "target": event.target,
        "request_id": event.request_id,
        "source_ip": event.source_ip,
        "changes": event.changes,
        "created_at": int(event.created_at.timestamp()),
        "previous_digest": event.previous_digest,
        "digest": event.digest,
    }


# ------------------------------------------------------------------------------ checkpoints


@dataclasses.dataclass(frozen=True, slots=True)
class Checkpoint:
    """An account's head as the checkpoint job saw it, signed with the audit key."""

    account_id: str
    sequence: int
    digest: str
    event_created_at: str  # the head event's created_at, as stored
    checkpointed_at: str
    mac: str | None = None

    def signed_part(self) -> bytes:
        document = dataclasses.asdict(self)
        del document["mac"]
        return json.dumps(document, sort_keys=True, separators=(",", ":")).encode()

    def signed(self, key: bytes) -> Checkpoint:
        mac = hmac.new(key, self.signed_part(), hashlib.sha256).hexdigest()
        return dataclasses.replace(self, mac=mac)

    def to_json(self) -> bytes:
        return json.dumps(dataclasses.asdict(self), sort_keys=True).encode()

    @classmethod
    def from_json(cls, body: bytes) -> Checkpoint | None:
        """The checkpoint in an object's body, or None when it is not one."""
        try:
            document = json.loads(body)
            document["sequence"] = int(document["sequence"])
            return cls(**document)
        except (ValueError, TypeError, KeyError):
            return None


def take_checkpoints(settings: Settings, now: datetime) -> dict[str, int]:
    """Checkpoint every account whose newest event has no checkpoint yet. The bucket's Object
    Lock keeps each one for its retention, out of reach of the functions that write events."""
    signing_key = tollgate_secrets.audit_keys(settings)[0]
    objects = checkpoint_store.checkpoint_objects(settings)
    heads = store.heads()
    written = 0
    for account_id, head in sorted(heads.items()):
        key = checkpoint_store.checkpoint_key(account_id, int(head.sequence))
        if objects.exists(key):
            continue
        checkpoint = Checkpoint(
            account_id=account_id,
            sequence=int(head.sequence),
            digest=head.digest,
            event_created_at=timestamp(head.created_at),
            checkpointed_at=timestamp(now),
        )
        objects.put(key, checkpoint.signed(signing_key).to_json())
        written += 1
    return {"accounts": len(heads), "checkpoints_written": written}


# ------------------------------------------------------------------------------ verifying


def verify_chain(
    account_id: str, *, now: datetime | None = None, settings: Settings | None = None
) -> ChainReport:
    """Walk every stored event of the account (expired ones too), check each one's HMAC and
    the account's checkpoints, and report what is wrong."""
    settings = settings or get_settings()
    events = store.chain(account_id)
    bodies = checkpoint_store.checkpoint_objects(settings).every_version(account_id)
    if not events and not bodies and get_account(account_id) is None:
        problems = [f"no account {account_id!r} is known"]
        return ChainReport(account_id, False, 0, None, None, None, problems, [])
    return check_chain(
        events,
        account_id=account_id,
        now=now or clock.utcnow(),
        keys=tollgate_secrets.audit_keys(settings),
        checkpoints=[Checkpoint.from_json(body) for body in bodies],
    )


def check_chain(
    events: Iterable[AuditEvent],
    *,
    account_id: str,
    now: datetime,
    keys: tuple[bytes, ...] | None = None,
    checkpoints: Iterable[Checkpoint | None] = (),
) -> ChainReport:
    """Check events ordered by sequence, oldest first: each must match its digest and follow
    its predecessor; a gap is an error unless the events in it have expired. Given the audit
    keys, each event must carry a valid HMAC (unsigned events may only precede the first signed
    one: they were written before signing began); each checkpoint must be signed and agree
    with the chain."""
    problems: list[str] = []
    notes: list[str] = []
    checked: list[AuditEvent] = []
    previous: AuditEvent | None = None
    signed_seen = False
    for event in events:
        sequence = int(event.sequence)
        label = f"sequence {sequence}"
        if event.account_id != account_id or event.pk != account_pk(account_id):
            problems.append(f"{label}: belongs to account {event.account_id!r} (altered)")
        if event.sk != store.event_sk(sequence):
            problems.append(f"{label}: stored under sort key {event.sk!r} (altered)")
        if event_digest(event) != event.digest:
            problems.append(f"{label}: digest mismatch, the event was altered after it was written")
        elif keys is not None:
            problem = _signature_problem(event, keys, signed_seen)
            signed_seen = signed_seen or event.mac is not None
            if problem:
                problems.append(f"{label}: {problem}")
        first_expected = int(previous.sequence) + 1 if previous else 1
        if previous is not None and sequence <= previous.sequence:
            problems.append(f"{label}: out of order after sequence {previous.sequence} (altered)")
        elif sequence > first_expected:
            gap = _describe_gap(first_expected, sequence - 1)
            if _expired(event.previous_created_at, now):
                notes.append(
                    f"{gap} expired: the event before sequence {sequence} was written more "
                    f"than {RETENTION.days} days ago (retention, not an error)"
                )
            else:
                problems.append(f"{gap} missing before sequence {sequence}: deleted (gap)")
        elif previous is None:
            if event.previous_digest != GENESIS_DIGEST or event.previous_created_at is not None:
                problems.append(f"{label}: the first event does not start the chain (altered)")
        elif event.previous_digest != previous.digest:
            problems.append(
                f"{label}: previous_digest does not match the digest of sequence "
                f"{previous.sequence}: an event was replaced or altered"
            )
        elif event.previous_created_at != previous.created_at:
            problems.append(
                f"{label}: previous_created_at does not match sequence {previous.sequence}"
            )
        checked.append(event)
        previous = event
    if keys is not None:
        _check_checkpoints(checked, account_id, now, keys, list(checkpoints), problems, notes)
    if not checked:
        notes.append("no events are stored for this account")
    return ChainReport(
        account_id=account_id,
        ok=not problems,
        events=len(checked),
        first_sequence=int(checked[0].sequence) if checked else None,
        last_sequence=int(checked[-1].sequence) if checked else None,
        last_digest=checked[-1].digest if checked else None,
        problems=problems,
        notes=notes,
    )


def _signature_problem(event: AuditEvent, keys: tuple[bytes, ...], signed_seen: bool) -> str:
    if event.mac is None:
        if signed_seen:
            return "no HMAC after signed events: written or rewritten without the audit key"
        return ""
    if not _signed_by(event.mac, canonical_json(event), keys):
        return "HMAC mismatch: the event was rewritten by someone without the audit key"
    return ""


def _check_checkpoints(
    events: list[AuditEvent],
    account_id: str,
    now: datetime,
    keys: tuple[bytes, ...],
    checkpoints: list[Checkpoint | None],
    problems: list[str],
    notes: list[str],
) -> None:
    """Every checkpoint must be signed and name the digest its event still has; the newest
    one must not be ahead of the chain (the newest events deleted) unless it expired."""
    by_sequence = {int(event.sequence): event for event in events}
    last = int(events[-1].sequence) if events else 0
    valid: list[Checkpoint] = []
    for checkpoint in checkpoints:
        if (
            checkpoint is None
            or checkpoint.account_id != account_id
            or not _signed_by(checkpoint.mac, checkpoint.signed_part(), keys)
        ):
            problems.append("a checkpoint is not signed with the audit key (forged)")
            continue
        valid.append(checkpoint)
        event = by_sequence.get(checkpoint.sequence)
        if event is not None and event.digest != checkpoint.digest:
            problems.append(
                f"sequence {checkpoint.sequence}: digest differs from its checkpoint: the "
                "chain was rewritten after the checkpoint was taken"
            )
    if not valid:
        return
    newest = max(valid, key=lambda checkpoint: checkpoint.sequence)
    if newest.sequence > last:
        gap = _describe_gap(last + 1, newest.sequence)
        if _expired(parse_timestamp(newest.event_created_at), now):
            notes.append(f"{gap} expired after the checkpoint of sequence {newest.sequence}")
        else:
            after = f" after sequence {last}" if last else ""
            problems.append(
                f"{gap} missing{after}: the checkpoint of sequence {newest.sequence} says they "
                "were written (truncated)"
            )
    elif newest.sequence < last:
        gap = _describe_gap(newest.sequence + 1, last)
        notes.append(f"{gap} written after the last checkpoint: vouched for by HMAC only")


def _describe_gap(first: int, last: int) -> str:
    return f"sequence {first}" if first == last else f"sequences {first}-{last}"


def _expired(written_at: datetime | None, now: datetime) -> bool:
    """Whether an event written at ``written_at`` is past its TTL (DynamoDB may delete it)."""
    return written_at is not None and written_at + RETENTION <= now
