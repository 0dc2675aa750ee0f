"""Audit events in AuditTable: pk ``ACCOUNT#<id>``, sk ``EVENT#<sequence, 12 digits>``.

The sort key orders an account's events by sequence, so a gap is visible in the keys alone.
The writers do two things, the two their IAM allows: a conditional PutItem that never
overwrites, and a Query of the newest event's chain fields. The checkpoint job scans for each
account's head; AuditFunction and the verifier query whole events. Nothing here updates,
deletes or gets an event.
"""

from __future__ import annotations

from datetime import datetime

from pynamodb.exceptions import PutError

from tollgate.store.errors import storage_errors
from tollgate.store.layout import account_pk
from tollgate.store.models import AuditEvent
from tollgate.store.pagination import decode_cursor, encode_cursor, page_size

EVENT_PREFIX = "EVENT#"


def event_sk(sequence: int) -> str:
    return f"{EVENT_PREFIX}{sequence:012d}"


# What a writer reads of the chain, and all its IAM lets it read: the fields the next event
# links to. The trail's content is for AuditFunction and the operator.
HEAD_ATTRIBUTES = ("pk", "sk", "sequence", "digest", "created_at")


def latest_event(account_id: str) -> AuditEvent | None:
    """The chain fields (HEAD_ATTRIBUTES) of the account's newest event, expired or not: one
    consistent Query, newest first."""
    with storage_errors("latest_audit_event"):
        answer = AuditEvent._get_connection().query(
            account_pk(account_id),
            range_key_condition=AuditEvent.sk.startswith(EVENT_PREFIX),
            attributes_to_get=list(HEAD_ATTRIBUTES),
            select="SPECIFIC_ATTRIBUTES",
            scan_index_forward=False,
            consistent_read=True,
            limit=1,
        )
    items = answer.get("Items") or []
    return AuditEvent.from_raw_data(items[0]) if items else None


def append_event(event: AuditEvent) -> bool:
    """Write a new event; False when its sequence is already taken (a concurrent writer won)."""
    with storage_errors("append_audit_event"):
        try:
            event.save(condition=AuditEvent.pk.does_not_exist())
        except PutError as error:
            if error.cause_response_code == "ConditionalCheckFailedException":
                return False
            raise
    return True


def list_events(
    account_id: str,
    *,
    limit: int | None,
    cursor: str | None,
    now: datetime,
    action: str | None = None,
    actor: str | None = None,
    target: str | None = None,
    since: datetime | None = None,
    until: datetime | None = None,
) -> tuple[list[AuditEvent], str | None]:
    """The account's unexpired events, newest first, one page at a time."""
    partition = account_pk(account_id)
    start = decode_cursor(cursor, partition=("pk", partition))
    # TTL deletion is lazy: an expired event may still be stored, and is never shown.
    condition = AuditEvent.ttl > now
    if action is not None:
        condition &= AuditEvent.action == action
    if actor is not None:
        condition &= AuditEvent.actor == actor
    if target is not None:
        condition &= AuditEvent.target == target
    if since is not None:
        condition &= AuditEvent.created_at >= since
    if until is not None:
        condition &= AuditEvent.created_at <= until
    with storage_errors("list_audit_events"):
        results = AuditEvent.query(
            partition,
            AuditEvent.sk.startswith(EVENT_PREFIX),
            filter_condition=condition,
            scan_index_forward=False,
            limit=page_size(limit),
            last_evaluated_key=start,
        )
        events = list(results)
    return events, encode_cursor(results.last_evaluated_key)


def chain(account_id: str) -> list[AuditEvent]:
    """Every stored event of the account, expired or not, oldest first (consistent reads)."""
    with storage_errors("audit_chain"):
        return list(
            AuditEvent.query(
                account_pk(account_id),
                AuditEvent.sk.startswith(EVENT_PREFIX),
                scan_index_forward=True,
                consistent_read=True,
            )
        )


def heads() -> dict[str, AuditEvent]:
    """Each account's newest stored event, by account id: one Scan of the chain fields.

    The table holds 90 days of administrative actions, a small table; the hourly checkpoint
    job reads it whole rather than keeping an index of heads the writers could rewrite."""
    found: dict[str, AuditEvent] = {}
    with storage_errors("audit_heads"):
        scanned = AuditEvent.scan(
            attributes_to_get=["pk", "sk", "account_id", "sequence", "digest", "created_at"]
        )
        for event in scanned:
            current = found.get(event.account_id)
            if current is None or event.sequence > current.sequence:
                found[event.account_id] = event
    return found
