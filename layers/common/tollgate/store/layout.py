"""Key shapes and attribute formats of the tables, importable without PynamoDB.

The PynamoDB models (``store.models``) and the proxy's lean hot path (``store.hotpath``) both
build keys here, so the two can never disagree about a layout.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta


def account_pk(account_id: str) -> str:
    return f"ACCOUNT#{account_id}"


def member_sk(person_id: str) -> str:
    return f"MEMBER#{person_id}"


def invitation_sk(email: str) -> str:
    return f"INVITE#{email.lower()}"


def invitation_token_pk(digest: str) -> str:
    return f"INVITATION#{digest}"


def person_pk(person_id: str) -> str:
    return f"PERSON#{person_id}"


def key_pk(key_id: str) -> str:
    return f"KEY#{key_id}"


def secret_pk(digest: str) -> str:
    return f"SECRET#{digest}"


def origin_pk(origin: str) -> str:
    """The browser origin index: which active keys allow an origin (a preflight's question)."""
    return f"ORIGIN#{origin}"


def hold_sk(request_id: str) -> str:
    return f"HOLD#{request_id}"


def video_sk(job_id: str) -> str:
    """A video job in its account's partition; job ids sort by creation time."""
    return f"VIDEO#{job_id}"


def usage_sk(at: datetime, request_id: str) -> str:
    return f"USAGE#{timestamp(at)}#{request_id}"


def request_sk(request_id: str) -> str:
    """In the account's partition: the pointer to a request's usage record, written with it,
    so one strongly consistent read finds it (the by_request_and_day index cannot)."""
    return f"REQUEST#{request_id}"


def request_pk(request_id: str) -> str:
    """The by_request_and_day index's key of a usage record."""
    return f"REQUEST#{request_id}"


def rollup_sk(day: date, key_id: str, model: str) -> str:
    """A day's usage of one key and model in the account's partition (sorted by day)."""
    return f"ROLLUP#{day.isoformat()}#{key_id}#{model}"


def usage_day_pk(day: date) -> str:
    """The by_request_and_day index's partition of a day's rollups: the accounts active then."""
    return f"USAGEDAY#{day.isoformat()}"


def daily_charges_sk(at: datetime) -> str:
    """The ledger entry that rolls up one UTC day's charges. It is keyed at the end of its day
    (ISO 8601's 24:00), so it sorts after that day's other entries: the balance after it is
    the balance after the day's last charge."""
    return f"LEDGER#{at.astimezone(UTC).date().isoformat()}T24:00:00#charges"


def ticket_sk(ticket_id: str) -> str:
    return f"TICKET#{ticket_id}"


def ticket_message_sk(ticket_id: str, sequence: int) -> str:
    """A ticket's messages in its account's partition, in the order they were written."""
    return f"TICKETMSG#{ticket_id}#{sequence:06d}"


def ticket_attachment_sk(ticket_id: str, attachment_id: str) -> str:
    return f"TICKETFILE#{ticket_id}#{attachment_id}"


def ticket_pk(ticket_id: str) -> str:
    """The pointer from a ticket's id to its account (the operator knows only the id)."""
    return f"TICKET#{ticket_id}"


def tickets_queue_pk(closed: bool) -> str:
    """The by_request_and_day index's partitions of the operator's queue: tickets still
    being worked on, and closed ones (sorted by when they were opened)."""
    return "TICKETS#closed" if closed else "TICKETS#active"


def ticket_openings_sk(hour: datetime) -> str:
    """How many tickets an account opened in one UTC hour (the opening rate limit)."""
    return f"TICKETRATE#{hour.astimezone(UTC).strftime('%Y-%m-%dT%H')}"


# Usage is hot for 90 days; TTL deletes it USAGE_TTL_GRACE later, which is the time the
# archive job has to copy it out (and to catch up on days it missed).
USAGE_RETENTION = timedelta(days=90)
USAGE_TTL_GRACE = timedelta(days=14)

ACCOUNT_SK = "PROFILE"
ACCOUNTS = "ACCOUNTS"  # the by_account index's partition of every account profile
KEY_SK = "KEY"
SECRET_SK = "SECRET"
WALLET_SK = "WALLET"
HOLDS_BY_EXPIRY = "HOLD"
VIDEOS_RUNNING = "VIDEOS#RUNNING"  # the by_request_and_day index's partition of unfinished jobs
TICKET_POINTER_SK = "TICKET"
# A closed ticket, its thread and its attachments are kept this long after closing.
TICKET_RETENTION = timedelta(days=730)


_TIMESTAMP = "%Y-%m-%dT%H:%M:%S.%f+0000"


def timestamp(at: datetime) -> str:
    """A datetime as PynamoDB's UTCDateTimeAttribute stores it (sortable, microseconds)."""
    return at.astimezone(UTC).strftime(_TIMESTAMP)


def parse_timestamp(text: str | None) -> datetime | None:
    return parse_required_timestamp(text) if text else None


def parse_required_timestamp(text: str) -> datetime:
    return datetime.strptime(text, _TIMESTAMP).replace(tzinfo=UTC)


def spend_sk(period: str) -> str:
    return f"SPEND#{period}"


def rate_sk(minute: int) -> str:
    return f"RATE#{minute}"
