"""Tickets: an account's support tickets, their threads and files."""

from __future__ import annotations

from tollgate.openapi.operation import Operation, Redirect
from tollgate.openapi.schema import (
    Schema,
    array,
    boolean,
    const,
    integer,
    nullable,
    obj,
    open_obj,
    page_of,
    ref,
    string,
    unix_time,
    usd,
)
from tollgate.tickets import (
    CATEGORIES,
    CUSTOMER,
    MAX_BODY_CHARS,
    MAX_PAYMENT_IDS,
    MAX_REQUEST_IDS,
    MAX_SUBJECT_CHARS,
    STATUSES,
    SUPPORT,
)
from tollgate.tickets.attachments import MAX_BYTES, MAX_PER_MESSAGE, TYPES
from tollgate.usage import CSV_COLUMNS

TAG = "Tickets"

_USAGE_COLUMN = {
    "request_id": string(),
    "created_at": unix_time(),
    "key_id": string(),
    "model": string(),
    "requested_model": string(),
    "provider": string(),
    "endpoint": string(),
    "stream": boolean(),
    "status": string(),
    "status_code": integer(),
    "error_type": nullable(string()),
    "input_tokens": integer(),
    "output_tokens": integer(),
    "cached_tokens": integer(),
    "reasoning_tokens": integer(),
    "total_tokens": integer(),
    "latency_ms": integer(),
    "charge_usd": usd(),
    "usage_estimated": boolean(),
    "video_seconds": nullable(integer("seconds of video delivered (video jobs only)")),
}

# A ticket keeps the snapshot taken when it was opened: one from before a column was added
# lacks it, so only the id is sure to be there.
REQUEST_SNAPSHOT = obj(
    {"request_id": string()},
    {name: _USAGE_COLUMN[name] for name in CSV_COLUMNS if name != "request_id"}
    | {"hold_usd": usd("reserved while the request ran")},
)

PAYMENT_SNAPSHOT = obj(
    {
        "payment_id": string("the Stripe Checkout Session's id"),
        "status": string(),
        "amount_usd": usd(),
        "currency": string(),
        "payment_intent_id": nullable(string()),
        "created_at": unix_time(),
        "updated_at": unix_time(),
    }
)

# views.ticket_summary: what every ticket view starts with
TICKET_FIELDS: dict[str, Schema] = {
    "object": const("ticket"),
    "id": string(),
    "subject": string(),
    "category": string(enum=list(CATEGORIES)),
    "status": string(enum=list(STATUSES)),
    "assignee": nullable(string("the support person working on it")),
    "messages": integer("messages in the thread"),
    "created_at": unix_time(),
    "updated_at": unix_time(),
    "closed_at": nullable(unix_time()),
    "reopenable_until": nullable(unix_time("a closed ticket can be reopened until then")),
}

_ATTACHMENT = obj(
    {
        "object": const("ticket.attachment"),
        "id": string(),
        "filename": string(),
        "content_type": string(enum=list(TYPES)),
        "size_bytes": nullable(integer("known once a message carries the file")),
        "status": string(enum=["pending", "attached"]),
        "created_at": unix_time(),
    }
)

# views.message_view; the operator's view adds ``internal`` and ``actor``
MESSAGE_FIELDS: dict[str, Schema] = {
    "object": const("ticket.message"),
    "id": string(),
    "author": string(enum=[CUSTOMER, SUPPORT]),
    "author_name": nullable(string("the support person who answered")),
    "body": string(),
    "attachments": array(ref("TicketAttachment")),
    "created_at": unix_time(),
}

_UPLOAD = obj(
    {
        "url": string("POST the file here as multipart/form-data", fmt="uri"),
        "fields": {
            **open_obj("form fields to send, as given, before the `file` field"),
            "additionalProperties": string(),
        },
        "expires_at": unix_time("the upload must start before then"),
    }
)

SCHEMAS = {
    "TicketSummary": obj(TICKET_FIELDS),
    "Ticket": obj(
        {
            **TICKET_FIELDS,
            "context": obj(
                {
                    "requests": array(ref("TicketRequestSnapshot")),
                    "payments": array(ref("TicketPaymentSnapshot")),
                }
            ),
            "thread": array(ref("TicketMessage")),
        }
    ),
    "TicketMessage": obj(MESSAGE_FIELDS),
    "TicketAttachment": _ATTACHMENT,
    "TicketUpload": obj(
        {**_ATTACHMENT["properties"], "upload": _UPLOAD},
    ),
    "TicketRequestSnapshot": REQUEST_SNAPSHOT,
    "TicketPaymentSnapshot": PAYMENT_SNAPSHOT,
}

_IDS = "ids of the account's requests (last 90 days), copied into the ticket as they are now"

ATTACHMENT_IDS = nullable(
    array(string(f"a pending upload of this ticket's (at most {MAX_PER_MESSAGE} a message)"))
)
MESSAGE_TEXT = string(f"at most {MAX_BODY_CHARS} characters")

NEW_UPLOAD = obj(
    {
        "filename": string(),
        "content_type": string(enum=list(TYPES)),
        "size_bytes": integer(f"at most {MAX_BYTES}", minimum=1),
    }
)

UPLOAD_STEPS = (
    "Answers a pending file and a presigned S3 POST: send the file to `upload.url` as "
    "multipart/form-data with `upload.fields`, then name its id in a message's "
    "`attachment_ids` (within a day) to attach it."
)
FILE_LINK = Redirect("A presigned S3 URL of the file, good for 5 minutes.")

OPERATIONS = {
    ("POST", "/v1/tickets"): Operation(
        "Open a ticket, with the requests and payments it is about",
        {201: ref("Ticket")},
        body=obj(
            {
                "subject": string(f"at most {MAX_SUBJECT_CHARS} characters"),
                "category": string(enum=list(CATEGORIES)),
                "body": MESSAGE_TEXT,
            },
            {
                "request_ids": nullable(array(string(f"at most {MAX_REQUEST_IDS}: {_IDS}"))),
                "payment_ids": nullable(
                    array(string(f"at most {MAX_PAYMENT_IDS} payment ids (wallet readers only)"))
                ),
            },
        ),
    ),
    ("GET", "/v1/tickets"): Operation(
        "List the account's tickets, newest first",
        {200: page_of(ref("TicketSummary"))},
        query={
            "limit": integer(minimum=1),
            "cursor": string(),
            "status": string(enum=list(STATUSES)),
            "category": string(enum=list(CATEGORIES)),
        },
    ),
    ("GET", "/v1/tickets/{ticket_id}"): Operation(
        "Read a ticket with its thread and context", {200: ref("Ticket")}
    ),
    ("POST", "/v1/tickets/{ticket_id}/messages"): Operation(
        "Reply on a ticket, with files uploaded to it",
        {201: ref("TicketMessage")},
        body=obj({"body": MESSAGE_TEXT}, {"attachment_ids": ATTACHMENT_IDS}),
    ),
    ("POST", "/v1/tickets/{ticket_id}/close"): Operation(
        "Close a ticket", {200: ref("TicketSummary")}
    ),
    ("POST", "/v1/tickets/{ticket_id}/reopen"): Operation(
        "Reopen a ticket closed less than 30 days ago", {200: ref("TicketSummary")}
    ),
    ("POST", "/v1/tickets/{ticket_id}/attachments"): Operation(
        "Ask to upload a file to a ticket",
        {201: ref("TicketUpload")},
        body=NEW_UPLOAD,
        description=UPLOAD_STEPS,
    ),
    ("GET", "/v1/tickets/{ticket_id}/attachments/{attachment_id}"): Operation(
        "Download a file of the ticket's thread",
        {302: FILE_LINK},
    ),
}
