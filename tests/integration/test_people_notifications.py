"""The mails of people and standing: an invitation reaches the invited address, a removal
the removed person and the owners, a suspension and a reinstatement the owners; and "the
owners" are the account's owner members (its own email only while it has none)."""

from __future__ import annotations

import pytest

from tests.integration.conftest import event, handle
from tests.support import mail
from tests.support.environment import OPERATOR_KEY
from tollgate import clock
from tollgate.store import members as member_store


@pytest.fixture
def mailbox(aws):
    mail.verify_sender()


def add_member(account_id, person_id, role, email):
    member_store.member_item(
        account_id, person_id, email=email, name="", role=role, joined_at=clock.utcnow()
    ).save()


def mails_to(address):
    return [sent for sent in mail.sent_mails() if sent.to == address]


def test_an_invitation_is_mailed_to_the_invited_address_with_its_link(invoke, new_account, mailbox):
    # Given an account, when its admin key invites an email as billing
    account = new_account("boss@example.com")
    body = {"email": "ana@example.com", "role": "billing"}
    answer = invoke(
        "MembersFunction", event("invitations_create", key=account.admin_key, body=body)
    )
    assert answer.status == 201, answer.body

    # then the mailer sends the invited address one mail with the link, and the owner none
    mail.run_mailer(handle)
    (sent,) = mails_to("ana@example.com")
    assert answer.body["link"] in sent.text and "billing" in sent.text
    assert mails_to("boss@example.com") == []


def test_a_removed_member_and_the_owners_are_mailed(invoke, new_account, mailbox):
    # Given an account with an owner member and a developer
    account = new_account("account@example.com")
    add_member(account.account_id, "olga-sub", "owner", "olga@example.com")
    add_member(account.account_id, "dev-sub", "developer", "dev@example.com")

    # when the admin key removes the developer
    request = event(
        "members_remove", key=account.admin_key, path_parameters={"person_id": "dev-sub"}
    )
    assert invoke("MembersFunction", request).status == 200
    mail.run_mailer(handle)

    # then the developer and the owner (not the account's own address) hear of it
    (to_person,) = mails_to("dev@example.com")
    (to_owner,) = mails_to("olga@example.com")
    for sent in (to_person, to_owner):
        assert "dev@example.com" in sent.text and "developer" in sent.text
    assert mails_to("account@example.com") == []


def operator(invoke, action, account_id, reason):
    request = event(
        f"account_{action}",
        key=OPERATOR_KEY,
        body={"reason": reason},
        path_parameters={"account_id": account_id},
    )
    answer = invoke("AccountFunction", request)
    assert answer.status == 200, answer.body


def test_a_suspension_and_a_reinstatement_are_mailed_to_the_owners_with_the_reason(
    invoke, new_account, mailbox
):
    # Given an operator-made account with no member: its own email stands for its owner
    account = new_account("owner@example.com")

    # when the operator suspends it, then reinstates it
    operator(invoke, "suspend", account.account_id, "Chargebacks under review")
    operator(invoke, "reinstate", account.account_id, "Review closed")
    assert [m["kind"] for m in mail.queued()] == ["account_suspended", "account_reinstated"]
    mail.run_mailer(handle)

    # then the owner has both mails, each with its reason
    suspended, reinstated = mails_to("owner@example.com")
    assert "suspended" in suspended.subject.lower() and "Chargebacks under review" in suspended.text
    assert "Review closed" in reinstated.text


def test_a_reason_longer_than_a_mail_field_is_cut_not_lost(invoke, new_account, mailbox):
    account = new_account("owner@example.com")

    operator(invoke, "suspend", account.account_id, "x" * 1000)

    (queued,) = mail.queued()
    assert queued["context"]["reason"] == "x" * 500


def test_the_owners_are_the_accounts_owner_members_once_it_has_some(invoke, new_account, mailbox):
    # Given an account whose owners are two members (its own email is neither)
    account = new_account("signup@example.com")
    add_member(account.account_id, "a-sub", "owner", "a@example.com")
    add_member(account.account_id, "b-sub", "owner", "b@example.com")
    add_member(account.account_id, "c-sub", "admin", "c@example.com")

    # when a key is created (a mail to the owners)
    body = {"name": "ci", "role": "inference"}
    invoke("KeysFunction", event("keys_create", key=account.admin_key, body=body))
    mail.run_mailer(handle)

    # then each owner has it, and neither the admin nor the account's own address
    assert sorted(sent.to for sent in mail.sent_mails()) == ["a@example.com", "b@example.com"]
