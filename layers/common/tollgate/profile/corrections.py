"""Correcting the account's profile: ``PATCH /v1/account``. A new ``email`` is not applied
here: its verification starts (``email_change``).

The whole body is checked before anything is written, so a bad field changes nothing. Then
name, company and language are one conditional update, the notification preferences and the
low-balance threshold each their own (``tollgate.notifications``): three writes at most,
each atomic. The audit trail gets what changed. Its values never hold what may name a
person: a signed-up account's name or company may be its owner's own name, and the trail
outlives the account's purge, so a corrected name or company is recorded as corrected,
without the words.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from tollgate import accounts
from tollgate.errors import BadRequest
from tollgate.money import format_usd
from tollgate.notifications import low_balance, preferences
from tollgate.profile import email_change
from tollgate.store import profile as store
from tollgate.store.models import Account
from tollgate.validation import reject_unknown_fields, text_field

TEXT_FIELDS = ("name", "company", "language")
FIELDS = (*TEXT_FIELDS, "email", preferences.FIELD, low_balance.FIELD)
NAME_MAX, COMPANY_MAX = 100, 200
# BCP 47, the shapes people use: a language, then script, region or variant subtags
# ("en", "de-CH", "zh-Hant-TW", "es-419"); a tag longer than 35 characters is no language.
LANGUAGE = re.compile(r"[A-Za-z]{2,3}(-[A-Za-z0-9]{1,8}){0,4}")
LANGUAGE_MAX = 35
# What the trail shows for a field that may hold a person's name.
WITHHELD = ("withheld", "corrected")


@dataclass(frozen=True, slots=True)
class Correction:
    """The fields a PATCH body sets (``None``: removed); absent fields are not in ``text``,
    and ``notifications`` / ``threshold`` only when ``has_*``."""

    text: dict[str, str | None] = field(default_factory=dict)
    notifications: dict[str, bool] | None = None
    has_threshold: bool = False
    threshold: Any = None  # the body's value, checked by low_balance.parse_threshold
    email: str | None = None  # a new contact email, applied once verified (email_change)


@dataclass(frozen=True, slots=True)
class Corrected:
    account: Account  # as it now is
    changes: dict[str, Any]  # for the audit: only what changed
    pending_email: str | None  # a code was mailed to it: the change awaits confirmation


def parse_correction(body: Mapping[str, Any]) -> Correction:
    """The body's corrections; 400 naming the field for an unknown or malformed one, or for
    a body that corrects nothing."""
    reject_unknown_fields(body, FIELDS)
    if not body:
        raise BadRequest(f"Nothing to correct: give one or more of {', '.join(FIELDS)}.")
    text: dict[str, str | None] = {}
    if "name" in body:
        text["name"] = text_field(body, "name", required=True, max_length=NAME_MAX)
    if "company" in body:
        text["company"] = text_field(body, "company", max_length=COMPANY_MAX) or None
    if "language" in body:
        text["language"] = _language(body)
    return Correction(
        text=text,
        notifications=(
            preferences.parse_changes(body[preferences.FIELD])
            if preferences.FIELD in body
            else None
        ),
        has_threshold=low_balance.FIELD in body,
        threshold=_threshold(body),
        email=email_change.parse_new_email(body) if "email" in body else None,
    )


def _threshold(body: Mapping[str, Any]) -> Any:
    low_balance.parse_threshold(body.get(low_balance.FIELD))
    return body.get(low_balance.FIELD)


def _language(body: Mapping[str, Any]) -> str | None:
    value = text_field(body, "language", max_length=LANGUAGE_MAX)
    if not value:
        return None
    if not LANGUAGE.fullmatch(value):
        raise BadRequest(
            '\'language\' must be a language tag such as "en" or "de-CH", or null.',
            param="language",
        )
    return value


def correct_profile(account_id: str, correction: Correction) -> Corrected:
    """Apply ``correction`` (a new email: its verification started). NotFound if the account
    is gone; 409 ``email_taken`` (before anything is written) for another account's email."""
    before = accounts.get_account(account_id)
    pending = None
    if correction.email is not None and email_change.start_email_change(before, correction.email):
        pending = correction.email
    changes: dict[str, Any] = {}
    text = {k: v for k, v in correction.text.items() if getattr(before, k) != v}
    if text:
        store.correct_profile(account_id, text)
        for name, value in text.items():
            changes[name] = WITHHELD if name != "language" else (before.language, value)
    if correction.notifications is not None:
        off_before = sorted(before.notifications_off or [])
        view = preferences.set_notification_preferences(account_id, correction.notifications)
        off_after = sorted(kind for kind, on in view["kinds"].items() if not on)
        changes["notifications_off"] = (off_before, off_after)
    if correction.has_threshold:
        after = low_balance.set_low_balance_threshold(account_id, correction.threshold)
        threshold_before = before.low_balance_threshold
        changes[low_balance.FIELD] = (
            _usd(int(threshold_before) if threshold_before is not None else None),
            _usd(after),
        )
    return Corrected(accounts.get_account(account_id), changes, pending)


def _usd(nano: int | None) -> str | None:
    return format_usd(nano) if nano is not None else None
