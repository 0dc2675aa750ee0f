"""The one place the identity flows send mail: a verification or a password-reset code.

On this branch it writes the message through SES directly; tollgate.notifications
(``send("email_verification" | "password_reset", "", to=[email], context={"code": ...})``)
takes its place once notifications exist.
"""

from __future__ import annotations

import functools
from typing import Any

import boto3

from tollgate.observability import logger, metrics
from tollgate.settings import Settings

EMAIL_VERIFICATION = "email_verification"
PASSWORD_RESET = "password_reset"

_MESSAGES = {
    EMAIL_VERIFICATION: (
        "Your Tollgate verification code",
        "Your Tollgate verification code is {code}. It is valid for 24 hours.\n\n"
        "If you did not sign up for Tollgate, ignore this message.",
    ),
    PASSWORD_RESET: (
        "Reset your Tollgate password",
        "Your Tollgate password reset code is {code}. It is valid for 30 minutes.\n\n"
        "If you did not ask to reset your password, ignore this message: your password is"
        " unchanged.",
    ),
}


def send_code(kind: str, email: str, code: str, settings: Settings) -> None:
    """Mail ``code``; a failure is logged and counted, never raised into the flow (the person
    asks for a new code)."""
    subject, text = _MESSAGES[kind]
    try:
        _ses(settings).send_email(
            Source=settings.mail_from,
            Destination={"ToAddresses": [email]},
            Message={
                "Subject": {"Data": subject, "Charset": "UTF-8"},
                "Body": {"Text": {"Data": text.format(code=code), "Charset": "UTF-8"}},
            },
        )
    except Exception:
        logger.exception("mail not sent", extra={"kind": kind})
        metrics.add_metric(name="MailNotSent", unit="Count", value=1)


@functools.cache
def _ses(settings: Settings) -> Any:
    return boto3.client("ses", region_name=settings.region, endpoint_url=settings.aws_endpoint_url)
