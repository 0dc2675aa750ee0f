"""devstack's SQS event source: batches handed to a function, failures left on the queue;
and the outbox, read from the mails moto's SES kept."""

from __future__ import annotations

from email.message import EmailMessage
from typing import Any

import pytest

from devstack.invoke import CommandError
from devstack.outbox import SentMail, latest, printable, raw_mail
from devstack.queues import deliver_once
from devstack.template import QueueSubscription

ARN = "arn:aws:sqs:us-east-1:123456789012:q"


class FakeQueue:
    def __init__(self, bodies: list[str]) -> None:
        self.messages = [
            {"MessageId": f"m{i}", "ReceiptHandle": f"r{i}", "Body": body}
            for i, body in enumerate(bodies)
        ]
        self.deleted: list[str] = []

    def receive_message(self, **request: Any) -> dict[str, Any]:
        batch = self.messages[: request["MaxNumberOfMessages"]]
        return {"Messages": batch} if batch else {}

    def delete_message_batch(self, **request: Any) -> None:
        self.deleted += [entry["ReceiptHandle"] for entry in request["Entries"]]


def subscription(reports: bool = True) -> QueueSubscription:
    return QueueSubscription("Fn", "Queue", batch_size=10, reports_item_failures=reports)


def test_a_batch_becomes_one_sqs_event_and_the_handled_messages_are_deleted():
    queue, events = FakeQueue(["a", "b"]), []

    def invoke(function, event):
        events.append((function, event))
        return {"batchItemFailures": []}

    assert deliver_once(subscription(), queue, invoke, "url", ARN) == 2

    ((function, event),) = events
    assert function == "Fn"
    assert [r["body"] for r in event["Records"]] == ["a", "b"]
    assert {r["eventSource"] for r in event["Records"]} == {"aws:sqs"}
    assert event["Records"][0]["eventSourceARN"] == ARN
    assert queue.deleted == ["r0", "r1"]


def test_a_reported_failure_stays_on_the_queue_and_the_rest_is_deleted():
    queue = FakeQueue(["good", "bad", "good"])

    deliver_once(
        subscription(),
        queue,
        lambda *_: {"batchItemFailures": [{"itemIdentifier": "m1"}]},
        "u",
        ARN,
    )

    assert queue.deleted == ["r0", "r2"]


@pytest.mark.parametrize(
    "answer", [{"batchItemFailures": [{"itemIdentifier": ""}]}, {"batchItemFailures": "m0"}]
)
def test_a_failure_report_lambda_cannot_read_fails_the_whole_batch(answer):
    queue = FakeQueue(["a", "b"])

    deliver_once(subscription(), queue, lambda *_: answer, "u", ARN)

    assert queue.deleted == []


def test_a_function_that_raises_leaves_the_whole_batch():
    queue = FakeQueue(["a"])

    def crash(*_):
        raise RuntimeError("boom")

    assert deliver_once(subscription(), queue, crash, "u", ARN) == 1
    assert queue.deleted == []


def test_without_partial_batch_reports_an_answer_deletes_the_whole_batch():
    queue = FakeQueue(["a"])

    deliver_once(
        subscription(reports=False),
        queue,
        lambda *_: {"batchItemFailures": [{"itemIdentifier": "m0"}]},
        "u",
        ARN,
    )

    assert queue.deleted == ["r0"]


def test_an_empty_queue_invokes_nothing():
    def never(*_):
        raise AssertionError("invoked")

    assert deliver_once(subscription(), FakeQueue([]), never, "u", ARN) == 0


def mime(to: str, subject: str, text: str) -> dict[str, Any]:
    message = EmailMessage()
    message["To"], message["Subject"], message["From"] = to, subject, "n@example.com"
    message.set_content(text)
    message.add_alternative(f"<p>{text}</p>", subtype="html")
    return {"raw_data": message.as_string(), "destinations": [to]}


def test_the_outbox_shows_a_raw_mail_by_its_plain_text():
    mail = raw_mail(mime("a@example.com", "Your code: 123456", "Your code is 123456."))

    assert mail == SentMail("a@example.com", "Your code: 123456", "Your code is 123456.\n")


def test_the_outbox_keeps_the_latest_mails_to_one_address_oldest_first():
    mails = [SentMail(f"{who}@example.com", f"s{i}", "t") for i, who in enumerate("abab")]

    assert [m.subject for m in latest(mails, to="B@example.com", last=5)] == ["s1", "s3"]
    assert [m.subject for m in latest(mails, to=None, last=2)] == ["s2", "s3"]
    with pytest.raises(CommandError):
        latest(mails, to=None, last=0)


def test_an_empty_outbox_says_so():
    assert printable([]) == "(no mail sent yet)\n"
    assert "Subject: s\n\nbody\n" in printable([SentMail("a@x.com", "s", "body\n")])
