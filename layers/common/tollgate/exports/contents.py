"""What an export holds: one section per kind of record, each read through the same service
and store queries as the API that shows it, page by page, and shown as that API shows it.
Never a key's secret or digest (keys are their API view), never request content (usage
records hold none), never support's internal notes on a ticket."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from tollgate import accounts, audit, billing, keys, spreadsheet, usage
from tollgate.store import members
from tollgate.store.models import AuditEvent
from tollgate.store.pagination import MAX_PAGE_SIZE
from tollgate.tickets import service as tickets
from tollgate.tickets import views as ticket_views

# A record as the JSON file shows it, and as a (spreadsheet-safe) CSV row.
Row = tuple[dict[str, Any], dict[str, Any]]


@dataclass(frozen=True)
class Section:
    name: str  # the files' stem: <name>.json and <name>.csv
    columns: tuple[str, ...]
    rows: Callable[[str, datetime], Iterator[Row]]


def profile(account_id: str) -> dict[str, Any]:
    """``account.json``: the profile and the wallet."""
    return {
        "profile": accounts.profile_view(accounts.get_account(account_id)),
        "wallet": billing.wallet_view(billing.get_wallet(account_id)),
    }


# ------------------------------------------------------------------------------ members


MEMBER_COLUMNS = ("person_id", "email", "name", "role", "joined_at")


def member_rows(account_id: str, now: datetime) -> Iterator[Row]:
    """The account's members: the people with a role in it."""
    return (member_row(member) for member in members.members_of(account_id))


def member_row(member: Any) -> Row:
    view = {
        "object": "member",
        "person_id": member.person_id,
        "email": member.email,
        "name": member.name,
        "role": member.role,
        "joined_at": int(member.joined_at.timestamp()),
    }
    row = {**_safe(view, "email", "name"), "joined_at": spreadsheet.time(member.joined_at)}
    return view, row


# ------------------------------------------------------------------------------ keys


KEY_COLUMNS = (
    "id",
    "name",
    "role",
    "status",
    "redacted_value",
    "environment",
    "created_at",
    "last_used_at",
    "rotated_at",
    "revoked_at",
    "expires_at",
    "spend_usd",
    "allowed_models",
    "tags",
)


def key_rows(account_id: str, now: datetime) -> Iterator[Row]:
    cursor = None
    while True:
        page, cursor = keys.list_keys(account_id, limit=MAX_PAGE_SIZE, cursor=cursor, now=now)
        for view in keys.key_views(page, now=now):
            yield view, _key_row(view)
        if cursor is None:
            return


def _key_row(view: Mapping[str, Any]) -> dict[str, Any]:
    row = _safe(view, "name", "environment")
    for column in ("created_at", "last_used_at", "rotated_at", "revoked_at", "expires_at"):
        row[column] = _time(view[column])
    row["allowed_models"] = spreadsheet.text(" ".join(view["allowed_models"] or ()))
    row["tags"] = spreadsheet.text(json.dumps(view["tags"] or {}, sort_keys=True))
    return row


# ------------------------------------------------------------------------------ money


PAYMENT_COLUMNS = (
    "id",
    "created_at",
    "updated_at",
    "status",
    "amount_usd",
    "currency",
    "payment_intent_id",
    "receipt_url",
)


def payment_rows(account_id: str, now: datetime) -> Iterator[Row]:
    """Payments with their receipts (``receipt_url``)."""
    cursor = None
    while True:
        page, cursor = billing.list_payments(account_id, limit=MAX_PAGE_SIZE, cursor=cursor)
        for payment in page:
            view = billing.payment_view(payment)
            row = _safe(view, "payment_intent_id", "receipt_url")
            row["created_at"] = spreadsheet.time(payment.created_at)
            row["updated_at"] = spreadsheet.time(payment.updated_at)
            yield view, row
        if cursor is None:
            return


def ledger_rows(account_id: str, now: datetime) -> Iterator[Row]:
    cursor = None
    while True:
        page, cursor = billing.ledger_export(account_id, cursor=cursor)
        for row in page:
            yield billing.ledger_entry_view(row), billing.ledger_csv_row(row)
        if cursor is None:
            return


# ------------------------------------------------------------------------------ usage


def usage_rows(account_id: str, now: datetime) -> Iterator[Row]:
    """The last 90 days, as ``GET /v1/usage`` shows them (older usage: the monthly archives)."""
    filters = usage.parse_filters(lambda _: None, now=now)
    cursor = None
    while True:
        page, cursor = usage.export(account_id, filters, cursor=cursor)
        for record in page:
            yield usage.usage_view(record), usage.csv_row(record)
        if cursor is None:
            return


# ------------------------------------------------------------------------------ audit


AUDIT_COLUMNS = (
    "sequence",
    "created_at",
    "actor",
    "action",
    "target",
    "request_id",
    "source_ip",
    "changes",
    "digest",
)


def audit_rows(account_id: str, now: datetime) -> Iterator[Row]:
    cursor = None
    while True:
        page, cursor = audit.list_events(account_id, limit=MAX_PAGE_SIZE, cursor=cursor, now=now)
        for event in page:
            yield audit.event_view(event), _audit_row(event)
        if cursor is None:
            return


def _audit_row(event: AuditEvent) -> dict[str, Any]:
    view = audit.event_view(event)
    row = _safe(view, "actor", "action", "target", "request_id", "source_ip")
    row["created_at"] = spreadsheet.time(event.created_at)
    changes = json.dumps(view["changes"], sort_keys=True) if view["changes"] else ""
    row["changes"] = spreadsheet.text(changes)
    return row


# ------------------------------------------------------------------------------ tickets


TICKET_COLUMNS = (
    "id",
    "created_at",
    "updated_at",
    "closed_at",
    "subject",
    "category",
    "status",
    "messages",
    "request_ids",
    "payment_ids",
)


def ticket_rows(account_id: str, now: datetime) -> Iterator[Row]:
    """The support tickets as the account's members see them: the context as it was when
    each was opened, the thread without support's internal notes, files as their metadata
    (not their contents). The CSV has the tickets; the JSON their threads too."""
    cursor = None
    while True:
        page, cursor = tickets.list_tickets(
            account_id, status=None, category=None, limit=MAX_PAGE_SIZE, cursor=cursor, now=now
        )
        for ticket in page:
            thread = tickets.thread(ticket, internal=False, now=now)
            files = tickets.attachments_of(ticket, now=now)
            view = ticket_views.ticket_view(ticket, thread, files, show_payments=True)
            yield view, _ticket_row(view)
        if cursor is None:
            return


def _ticket_row(view: Mapping[str, Any]) -> dict[str, Any]:
    row = _safe(view, "subject")
    for column in ("created_at", "updated_at", "closed_at"):
        row[column] = _time(view[column])
    context = view["context"]
    row["request_ids"] = " ".join(r["request_id"] for r in context["requests"])
    row["payment_ids"] = " ".join(p["payment_id"] for p in context["payments"])
    return row


SECTIONS = (
    Section("members", MEMBER_COLUMNS, member_rows),
    Section("keys", KEY_COLUMNS, key_rows),
    Section("payments", PAYMENT_COLUMNS, payment_rows),
    Section("ledger", billing.LEDGER_COLUMNS, ledger_rows),
    Section("usage", usage.CSV_COLUMNS, usage_rows),
    Section("audit", AUDIT_COLUMNS, audit_rows),
    Section("tickets", TICKET_COLUMNS, ticket_rows),
)


def _safe(view: Mapping[str, Any], *free_text: str) -> dict[str, Any]:
    """The view as a CSV row: the free-text columns made spreadsheet-safe."""
    row = dict(view)
    for column in free_text:
        row[column] = spreadsheet.text(row[column])
    return row


def _time(unix: int | None) -> str:
    return spreadsheet.time(datetime.fromtimestamp(unix, UTC) if unix is not None else None)
