"""MailerFunction's work: each queued notification becomes one mail per recipient through
SES, unless the account switched its kind off.

Each SQS record is handled on its own and a failure is reported for that record alone
(``batchItemFailures``), so SQS retries it and, after the queue's ``maxReceiveCount``, moves it
to the dead-letter queue. A record that can never be sent (malformed, an unknown kind, a field
a kind may not carry) fails too: in the dead-letter queue an operator can see it. A retried
record may mail a recipient twice (SES has no idempotency key): at least once, not exactly.
Logs name the kind, the account and the message id, never an address or the mail's text.
"""

from __future__ import annotations

import functools
import json
from dataclasses import dataclass
from email.message import EmailMessage
from email.utils import make_msgid
from typing import Any

import boto3

from tollgate.notifications.kinds import ADDRESSED_KINDS, check_kind, check_recipients
from tollgate.notifications.preferences import wants
from tollgate.notifications.recipients import owner_emails
from tollgate.notifications.render import Rendered, render
from tollgate.observability import logger, metrics
from tollgate.settings import Settings
from tollgate.store import keys as key_store


@dataclass(frozen=True, slots=True)
class Notification:
    """A queued message, as ``tollgate.notifications.send`` wrote it."""

    kind: str
    account_id: str
    to: list[str] | None
    context: dict[str, Any]

    @classmethod
    def parse(cls, body: str) -> Notification:
        message = json.loads(body)
        check_kind(message["kind"])
        if not isinstance(message["account_id"], str) or not isinstance(message["context"], dict):
            raise ValueError("account_id must be a string and context an object")
        to = check_recipients(message.get("to"))
        return cls(message["kind"], message["account_id"], to, message["context"])


def handle_batch(event: dict[str, Any], settings: Settings) -> dict[str, Any]:
    """An SQS event's records delivered; the ids of those to retry (partial batch failure)."""
    failures = []
    for record in event.get("Records", []):
        log = {"message_id": record.get("messageId")}
        try:
            notification = Notification.parse(record["body"])
            log.update(kind=notification.kind, account_id=notification.account_id)
            outcome = deliver(notification, settings)
        except Exception as error:
            logger.warning("notification failed", extra={**log, "error": type(error).__name__})
            metrics.add_metric(name="NotificationFailures", unit="Count", value=1)
            failures.append({"itemIdentifier": record.get("messageId")})
            continue
        logger.info("notification handled", extra={**log, "outcome": outcome})
        metrics.add_metric(name="Notifications" + outcome.title(), unit="Count", value=1)
    return {"batchItemFailures": failures}


def deliver(notification: Notification, settings: Settings) -> str:
    """Send one notification: ``sent``, ``skipped`` (switched off) or ``orphaned`` (the
    account no longer exists). A kind addressed to a person (a sign-up code, an invitation)
    goes to its ``to`` even when there is no account yet."""
    account = key_store.get_account(notification.account_id) if notification.account_id else None
    addressed = notification.kind in ADDRESSED_KINDS and bool(notification.to)
    if account is None and not addressed:
        return "orphaned"
    if account is not None and not wants(account, notification.kind):
        return "skipped"
    recipients = notification.to or (owner_emails(account) if account is not None else [])
    about = {"id": account.account_id, "name": account.name} if account else {"id": "", "name": ""}
    mail = render(notification.kind, notification.context, account=about)
    sender = settings.sender_email
    if not sender:
        raise LookupError("no sender email is configured (TOLLGATE_SENDER_EMAIL)")
    for recipient in recipients:
        _ses(settings).send_raw_email(
            Source=sender,
            Destinations=[recipient],
            RawMessage={"Data": mime_message(mail, sender=sender, recipient=recipient)},
        )
    return "sent"


def mime_message(mail: Rendered, *, sender: str, recipient: str) -> bytes:
    """The mail as multipart/alternative: plain text first, HTML preferred by readers."""
    message = EmailMessage()
    message["Subject"] = mail.subject
    message["From"] = sender
    message["To"] = recipient
    message["Message-ID"] = make_msgid(domain=sender.rpartition("@")[2] or None)
    message.set_content(mail.text)
    message.add_alternative(mail.html, subtype="html")
    return message.as_bytes()


@functools.cache
def _ses(settings: Settings) -> Any:
    return boto3.client("ses", region_name=settings.region, endpoint_url=settings.aws_endpoint_url)
