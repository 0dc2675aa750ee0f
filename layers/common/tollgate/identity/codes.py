"""Our own emailed codes: six digits, kept only as a salted digest, valid for a while, a few
wrong guesses allowed, used once.

Why ours and not Cognito's: Cognito mails its codes itself (or through a CustomEmailSender
trigger, with a KMS key), and moto neither sends them nor checks them as AWS does. Our codes
go through our mail (SES on AWS, moto's SES on devstack, where the outbox shows them) and are
checked by this code on both, so the flow that runs locally is the one that runs on AWS.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta

from tollgate import clock
from tollgate.errors import BadRequest
from tollgate.store import identity as store
from tollgate.store.models import AuthCode

VERIFY = "verify"
RESET = "reset"
EMAIL_CHANGE = "email_change"  # keyed by the account id; the item holds the new address
LIFETIME = {
    VERIFY: timedelta(hours=24),
    RESET: timedelta(minutes=30),
    EMAIL_CHANGE: timedelta(hours=1),
}
MAX_ATTEMPTS = 5


@dataclass(frozen=True, slots=True)
class Checked:
    """A code that matched; ``use`` spends it once the work it allows is done."""

    item: AuthCode

    def use(self) -> None:
        if not store.delete_code(self.item):
            raise invalid_code()


def email_digest(email: str) -> str:
    """How our items name an email without holding it."""
    return hashlib.sha256(email.strip().lower().encode()).hexdigest()


def issue(
    purpose: str,
    email: str,
    *,
    name: str | None = None,
    company: str | None = None,
    new_email: str | None = None,
    now: datetime | None = None,
) -> str:
    """A new code for ``email`` (any earlier one of the same purpose stops working)."""
    now = now or clock.utcnow()
    code = f"{secrets.randbelow(1_000_000):06d}"
    salt = secrets.token_hex(16)
    expires_at = now + LIFETIME[purpose]
    store.put_code(
        AuthCode(
            store.code_pk(purpose, email_digest(email)),
            store.CODE_SK,
            digest=_digest(salt, code),
            salt=salt,
            expires_at=expires_at,
            attempts=0,
            name=name,
            company=company,
            new_email=new_email,
            ttl=expires_at + timedelta(days=1),
        )
    )
    return code


def check(purpose: str, email: str, code: str, *, now: datetime | None = None) -> Checked:
    """The live code of ``email`` if ``code`` is it; else 400 (a wrong guess is counted)."""
    now = now or clock.utcnow()
    item = store.get_code(purpose, email_digest(email))
    if item is None:
        raise invalid_code()
    if item.expires_at <= now:
        raise BadRequest("This code has expired; ask for a new one.", code="code_expired")
    if not hmac.compare_digest(item.digest, _digest(item.salt, code)):
        if not store.count_wrong_attempt(item, MAX_ATTEMPTS):
            store.delete_code(item)
            raise BadRequest(
                "Too many wrong codes; ask for a new one.", code="too_many_attempts", param="code"
            )
        raise invalid_code()
    return Checked(item)


def invalid_code() -> BadRequest:
    return BadRequest("The code is not valid for this email.", code="invalid_code", param="code")


def _digest(salt: str, code: str) -> str:
    return hashlib.sha256(f"{salt}:{code}".encode()).hexdigest()
