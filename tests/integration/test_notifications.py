"""Notifications: an action queues its mail, the mailer sends it through SES to the account's
owners, honours the account's preferences, and a queue that fails never fails the action."""

from __future__ import annotations

import json

import pytest
from botocore.exceptions import EndpointConnectionError

from tests.integration.conftest import event, handle
from tests.support import mail
from tests.support.metrics import emitted_metrics
from tollgate import notifications
from tollgate.errors import BadRequest
from tollgate.notifications import outbox
from tollgate.notifications.preferences import set_notification_preferences


@pytest.fixture
def mailbox(aws):
    """The sender verified in SES, as the operator does once."""
    mail.verify_sender()


def create_key(invoke, customer, name="ci"):
    answer = invoke(
        "KeysFunction",
        event("keys_create", key=customer.admin_key, body={"name": name, "role": "inference"}),
    )
    assert answer.status == 201, answer.body
    return answer.body


def test_a_created_key_is_mailed_to_the_account_owner_without_its_secret(
    invoke, new_account, mailbox, caplog
):
    # Given an account, when its admin creates a key
    customer = new_account("owner@example.com")
    created = create_key(invoke, customer, name="production")

    # then one key_created message is queued, carrying the key's id and name and no secret
    (queued,) = mail.queued()
    assert (queued["kind"], queued["account_id"], queued["to"]) == (
        "key_created",
        customer.account_id,
        None,
    )
    assert queued["context"]["key_id"] == created["id"]
    assert created["secret"] not in json.dumps(queued)

    # and the mailer sends it to the account's owner through SES, logging no address or text
    caplog.clear()
    assert mail.run_mailer(handle) == 1
    logged = [str(vars(record)) for record in caplog.records]
    assert any("key_created" in line and "sent" in line for line in logged)
    assert not any("owner@example.com" in line or "production" in line for line in logged)
    (sent,) = mail.sent_mails()
    assert sent.to == "owner@example.com"
    assert "production" in sent.subject or "inference" in sent.subject
    assert created["id"] in sent.text
    (raw,) = mail.raw_messages()
    assert created["secret"] not in raw and customer.admin_key not in raw
    assert "text/html" in raw and "text/plain" in raw
    assert mail.queued() == []


def test_rotating_and_revoking_a_key_are_mailed(invoke, new_account, mailbox):
    # Given a key, when it is rotated with a grace period and then revoked
    customer = new_account("keys@example.com")
    created = create_key(invoke, customer)
    path = {"key_id": created["id"]}
    rotated = invoke(
        "KeysFunction",
        event(
            "keys_rotate", key=customer.admin_key, body={"grace_seconds": 600}, path_parameters=path
        ),
    )
    revoked = invoke(
        "KeysFunction", event("keys_revoke", key=customer.admin_key, path_parameters=path)
    )
    assert (rotated.status, revoked.status) == (200, 200)

    # then the owner gets three mails, the rotation's saying until when the old secret works
    mail.run_mailer(handle)
    subjects = [m.subject for m in mail.sent_mails()]
    assert len(subjects) == 3 and "rotated" in subjects[1] and "revoked" in subjects[2]
    assert "keeps working until" in mail.sent_mails()[1].text
    assert rotated.body["secret"] not in "".join(mail.raw_messages())


def test_an_explicit_recipient_gets_the_mail_instead_of_the_owners(new_account, mailbox):
    # Given an account, when a member invitation is sent to another address
    customer = new_account("owner2@example.com")
    notifications.send(
        "member_invited",
        customer.account_id,
        to=["invitee@example.com"],
        context={"invitation_url": "https://console.example.com/invite/abc", "role": "billing"},
    )

    # then only the invitee is mailed, with the link
    mail.run_mailer(handle)
    (sent,) = mail.sent_mails()
    assert sent.to == "invitee@example.com"
    assert "https://console.example.com/invite/abc" in sent.text


def test_a_switched_off_kind_is_not_sent_but_an_essential_one_still_is(new_account, mailbox):
    # Given an account that switched low-balance notices off
    customer = new_account("quiet@example.com")
    view = set_notification_preferences(customer.account_id, {"low_balance": False})
    assert view["kinds"]["low_balance"] is False

    # when a low-balance notice and a payment confirmation are queued
    notifications.send(
        "low_balance",
        customer.account_id,
        context={"balance_usd": "0.50", "threshold_usd": "1.00"},
    )
    notifications.send(
        "payment_confirmed",
        customer.account_id,
        context={"amount_usd": "20.00", "payment_id": "cs_test_9"},
    )

    # then both leave the queue, and only the payment confirmation is mailed
    assert mail.run_mailer(handle) == 2
    assert [m.subject.split(":")[0] for m in mail.sent_mails()] == ["Payment received"]
    assert mail.queued() == []


def test_switching_a_kind_back_on_sends_it_again(new_account, mailbox):
    customer = new_account("back@example.com")
    set_notification_preferences(customer.account_id, {"low_balance": False})

    view = set_notification_preferences(customer.account_id, {"low_balance": True})
    notifications.send(
        "low_balance", customer.account_id, context={"balance_usd": "0.5", "threshold_usd": "1"}
    )

    assert view["kinds"]["low_balance"] is True
    mail.run_mailer(handle)
    assert len(mail.sent_mails()) == 1


def test_an_essential_kind_cannot_be_switched_off(new_account):
    customer = new_account()

    with pytest.raises(BadRequest) as refused:
        set_notification_preferences(customer.account_id, {"key_created": False})

    assert (refused.value.code, refused.value.param) == (
        "notification_essential",
        "notifications.key_created",
    )


def test_preferences_of_an_account_that_does_not_exist_are_not_found(aws):
    from tollgate.errors import NotFound

    with pytest.raises(NotFound):
        set_notification_preferences("acct_missing", {"low_balance": False})


def test_a_queue_that_cannot_be_reached_does_not_fail_the_action(
    invoke, new_account, monkeypatch, capsys, caplog
):
    # Given an SQS endpoint that cannot be reached
    customer = new_account()

    class Unreachable:
        def send_message(self, **_):
            raise EndpointConnectionError(endpoint_url="https://sqs.us-east-1.amazonaws.com")

    monkeypatch.setattr(outbox, "_sqs", Unreachable)

    # when an admin creates a key
    created = create_key(invoke, customer)

    # then the key is created all the same, the failure is counted, and nothing is queued
    assert created["id"].startswith("key_")
    assert emitted_metrics(capsys.readouterr().out)["NotificationsNotQueued"] == [1.0]
    (warning,) = [r for r in caplog.records if r.getMessage() == "notification not queued"]
    assert warning.error == "EndpointConnectionError" and warning.kind == "key_created"
    assert mail.queued() == []


def test_a_message_with_a_secret_in_its_context_is_refused_before_the_queue(new_account, caplog):
    # Given a caller that (wrongly) puts a key secret in a notification's context
    customer = new_account()
    secret = "tg-" + "A" * 43

    # when it sends, nothing raises into it, nothing is queued and the log names no value
    notifications.send("key_created", customer.account_id, context={"key_id": secret})

    assert mail.queued() == []
    (refused,) = [r for r in caplog.records if r.getMessage() == "notification refused"]
    assert "key_id" in refused.why and secret not in refused.why


def test_a_message_the_mailer_cannot_send_is_retried_alone(new_account, mailbox):
    # Given a good message and one whose context a queue writer forged past send's checks
    customer = new_account("partial@example.com")
    notifications.send(
        "payment_confirmed",
        customer.account_id,
        context={"amount_usd": "5.00", "payment_id": "cs_test_1"},
    )
    forged = {
        "kind": "key_created",
        "account_id": customer.account_id,
        "to": None,
        "context": {"key_id": "key_1", "prompt": "tell me a secret"},
    }
    mail._sqs().send_message(QueueUrl=mail.NAMES.refs[mail.QUEUE], MessageBody=json.dumps(forged))

    # when the mailer gets both in one batch
    mail.run_mailer(handle)

    # then the good one is sent and the forged one stays on the queue for a retry (and in the
    # end the dead-letter queue), its content never rendered
    (sent,) = mail.sent_mails()
    assert sent.subject.startswith("Payment received")
    assert "tell me a secret" not in "".join(mail.raw_messages())


def test_a_mail_for_an_account_that_is_gone_is_dropped(aws, mailbox):
    notifications.send("account_suspended", "acct_gone", context={"reason": "test"})

    assert mail.run_mailer(handle) == 1

    assert mail.sent_mails() == [] and mail.queued() == []


def test_a_sign_up_code_reaches_a_person_who_has_no_account_yet(aws, mailbox):
    # Given someone signing up, who has no account yet
    notifications.send("email_verification", "", to=["new@example.com"], context={"code": "482913"})

    # when the mailer runs, then the code reaches them, with no account named
    mail.run_mailer(handle)
    (sent,) = mail.sent_mails()
    assert sent.to == "new@example.com" and "482913" in sent.subject + sent.text
    assert "Tollgate account" not in sent.text


def test_a_mail_without_an_account_or_an_address_is_refused(aws):
    notifications.send("key_created", "", context={"key_id": "key_1"})
    notifications.send("email_verification", "", context={"code": "1"})

    assert mail.queued() == []
