"""Account: the account's own profile and its correction, its export, and its deletion."""

from __future__ import annotations

from tollgate.exports.records import FAILURES
from tollgate.notifications import low_balance, preferences
from tollgate.notifications.kinds import KINDS
from tollgate.openapi.operation import Operation
from tollgate.openapi.schema import (
    Schema,
    array,
    boolean,
    const,
    integer,
    nullable,
    obj,
    ref,
    string,
    unix_time,
    usd,
)
from tollgate.operator_controls.account_list import STATUSES
from tollgate.profile.corrections import FIELDS
from tollgate.store.exports import UNFINISHED

TAG = "Account"

_THRESHOLD = nullable(usd("mail a warning when the balance falls below this; null: never"))

# What PATCH /v1/account takes, each field by its name in corrections.FIELDS.
_CORRECTABLE: dict[str, Schema] = {
    "name": string("the account's name"),
    "company": nullable(string("null removes it")),
    "language": nullable(string("a BCP 47 language tag, e.g. en or de-CH; null removes it")),
    "email": string("a new contact email: applied once the code mailed to it is confirmed"),
    preferences.FIELD: obj(
        {}, {kind: boolean("false switches it off (not an essential kind)") for kind in KINDS}
    ),
    low_balance.FIELD: _THRESHOLD,
}

_PROFILE_FIELDS: dict[str, Schema] = {
    "id": string(),
    "object": const("account"),
    "email": string(),
    "name": string(),
    "status": string(enum=list(STATUSES)),
    "created_at": unix_time(),
    "company": nullable(string()),
    "language": nullable(string()),
    preferences.FIELD: obj(
        {
            "kinds": obj({kind: boolean("whether the account receives it") for kind in KINDS}),
            "essential": array(string("a kind that cannot be switched off", enum=list(KINDS))),
            low_balance.FIELD: _THRESHOLD,
        }
    ),
    low_balance.FIELD: _THRESHOLD,
}

_DELETION = obj(
    {
        "id": string(),
        "object": const("account"),
        "status": string(enum=list(STATUSES)),
        "purge_after": nullable(unix_time("its data is purged from this time on")),
    }
)

_EXPORT = obj(
    {
        "object": const("account_export"),
        "id": string(),
        "status": string(enum=[*UNFINISHED, "ready", "failed"]),
        "created_at": unix_time(),
        "completed_at": nullable(unix_time()),
        "expires_at": unix_time("the export and its ZIP are deleted at this time"),
        "size_bytes": nullable(integer("the ZIP's size, once ready", minimum=0)),
        "record_counts": nullable(
            {
                "type": "object",
                "additionalProperties": integer(minimum=0),
                "description": "once ready: the records in each file of the ZIP",
            }
        ),
        "download_url": nullable(string("once ready: a link to the ZIP, valid five minutes")),
        "download_expires_at": nullable(unix_time()),
        "failure": nullable(obj({"code": string(enum=list(FAILURES)), "message": string()})),
    }
)

SCHEMAS = {
    "AccountProfile": obj(_PROFILE_FIELDS),
    "AccountDeletion": _DELETION,
    "AccountExport": _EXPORT,
}

OPERATIONS = {
    ("GET", "/v1/account"): Operation(
        "Read the account's profile and notification settings", {200: ref("AccountProfile")}
    ),
    ("PATCH", "/v1/account"): Operation(
        "Correct the account's profile (a new email waits for its code)",
        {
            200: obj(
                {
                    **_PROFILE_FIELDS,
                    "pending_email": nullable(string("a code was mailed here to confirm it")),
                }
            )
        },
        body=obj({}, {field: _CORRECTABLE[field] for field in FIELDS}),
    ),
    ("POST", "/v1/account/email/confirm"): Operation(
        "Apply the new contact email with the code mailed to it",
        {200: ref("AccountProfile")},
        body=obj({"code": string("the 6-digit code mailed to the new email")}),
    ),
    ("DELETE", "/v1/account"): Operation(
        "Schedule the account's deletion (every key revoked; restorable for 30 days)",
        {202: ref("AccountDeletion")},
        body=obj({"confirm": string("the account's name, exactly as shown")}),
    ),
    ("POST", "/v1/account/restore"): Operation(
        "Cancel the account's scheduled deletion (its keys stay revoked)",
        {200: ref("AccountDeletion")},
    ),
    ("POST", "/v1/account/exports"): Operation(
        "Start an export of everything held about the account (one at a time)",
        {202: ref("AccountExport")},
        body=obj({}),
    ),
    ("GET", "/v1/account/exports/{export_id}"): Operation(
        "Read an export; once ready, with a five-minute download link",
        {200: ref("AccountExport")},
    ),
}
