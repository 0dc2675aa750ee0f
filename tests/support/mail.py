"""The notifications queue and moto's SES, as the integration tests see them: what actions
queued, the mailer run on it the way Lambda's event source mapping would, what SES sent."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import boto3
from moto.ses.models import ses_backends

from devstack.outbox import SentMail, raw_mail
from devstack.queues import deliver_once
from devstack.template import ACCOUNT_ID, QueueSubscription
from tests.support.environment import NAMES, TEMPLATE

QUEUE = "NotificationsQueue"
SENDER = NAMES.parameters["SenderEmail"]


def verify_sender() -> None:
    """What the operator does once in SES: verify the template's sender address."""
    boto3.client("ses", region_name=NAMES.region).verify_email_identity(EmailAddress=SENDER)


def _sqs() -> Any:
    return boto3.client("sqs", region_name=NAMES.region)


def queued() -> list[dict[str, Any]]:
    """The messages waiting in the notifications queue (up to 10, left there and visible
    again at once), as their JSON bodies. Each look counts as a receive towards the queue's
    maxReceiveCount, so a test looks once before the mailer runs."""
    found = _sqs().receive_message(
        QueueUrl=NAMES.refs[QUEUE], MaxNumberOfMessages=10, VisibilityTimeout=0
    )
    return [json.loads(message["Body"]) for message in found.get("Messages", [])]


def run_mailer(handle: Callable[[str, dict[str, Any]], Any]) -> int:
    """Hand the queue's messages to MailerFunction in batches, as Lambda would (``handle``
    checks its AWS calls against its IAM); how many messages it was given."""
    (subscription,) = [s for s in TEMPLATE.queue_subscriptions() if s.function == "MailerFunction"]
    given = 0
    while handled := deliver_once(
        QueueSubscription(subscription.function, QUEUE, 10, subscription.reports_item_failures),
        _sqs(),
        handle,
        NAMES.refs[QUEUE],
        NAMES.attributes[(QUEUE, "Arn")],
    ):
        given += handled
    return given


def sent_mails() -> list[SentMail]:
    """Every mail moto's SES accepted, oldest first."""
    backend = ses_backends[ACCOUNT_ID][NAMES.region]
    return [
        raw_mail({"raw_data": message.raw_data, "destinations": message.destinations})
        for message in backend.sent_messages
        if hasattr(message, "raw_data")
    ]


def raw_messages() -> list[str]:
    """The sent mails as SES got them: headers, plain text and HTML."""
    backend = ses_backends[ACCOUNT_ID][NAMES.region]
    return [m.raw_data for m in backend.sent_messages if hasattr(m, "raw_data")]
