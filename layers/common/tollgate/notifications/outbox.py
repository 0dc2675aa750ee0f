"""``send``: one notification onto the queue, never failing the action that caused it.

The action (a key created, a payment credited) is done and durable before it notifies; a
mail is a consequence, not part of it. So nothing here raises: a refused message (a field a
kind may not carry, a secret in a value) is logged by kind and field name and counted
(``NotificationsRefused``); a queue that cannot be reached is logged by kind and error type
and counted (``NotificationsNotQueued``). No log line carries the context's values.
"""

from __future__ import annotations

import functools
import json
from collections.abc import Mapping
from typing import Any

import boto3
from botocore.config import Config

from tollgate import clock
from tollgate.notifications.kinds import (
    ADDRESSED_KINDS,
    NotificationRefused,
    check_context,
    check_recipients,
)
from tollgate.observability import logger, metrics
from tollgate.settings import get_settings

# Queuing is one small request; the caller's answer waits for it, so it gives up quickly.
SQS_TIMEOUT_SECONDS = 2
SQS_ATTEMPTS = 2


def send(
    kind: str,
    account_id: str,
    *,
    to: list[str] | None = None,
    context: Mapping[str, Any],
) -> None:
    """Queue one ``kind`` notification about ``account_id`` to ``to`` (None: the account's
    owners, found by the mailer) with what its templates show (``context``). A kind
    addressed to a person (``kinds.ADDRESSED_KINDS``: sign-up code, password reset,
    invitation) may have an empty ``account_id`` when there is no account yet."""
    log = {"kind": kind, "account_id": account_id}
    try:
        body = message_body(kind, account_id, to=to, context=context)
        queue_url = get_settings().notifications_queue_url
        if not queue_url:
            raise LookupError("no notifications queue is configured")
        _sqs().send_message(QueueUrl=queue_url, MessageBody=body)
    except NotificationRefused as refused:
        logger.error("notification refused", extra={**log, "why": refused.why})
        metrics.add_metric(name="NotificationsRefused", unit="Count", value=1)
    except Exception as error:  # whatever it is, the caller's action stands
        logger.warning("notification not queued", extra={**log, "error": type(error).__name__})
        metrics.add_metric(name="NotificationsNotQueued", unit="Count", value=1)
    else:
        metrics.add_metric(name="NotificationsQueued", unit="Count", value=1)


def message_body(
    kind: str, account_id: str, *, to: list[str] | None, context: Mapping[str, Any]
) -> str:
    """The queue message: kind, account, recipients and the checked context, as JSON."""
    if not account_id and not (kind in ADDRESSED_KINDS and to):
        raise NotificationRefused(f"{kind} needs an account id (or, addressed to someone, to)")
    message = {
        "kind": kind,
        "account_id": account_id,
        "to": check_recipients(to),
        "context": check_context(kind, context),
        "queued_at": clock.utcnow().isoformat(),
    }
    return json.dumps(message, separators=(",", ":"))


@functools.cache
def _sqs() -> Any:
    settings = get_settings()
    config = Config(
        connect_timeout=SQS_TIMEOUT_SECONDS,
        read_timeout=SQS_TIMEOUT_SECONDS,
        retries={"max_attempts": SQS_ATTEMPTS, "mode": "standard"},
    )
    return boto3.client(
        "sqs", region_name=settings.region, endpoint_url=settings.aws_endpoint_url, config=config
    )
