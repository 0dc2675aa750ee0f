"""Operator: the platform operator's customer accounts and support queue."""

from __future__ import annotations

from tollgate.billing import DIRECTIONS
from tollgate.openapi.operation import Operation
from tollgate.openapi.schema import (
    array,
    boolean,
    const,
    integer,
    nullable,
    obj,
    page_of,
    ref,
    string,
    unix_time,
    usd,
)
from tollgate.openapi.tickets import (
    ATTACHMENT_IDS,
    FILE_LINK,
    MESSAGE_FIELDS,
    MESSAGE_TEXT,
    NEW_UPLOAD,
    TICKET_FIELDS,
    UPLOAD_STEPS,
)
from tollgate.operator_controls.account_list import STATUSES as ACCOUNT_STATUSES
from tollgate.operator_controls.suspension import REASON_MAX_LENGTH
from tollgate.tickets import CATEGORIES, STATUSES
from tollgate.tickets.operator import MAX_AUTHOR_NAME_CHARS, WAITING_ON

TAG = "Operator"

_ACCOUNT_FIELDS = {
    "id": string(),
    "object": const("account"),
    "email": string(),
    "name": string(),
    "status": string(enum=list(ACCOUNT_STATUSES)),
    "created_at": unix_time(),
}

_OPERATOR_ACCOUNT_FIELDS = {
    **_ACCOUNT_FIELDS,
    "flagged": nullable(string("why to look at it, e.g. `dispute <id>` while one is open")),
    "status_reason": nullable(string("the reason given for the last suspension or reinstatement")),
    "status_changed_at": nullable(unix_time()),
    "wallet": nullable(ref("Wallet")),
}

_QUEUED_TICKET_FIELDS = {
    **TICKET_FIELDS,
    "account_id": string(),
    "opened_by": string("who opened it, e.g. person:<id> or key:<key id>"),
    "last_customer_at": nullable(unix_time()),
    "last_support_at": nullable(unix_time()),
    "waiting_on": nullable(string("whose turn it is", enum=list(WAITING_ON))),
}

_STRIPE_SESSION = obj(
    {
        "status": nullable(string()),
        "payment_status": nullable(string()),
        "amount_total": nullable(integer("in the currency's smallest unit")),
        "currency": nullable(string()),
        "payment_intent": nullable(string()),
    }
)

_REQUEST_NOW = obj(
    {
        "request_id": string(),
        "snapshot": ref("TicketRequestSnapshot"),
        "current": nullable(ref("TicketRequestSnapshot")),
        "expired": boolean("the usage record is gone (90 days)"),
    }
)

_PAYMENT_NOW = obj(
    {
        "payment_id": string(),
        "snapshot": ref("TicketPaymentSnapshot"),
        "current": nullable(ref("TicketPaymentSnapshot")),
        "stripe": {
            "description": "the Checkout Session at Stripe now, or an error when Stripe fails",
            "anyOf": [_STRIPE_SESSION, obj({"error": const("unavailable")})],
        },
    }
)

SCHEMAS = {
    "OperatorAccount": obj(_OPERATOR_ACCOUNT_FIELDS),
    "OperatorAccountListed": obj(
        {
            **_OPERATOR_ACCOUNT_FIELDS,
            "last_activity_at": nullable(unix_time("the wallet's last change")),
        }
    ),
    "CreatedAccount": obj(
        {
            "account": obj(_ACCOUNT_FIELDS),
            "admin_key": ref("ApiKey"),
        }
    ),
    "WalletAdjustment": obj(
        {
            "object": const("adjustment"),
            "id": string("the ledger entry's id"),
            "account_id": string(),
            "direction": string(enum=list(DIRECTIONS)),
            "amount_usd": usd(),
            "reason": string(),
            "created_at": unix_time(),
            "wallet": ref("Wallet"),
            "account_flagged": nullable(string()),
        }
    ),
    "QueuedTicket": obj(_QUEUED_TICKET_FIELDS),
    "OperatorTicket": obj(
        {
            **_QUEUED_TICKET_FIELDS,
            "context": obj({"requests": array(_REQUEST_NOW), "payments": array(_PAYMENT_NOW)}),
            "thread": array(ref("SupportThreadMessage")),
        }
    ),
    "SupportThreadMessage": obj(
        {
            **MESSAGE_FIELDS,
            "internal": boolean("an internal note: the customer never sees it"),
            "actor": string("the audit actor who wrote it"),
        }
    ),
}

_REASON = obj({"reason": string(f"at most {REASON_MAX_LENGTH} characters")})

OPERATIONS = {
    ("POST", "/operator/accounts"): Operation(
        "Create an account with an empty wallet and its first admin key",
        {201: ref("CreatedAccount")},
        body=obj({"email": string(fmt="email"), "name": string()}),
    ),
    ("GET", "/operator/accounts"): Operation(
        "List and search accounts, newest first",
        {200: page_of(ref("OperatorAccountListed"))},
        query={
            "limit": integer(minimum=1),
            "cursor": string(),
            "q": string("a part of the id, email or name (any case)"),
            "status": string(enum=list(ACCOUNT_STATUSES)),
            "flagged": string("true: a payment dispute is open", enum=["true", "false"]),
        },
        description="A search reads a bounded number of accounts a page: a page may be short "
        "and still have `next_cursor`.",
    ),
    ("GET", "/operator/accounts/{account_id}"): Operation(
        "Read an account with its flag and wallet", {200: ref("OperatorAccount")}
    ),
    ("POST", "/operator/accounts/{account_id}/suspend"): Operation(
        "Suspend an active account: its keys serve nothing, its routes only read",
        {200: ref("OperatorAccount")},
        body=_REASON,
    ),
    ("POST", "/operator/accounts/{account_id}/reinstate"): Operation(
        "Reinstate a suspended account", {200: ref("OperatorAccount")}, body=_REASON
    ),
    ("POST", "/operator/accounts/{account_id}/adjustments"): Operation(
        "Credit or debit an account's wallet, with a reason",
        {201: ref("WalletAdjustment")},
        body=obj(
            {
                "amount_usd": {
                    "description": "more than 0, at most the deployment's AdjustmentMaxUsd",
                    "anyOf": [usd(), integer(minimum=1)],
                },
                "direction": string(enum=list(DIRECTIONS)),
                "reason": string("at most 500 characters"),
            }
        ),
    ),
    ("GET", "/operator/tickets"): Operation(
        "The queue of every account's tickets, oldest first",
        {200: page_of(ref("QueuedTicket"))},
        query={
            "limit": integer(minimum=1),
            "cursor": string(),
            "status": string("absent: every status but closed", enum=list(STATUSES)),
            "category": string(enum=list(CATEGORIES)),
            "account_id": string(),
            "waiting_on": string(enum=list(WAITING_ON)),
            "assignee": string(),
            "opened_after": unix_time(),
            "opened_before": unix_time(),
            "older_than_hours": integer("instead of opened_before", minimum=0),
            "order": string(enum=["oldest", "newest"]),
        },
    ),
    ("GET", "/operator/tickets/{ticket_id}"): Operation(
        "Read a ticket with internal notes and its requests and payments as they are now",
        {200: ref("OperatorTicket")},
    ),
    ("PATCH", "/operator/tickets/{ticket_id}"): Operation(
        "Change a ticket's status or assignee (null unassigns)",
        {200: ref("QueuedTicket")},
        body={
            **obj({}, {"status": string(enum=list(STATUSES)), "assignee": nullable(string())}),
            "minProperties": 1,
        },
    ),
    ("POST", "/operator/tickets/{ticket_id}/messages"): Operation(
        "Reply to the customer, or add an internal note",
        {201: ref("SupportThreadMessage")},
        body=obj(
            {"body": MESSAGE_TEXT},
            {
                "internal": boolean("an internal note (leaves the status as it is)"),
                "author_name": nullable(
                    string(f"shown to the customer; at most {MAX_AUTHOR_NAME_CHARS} characters")
                ),
                "status": nullable(
                    string("after a reply; default waiting_on_customer", enum=list(STATUSES))
                ),
                "attachment_ids": ATTACHMENT_IDS,
            },
        ),
    ),
    ("POST", "/operator/tickets/{ticket_id}/attachments"): Operation(
        "Ask to upload a file to a ticket, as support",
        {201: ref("TicketUpload")},
        body=NEW_UPLOAD,
        description=UPLOAD_STEPS,
    ),
    ("GET", "/operator/tickets/{ticket_id}/attachments/{attachment_id}"): Operation(
        "Download any file of a ticket's thread, internal notes' too",
        {302: FILE_LINK},
    ),
}
