"""Changing the account's contact email: verified before it applies.

``PATCH /v1/account`` with ``email`` starts it: a 6-digit code (``identity.codes``, purpose
``email_change``, keyed by the account: salted digest, an hour, 5 wrong guesses, used once)
is mailed to the new address, which the code's item holds; a new request replaces it.
``POST /v1/account/email/confirm`` with the code applies it, swapping the email's uniqueness
guard in the same transaction (409 ``email_taken`` if another account took the address
meanwhile). The people's own sign-in emails are Cognito's and do not change here.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from tollgate import accounts, notifications
from tollgate.errors import Conflict
from tollgate.identity import codes, login_limits
from tollgate.identity.mail import EMAIL_VERIFICATION
from tollgate.observability import metrics
from tollgate.store import profile as store
from tollgate.store.models import Account
from tollgate.validation import email_field, reject_unknown_fields, text_field

CODE_LENGTH = 6


def start_email_change(account: Account, new_email: str) -> bool:
    """Mail a code to ``new_email`` for the account; False when it is the account's email
    already. 409 ``email_taken`` when another account uses it."""
    if new_email.lower() == account.email.lower():
        return False
    owner = store.email_guard_owner(new_email)
    if owner is not None and owner != account.account_id:
        raise Conflict("Another account uses this email.", code="email_taken", param="email")
    code = codes.issue(codes.EMAIL_CHANGE, account.account_id, new_email=new_email)
    if login_limits.code_mail_allowed(new_email):
        notifications.send(
            EMAIL_VERIFICATION, account.account_id, to=[new_email], context={"code": code}
        )
    else:
        metrics.add_metric(name="CodeMailsLimited", unit="Count", value=1)
    return True


def parse_new_email(body: Mapping[str, Any]) -> str:
    return email_field(body)


def parse_confirmation(body: Mapping[str, Any]) -> str:
    reject_unknown_fields(body, ("code",))
    return text_field(body, "code", required=True, max_length=CODE_LENGTH * 2)


def confirm_email_change(account_id: str, code: str) -> tuple[Account, str]:
    """Apply the account's pending email change if ``code`` is its code (400 otherwise);
    the account as it now is and its email before."""
    checked = codes.check(codes.EMAIL_CHANGE, account_id, code)
    before = accounts.get_account(account_id).email
    new_email = checked.item.new_email
    if not new_email:
        raise codes.invalid_code()
    store.change_email(account_id, before, new_email)
    checked.use()
    return accounts.get_account(account_id), before
