"""What Lambda's SQS event source mappings do, for devstack: each function with an SQS event
in template.yaml gets its queue's messages as SQS events, in batches.

A poller thread per subscription receives up to the batch size (short polls: moto serves one
request at a time, so a long poll would hold every other AWS call up), invokes the function
through the pool (one event at a time, like a Lambda container), and deletes the messages it
handled. With ``ReportBatchItemFailures`` the function's ``batchItemFailures`` stay on the
queue; a function that raises leaves the whole batch. What stays comes back once its
visibility timeout ends, and after the queue's ``maxReceiveCount`` moto moves it to the
dead-letter queue, as SQS does.
"""

from __future__ import annotations

import hashlib
import threading
from collections.abc import Callable
from typing import Any

from devstack.template import LocalNames, QueueSubscription, Template

IDLE_POLL_SECONDS = 0.5


class QueuePollers:
    """The pollers of every queue subscription in the template."""

    def __init__(
        self,
        template: Template,
        names: LocalNames,
        sqs: Any,
        invoke: Callable[[str, dict[str, Any]], Any],
    ) -> None:
        self._stop = threading.Event()
        self._threads = [
            threading.Thread(
                target=self._poll,
                args=(subscription, names, sqs, invoke),
                name=f"sqs-{subscription.function}",
                daemon=True,
            )
            for subscription in template.queue_subscriptions()
        ]

    def start(self) -> QueuePollers:
        for thread in self._threads:
            thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        for thread in self._threads:
            thread.join(5)

    def _poll(
        self,
        subscription: QueueSubscription,
        names: LocalNames,
        sqs: Any,
        invoke: Callable[[str, dict[str, Any]], Any],
    ) -> None:
        queue_url = names.refs[subscription.queue]
        queue_arn = names.attributes[(subscription.queue, "Arn")]
        while not self._stop.is_set():
            try:
                handled = deliver_once(subscription, sqs, invoke, queue_url, queue_arn)
            except Exception:  # moto stopping, a function's crash: try again, as Lambda does
                handled = 0
            if not handled:
                self._stop.wait(IDLE_POLL_SECONDS)


def deliver_once(
    subscription: QueueSubscription,
    sqs: Any,
    invoke: Callable[[str, dict[str, Any]], Any],
    queue_url: str,
    queue_arn: str,
) -> int:
    """One batch from the queue to the function; how many messages were received."""
    received = sqs.receive_message(
        QueueUrl=queue_url,
        MaxNumberOfMessages=min(subscription.batch_size, 10),
        AttributeNames=["All"],
        MessageAttributeNames=["All"],
    ).get("Messages", [])
    if not received:
        return 0
    event = {"Records": [sqs_record(message, queue_arn) for message in received]}
    try:
        result = invoke(subscription.function, event)
    except Exception:
        return len(received)  # the whole batch comes back after its visibility timeout
    ids = [message["MessageId"] for message in received]
    failed = failed_ids(result, ids) if subscription.reports_item_failures else set()
    done = [m for m in received if m["MessageId"] not in failed]
    if done:
        entries = [{"Id": str(i), "ReceiptHandle": m["ReceiptHandle"]} for i, m in enumerate(done)]
        sqs.delete_message_batch(QueueUrl=queue_url, Entries=entries)
    return len(received)


def failed_ids(result: Any, received: list[str]) -> set[str]:
    """The message ids a partial batch response names; one Lambda cannot read (not a list,
    an entry without an id) fails the whole batch, as Lambda treats it."""
    if not isinstance(result, dict) or not result.get("batchItemFailures"):
        return set()
    failures = result["batchItemFailures"]
    if not isinstance(failures, list):
        return set(received)
    ids = [f.get("itemIdentifier") if isinstance(f, dict) else None for f in failures]
    if not all(isinstance(i, str) and i for i in ids):
        return set(received)
    return {i for i in ids if isinstance(i, str)}


def sqs_record(message: dict[str, Any], queue_arn: str) -> dict[str, Any]:
    """A received message as a record of the SQS event Lambda sends."""
    body = message["Body"]
    return {
        "messageId": message["MessageId"],
        "receiptHandle": message["ReceiptHandle"],
        "body": body,
        "attributes": message.get("Attributes", {}),
        "messageAttributes": message.get("MessageAttributes", {}),
        "md5OfBody": message.get("MD5OfBody") or hashlib.md5(body.encode()).hexdigest(),
        "eventSource": "aws:sqs",
        "eventSourceARN": queue_arn,
        "awsRegion": queue_arn.split(":")[3],
    }
