"""The kinds of notification, the context fields each may carry, and which are essential.

A message's context is allow-listed per kind: it carries the few values its template shows,
never a key's secret, a password or anything of a request or its answer. ``check_context``
refuses anything else before a message is queued (and the mailer checks again before it
renders), so a secret can reach neither the queue nor a mail.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

TICKET_FIELDS = ("ticket_id", "category", "status", "ticket_url")
# What each kind's templates may show (every field optional in the context).
KIND_FIELDS: dict[str, tuple[str, ...]] = {
    "payment_confirmed": ("amount_usd", "payment_id", "receipt_url", "balance_usd"),
    "low_balance": ("balance_usd", "threshold_usd"),
    "key_created": ("key_id", "key_name", "role", "actor"),
    "key_rotated": ("key_id", "key_name", "grace_until", "actor"),
    "key_revoked": ("key_id", "key_name", "actor"),
    "member_invited": ("email", "role", "invited_by", "invitation_url", "expires_at"),
    "member_removed": ("email", "role", "removed_by"),
    "deletion_scheduled": ("purge_on", "scheduled_by", "restore_url"),
    "account_suspended": ("reason",),
    "account_reinstated": ("reason",),
    "email_verification": ("code", "verification_url"),
    "password_reset": ("code", "reset_url"),
    # support tickets: which one and a link to it, never what anyone typed in it
    "ticket_opened": TICKET_FIELDS,
    "ticket_customer_replied": TICKET_FIELDS,
    "ticket_replied": TICKET_FIELDS,
}
KINDS: tuple[str, ...] = tuple(KIND_FIELDS)
# What a kind's mail means nothing without.
REQUIRED_FIELDS: dict[str, tuple[str, ...]] = {
    "payment_confirmed": ("amount_usd", "payment_id"),
    "low_balance": ("balance_usd", "threshold_usd"),
    "key_created": ("key_id",),
    "key_rotated": ("key_id",),
    "key_revoked": ("key_id",),
    "member_invited": ("invitation_url",),
    "ticket_opened": ("ticket_id", "ticket_url"),
    "ticket_customer_replied": ("ticket_id", "ticket_url"),
    "ticket_replied": ("ticket_id", "ticket_url"),
}

# Security (keys, members, sign-in), billing (payments) and the account's own standing are
# essential: an account cannot switch them off. Notices (low balance, which an account also
# opts into by setting a threshold) can be.
CATEGORIES: dict[str, str] = {
    "payment_confirmed": "billing",
    "low_balance": "notice",
    "key_created": "security",
    "key_rotated": "security",
    "key_revoked": "security",
    "member_invited": "security",
    "member_removed": "security",
    "deletion_scheduled": "account",
    "account_suspended": "account",
    "account_reinstated": "account",
    "email_verification": "security",
    "password_reset": "security",
    # support's answer is part of the account's standing with the operator: always sent
    "ticket_opened": "account",
    "ticket_customer_replied": "account",
    "ticket_replied": "account",
}
# Sent to a person by address (``to``), who may have no account yet: a sign-up's code, a
# password reset, an invitation. The account id may then be empty. A ticket's news for support
# goes to the operator's support address (``to``), about the ticket's account.
ADDRESSED_KINDS = frozenset(
    {
        "email_verification",
        "password_reset",
        "member_invited",
        "ticket_opened",
        "ticket_customer_replied",
    }
)
ESSENTIAL_CATEGORIES = frozenset({"security", "billing", "account"})
ESSENTIAL_KINDS = frozenset(k for k, c in CATEGORIES.items() if c in ESSENTIAL_CATEGORIES)
OPTIONAL_KINDS = tuple(k for k in KINDS if k not in ESSENTIAL_KINDS)

# Names no context field may have, whatever a kind's list says (checked by a test too).
FORBIDDEN_FIELD = re.compile(
    r"secret|password|passwd|api_?key|prompt|message|content|body|response|request|authoriz",
    re.IGNORECASE,
)
# A Tollgate key secret (tollgate.secret_keys: "tg-" + 43 base64url characters), anywhere in
# a value; and any AWS/Stripe-style secret we hold.
SECRET_VALUE = re.compile(r"tg-[A-Za-z0-9_-]{40,}|\b(?:sk|rk)_(?:live|test)_\w+|whsec_\w+")
MAX_VALUE_CHARS = 500  # an identifier, an amount, a link: never a body of text
MAX_RECIPIENTS = 50


class NotificationRefused(ValueError):
    """A notification that must not be sent as asked; ``why`` names fields, never values."""

    def __init__(self, why: str) -> None:
        super().__init__(why)
        self.why = why


def check_kind(kind: str) -> None:
    if kind not in KIND_FIELDS:
        raise NotificationRefused(f"unknown kind {kind!r}")


def check_context(kind: str, context: Mapping[str, Any]) -> dict[str, Any]:
    """``context`` as a plain dict, if every field is one ``kind`` may carry and no value is
    a secret, a structure or a long text; NotificationRefused otherwise."""
    check_kind(kind)
    allowed = KIND_FIELDS[kind]
    checked: dict[str, Any] = {}
    for name, value in context.items():
        if name not in allowed or FORBIDDEN_FIELD.search(name):
            raise NotificationRefused(f"{kind} cannot carry the field {name!r}")
        if value is not None and not isinstance(value, str | int | float | bool):
            raise NotificationRefused(f"{kind}: field {name!r} must be a plain value")
        if isinstance(value, str) and (len(value) > MAX_VALUE_CHARS or SECRET_VALUE.search(value)):
            raise NotificationRefused(f"{kind}: field {name!r} holds what a mail must not show")
        if name.endswith("_url") and value is not None and not _web_link(value):
            raise NotificationRefused(f"{kind}: field {name!r} must be an http(s) link")
        checked[name] = value
    missing = [name for name in REQUIRED_FIELDS.get(kind, ()) if checked.get(name) is None]
    if missing:
        raise NotificationRefused(f"{kind} needs the field {missing[0]!r}")
    return checked


def _web_link(value: Any) -> bool:
    """A link a mail may show as one: http(s), no whitespace (no javascript: or data:)."""
    return isinstance(value, str) and bool(re.fullmatch(r"https?://[^\s<>\"']+", value))


def check_recipients(to: list[str] | None) -> list[str] | None:
    if to is None:
        return None
    if not isinstance(to, list) or not 0 < len(to) <= MAX_RECIPIENTS:
        raise NotificationRefused(f"to must be a list of 1 to {MAX_RECIPIENTS} addresses")
    for address in to:
        if not isinstance(address, str) or "@" not in address or len(address) > 254:
            raise NotificationRefused("to holds something that is not an email address")
    return list(to)
