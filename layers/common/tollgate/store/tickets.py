"""Support tickets in MetadataTable: the ticket, its thread, its files, its id's pointer and
the account's hourly opening count.

Items, in the account's partition (so another account's ticket id is simply not there):
ticket ``TICKET#<id>``, messages ``TICKETMSG#<id>#<sequence>``, files
``TICKETFILE#<id>#<file id>``, openings ``TICKETRATE#<UTC hour>``; and ``TICKET#<id> ·
TICKET``, the pointer from a ticket's id to its account for the operator. A ticket id starts
with the time it was opened, so the account's tickets sort newest first.

Every write to a thread is one transaction that also moves the ticket's message count on,
conditioned on the count and status read before: two writers never take the same sequence, a
message is never written without its ticket's status change, nor to a ticket closed meanwhile.
Reads filter on ``ttl``: a closed ticket past its retention is never returned, deleted yet or
not.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta

from pynamodb.exceptions import UpdateError
from pynamodb.expressions.condition import Condition
from pynamodb.transactions import TransactWrite

from tollgate.errors import BadRequest, Conflict, RateLimited
from tollgate.store import layout
from tollgate.store.connection import connection
from tollgate.store.errors import get_item, storage_errors
from tollgate.store.models import (
    Ticket,
    TicketAttachment,
    TicketMessage,
    TicketOpenings,
    TicketPointer,
)
from tollgate.store.pagination import decode_cursor, encode_cursor

TICKET_PREFIX = "TICKET#"
OPENINGS_TTL = timedelta(hours=2)
OPENINGS_PREFIX = "TICKETRATE#"


@dataclass(frozen=True, slots=True)
class Opening:
    """A new ticket, its first message and the hour whose opening count it takes."""

    ticket: Ticket
    message: TicketMessage
    hour: datetime
    limit: int  # the account's openings per hour


def open_ticket(opening: Opening) -> None:
    """Write the ticket, its pointer and first message, counting it against the hour's limit
    (a 429 when the account reached it, and nothing written)."""
    ticket = opening.ticket
    counter = TicketOpenings(ticket.pk, layout.ticket_openings_sk(opening.hour))
    pointer = TicketPointer(layout.ticket_pk(ticket.ticket_id), layout.TICKET_POINTER_SK)
    pointer.account_id = ticket.account_id
    retry = int((opening.hour + timedelta(hours=1) - ticket.created_at).total_seconds())
    limited = RateLimited(
        f"This account opened {opening.limit} tickets in the last hour; add to an open "
        "ticket or try again later.",
        code="ticket_rate_limited",
        retry_after_seconds=retry,
    )
    with (
        storage_errors("open_ticket", conditions={3: limited}),
        TransactWrite(connection=connection()) as transaction,
    ):
        transaction.save(ticket, condition=Ticket.sk.does_not_exist())
        transaction.save(pointer, condition=TicketPointer.sk.does_not_exist())
        transaction.save(opening.message, condition=TicketMessage.sk.does_not_exist())
        transaction.update(
            counter,
            actions=[
                TicketOpenings.opened.add(1),
                TicketOpenings.ttl.set(opening.hour + OPENINGS_TTL),
            ],
            condition=TicketOpenings.opened.does_not_exist()
            | (TicketOpenings.opened < opening.limit),
        )


def add_message(
    ticket: Ticket,
    message: TicketMessage,
    *,
    status: str,
    changes: list | None = None,
    attachments: list[TicketAttachment] = (),  # type: ignore[assignment]
) -> None:
    """Append ``message`` to the thread (its sequence is the ticket's count as read), set the
    ticket's status and any further ``changes``; a concurrent writer makes it a 409 (the
    caller reads again and retries). Each of ``attachments`` goes from pending to attached
    to this message in the same transaction."""
    actions = [
        Ticket.messages.set(Ticket.messages + 1),
        Ticket.status.set(status),
        Ticket.updated_at.set(message.created_at),
        *(changes or []),
    ]
    moved = Conflict("The ticket changed meanwhile; try again.", code="ticket_changed")
    # puts come first in a transaction, then updates (store.errors.cancellation_codes)
    conditions = {index: moved for index in range(2 + len(attachments))}
    # an attached file expires with its ticket (set once closed), like the message
    expiry = TicketAttachment.ttl.set(ticket.ttl) if ticket.ttl else TicketAttachment.ttl.remove()
    with (
        storage_errors("add_ticket_message", conditions=conditions),
        TransactWrite(connection=connection()) as transaction,
    ):
        # the status read too: a reply racing a close must not reopen the ticket unseen
        unchanged = (Ticket.messages == int(ticket.messages)) & (Ticket.status == ticket.status)
        transaction.update(ticket, actions=actions, condition=unchanged)
        transaction.save(message, condition=TicketMessage.sk.does_not_exist())
        for attachment in attachments:
            transaction.update(
                attachment,
                actions=[
                    TicketAttachment.status.set("attached"),
                    TicketAttachment.message_id.set(message.message_id),
                    TicketAttachment.size_bytes.set(int(attachment.size_bytes or 0)),
                    expiry,
                ],
                condition=TicketAttachment.status == "pending",
            )


def update_ticket(
    ticket: Ticket, actions: list, *, expected_status: str, expected_messages: int | None = None
) -> Ticket:
    """Change a ticket whose status is still ``expected_status`` (and, when given, whose
    thread still has ``expected_messages``): a 409 otherwise."""
    moved = Conflict("The ticket changed meanwhile; try again.", code="ticket_changed")
    condition = Ticket.status == expected_status
    if expected_messages is not None:
        condition &= Ticket.messages == expected_messages
    with storage_errors("update_ticket"):
        try:
            ticket.update(actions=actions, condition=condition)
        except UpdateError as error:
            if error.cause_response_code == "ConditionalCheckFailedException":
                raise moved from error
            raise
    return ticket


def get_ticket(account_id: str, ticket_id: str, *, now: datetime) -> Ticket | None:
    ticket = get_item(Ticket, layout.account_pk(account_id), layout.ticket_sk(ticket_id))
    return ticket if ticket is not None and not _expired(ticket.ttl, now) else None


def account_of_ticket(ticket_id: str) -> str | None:
    pointer = get_item(TicketPointer, layout.ticket_pk(ticket_id), layout.TICKET_POINTER_SK)
    return pointer.account_id if pointer is not None else None


def thread(ticket: Ticket, *, now: datetime) -> list[TicketMessage]:
    """The ticket's messages, oldest first."""
    prefix = layout.ticket_message_sk(ticket.ticket_id, 0)[:-6]
    with storage_errors("ticket_thread"):
        found = TicketMessage.query(
            ticket.pk, TicketMessage.sk.startswith(prefix), consistent_read=True
        )
        return [message for message in found if not _expired(message.ttl, now)]


def attachments_of(ticket: Ticket, *, now: datetime) -> list[TicketAttachment]:
    prefix = layout.ticket_attachment_sk(ticket.ticket_id, "")
    with storage_errors("ticket_attachments"):
        found = TicketAttachment.query(
            ticket.pk, TicketAttachment.sk.startswith(prefix), consistent_read=True
        )
        return [attachment for attachment in found if not _expired(attachment.ttl, now)]


@dataclass(frozen=True, slots=True)
class TicketQuery:
    account_id: str
    status: str | None = None
    category: str | None = None


def tickets(
    query: TicketQuery, *, now: datetime, limit: int, cursor: str | None
) -> tuple[list[Ticket], str | None]:
    """Up to ``limit`` of the account's tickets, newest first, and the cursor of the rest."""
    partition = layout.account_pk(query.account_id)
    start = decode_cursor(cursor, partition=("pk", partition))
    if start is not None and not start["sk"]["S"].startswith(TICKET_PREFIX):
        raise BadRequest("The cursor does not belong to this query.", param="cursor")
    condition: Condition = Ticket.ttl.does_not_exist() | (Ticket.ttl > now)
    if query.status:
        condition &= Ticket.status == query.status
    if query.category:
        condition &= Ticket.category == query.category
    found: list[Ticket] = []
    with storage_errors("list_tickets"):
        for ticket in Ticket.query(
            partition,
            Ticket.sk.startswith(TICKET_PREFIX),
            filter_condition=condition,
            scan_index_forward=False,
            last_evaluated_key=start,
            page_size=100,
        ):
            found.append(ticket)
            if len(found) > limit:
                break
    shown = found[:limit]
    if len(found) <= limit:
        return shown, None
    return shown, encode_cursor({"pk": {"S": partition}, "sk": {"S": shown[-1].sk}})


def items_of_ticket(ticket: Ticket) -> Iterator[TicketMessage | TicketAttachment]:
    """Every message and file item of the ticket, expired or not."""
    with storage_errors("ticket_items"):
        yield from TicketMessage.query(
            ticket.pk, TicketMessage.sk.startswith(f"TICKETMSG#{ticket.ticket_id}#")
        )
        yield from TicketAttachment.query(
            ticket.pk,
            TicketAttachment.sk.startswith(layout.ticket_attachment_sk(ticket.ticket_id, "")),
        )


def set_retention(ticket: Ticket, expires: datetime | None) -> None:
    """Give the ticket's thread, files and pointer the ticket's expiry (None: keep them).
    Pending files keep their own day-long expiry."""
    pointer = TicketPointer(layout.ticket_pk(ticket.ticket_id), layout.TICKET_POINTER_SK)
    with storage_errors("ticket_retention"):
        for item in [pointer, *items_of_ticket(ticket)]:
            if isinstance(item, TicketAttachment) and item.status == "pending":
                continue
            model = type(item)
            action = model.ttl.set(expires) if expires else model.ttl.remove()
            item.update(actions=[action])


def delete_account_tickets(account_id: str) -> int:
    """Every ticket of the account (expired or not) with its thread, files and pointer, then
    its hourly opening counts; how many tickets. A ticket's own item goes last: a run that
    stops half-way leaves it for the next run to find, with whatever still hangs on it."""
    partition = layout.account_pk(account_id)
    deleted = 0
    with storage_errors("delete_tickets"):
        for ticket in list(Ticket.query(partition, Ticket.sk.startswith(TICKET_PREFIX))):
            for item in list(items_of_ticket(ticket)):
                item.delete()
            TicketPointer(layout.ticket_pk(ticket.ticket_id), layout.TICKET_POINTER_SK).delete()
            ticket.delete()
            deleted += 1
        openings = TicketOpenings.sk.startswith(OPENINGS_PREFIX)
        for counter in list(TicketOpenings.query(partition, openings)):
            counter.delete()
    return deleted


def _expired(ttl: datetime | None, now: datetime) -> bool:
    return ttl is not None and ttl <= now


# ------------------------------------------------------------------------------ the operator

QUEUE_BUDGET = 1000  # index entries one page of the operator's queue reads at most


@dataclass(frozen=True, slots=True)
class QueueQuery:
    """A partition of the operator's queue (active or closed tickets), the opening times to
    read (``opened_after`` inclusive, ``opened_before`` exclusive) and the order."""

    closed: bool
    opened_after: datetime | None = None
    opened_before: datetime | None = None
    newest_first: bool = False

    @property
    def partition(self) -> str:
        return layout.tickets_queue_pk(closed=self.closed)


def queue(
    query: QueueQuery,
    *,
    wanted: Callable[[Ticket], bool],
    now: datetime,
    limit: int,
    cursor: str | None,
) -> tuple[list[Ticket], str | None]:
    """Up to ``limit`` tickets of every account that ``wanted`` says yes to, in opening
    order, and the cursor of the rest. The keys-only index gives the order, a BatchGetItem
    the tickets; a page reads at most ``QUEUE_BUDGET`` entries, so a rare match may come
    after short pages (follow the cursor)."""
    start = decode_cursor(cursor, partition=("gsi1pk", query.partition))
    if start is not None and not _in_range(start["gsi1sk"].get("S", ""), query):
        raise BadRequest("The cursor does not belong to this query.", param="cursor")
    found: list[tuple[Ticket, Ticket]] = []  # (index entry, ticket)
    last: Ticket | None = None
    with storage_errors("ticket_queue"):
        entries = Ticket.by_request_and_day.query(
            query.partition,
            _range_condition(query),
            scan_index_forward=not query.newest_first,
            last_evaluated_key=start,
            page_size=min(limit + 1, 100),
            limit=QUEUE_BUDGET,
        )
        for chunk in _chunks(entries, min(limit + 1, 100)):
            tickets = _tickets_by_key(chunk)
            for entry in chunk:
                last = entry
                ticket = tickets.get((entry.pk, entry.sk))
                if ticket is not None and not _expired(ticket.ttl, now) and wanted(ticket):
                    found.append((entry, ticket))
            if len(found) > limit:
                break
        exhausted = entries.last_evaluated_key is None and len(found) <= limit
    shown = [ticket for _, ticket in found[:limit]]
    if len(found) > limit:
        return shown, _queue_cursor(found[limit - 1][0])
    return shown, None if exhausted or last is None else _queue_cursor(last)


def _range_condition(query: QueueQuery) -> Condition | None:
    after = layout.timestamp(query.opened_after) if query.opened_after else None
    before = layout.timestamp(query.opened_before) if query.opened_before else None
    # an entry's sort key is "<opened at>#<id>": ">= after" takes that very moment,
    # "<= before" leaves it out ("<t>#..." sorts after "<t>")
    if after and before:
        return Ticket.gsi1sk.between(after, before)
    if after:
        return Ticket.gsi1sk >= after
    if before:
        return Ticket.gsi1sk <= before
    return None


def _in_range(sort_key: str, query: QueueQuery) -> bool:
    after = layout.timestamp(query.opened_after) if query.opened_after else ""
    before = layout.timestamp(query.opened_before) if query.opened_before else None
    return sort_key >= after and (before is None or sort_key <= before)


def _chunks(entries: Iterable[Ticket], size: int) -> Iterator[list[Ticket]]:
    chunk: list[Ticket] = []
    for entry in entries:
        chunk.append(entry)
        if len(chunk) == size:
            yield chunk
            chunk = []
    if chunk:
        yield chunk


def _tickets_by_key(entries: list[Ticket]) -> dict[tuple[str, str], Ticket]:
    keys = list(dict.fromkeys((entry.pk, entry.sk) for entry in entries))
    return {(t.pk, t.sk): t for t in Ticket.batch_get(keys, consistent_read=True)}


def _queue_cursor(entry: Ticket) -> str | None:
    return encode_cursor(
        {
            "gsi1pk": {"S": entry.gsi1pk},
            "gsi1sk": {"S": entry.gsi1sk},
            "pk": {"S": entry.pk},
            "sk": {"S": entry.sk},
        }
    )
