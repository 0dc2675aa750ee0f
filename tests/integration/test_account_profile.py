"""PATCH /v1/account: the account's people correct its name, company and language, switch
off the notices they do not want and set the low-balance threshold; GET /v1/account shows
it all. Audited as account.updated, without the words of a corrected name or company."""

from __future__ import annotations

import json
import re

import pytest

from tests.integration.conftest import as_person, event, handle
from tests.support import mail
from tests.support.environment import OPERATOR_KEY
from tollgate import audit

FUNCTION = "AccountSelfFunction"


@pytest.fixture
def mailbox(aws):
    mail.verify_sender()


def correct(invoke, key, body, **headers):
    request = event("account_self_update", key=key, body=body)
    request["headers"].update(headers)
    return invoke(FUNCTION, request)


def profile(invoke, key):
    answer = invoke(FUNCTION, event("account_self_get", key=key))
    assert answer.status == 200, answer.body
    return answer.body


def updates(account_id):
    found, _ = audit.list_events(account_id, limit=100, cursor=None)
    return [e for e in found if e.action == "account.updated"]


def test_an_admin_corrects_the_profile_and_reads_it_back(invoke, new_account):
    # Given an account, when its admin key corrects its company and language, switches the
    # low-balance notice off and sets a threshold
    account = new_account()
    body = {
        "company": "Acme Research",
        "language": "de-CH",
        "notifications": {"low_balance": False},
        "low_balance_threshold_usd": "5.00",
    }
    answer = correct(invoke, account.admin_key, body)

    # then the answer and GET /v1/account show the corrected profile
    assert answer.status == 200, answer.body
    shown = profile(invoke, account.admin_key)
    assert answer.body == {**shown, "pending_email": None}
    assert (shown["company"], shown["language"]) == ("Acme Research", "de-CH")
    assert shown["notifications"]["kinds"]["low_balance"] is False
    assert shown["notifications"]["kinds"]["key_created"] is True
    assert "key_created" in shown["notifications"]["essential"]
    assert shown["low_balance_threshold_usd"] == "5.00"


def test_the_correction_is_audited_without_the_words_of_a_name_or_company(invoke, new_account):
    account = new_account()

    correct(invoke, account.admin_key, {"name": "Ada Lovelace", "company": "Lovelace Ltd"})
    correct(invoke, account.admin_key, {"language": "fr", "low_balance_threshold_usd": "2.50"})
    correct(invoke, account.admin_key, {"notifications": {"low_balance": False}})

    first, second, third = sorted(updates(account.account_id), key=lambda e: e.sequence)
    assert set(first.changes) == {"name", "company"}
    assert "Ada" not in json.dumps(first.changes) and "Lovelace" not in json.dumps(first.changes)
    assert second.changes == {
        "language": {"before": None, "after": "fr"},
        "low_balance_threshold_usd": {"before": None, "after": "2.50"},
    }
    assert third.changes == {"notifications_off": {"before": [], "after": ["low_balance"]}}
    assert first.target == f"account:{account.account_id}"


def test_null_removes_the_company_language_and_threshold(invoke, new_account):
    account = new_account()
    correct(
        invoke,
        account.admin_key,
        {"company": "Acme", "language": "en", "low_balance_threshold_usd": "1.00"},
    )

    answer = correct(
        invoke,
        account.admin_key,
        {"company": None, "language": None, "low_balance_threshold_usd": None},
    )

    assert answer.status == 200, answer.body
    assert answer.body["company"] is None and answer.body["language"] is None
    assert answer.body["low_balance_threshold_usd"] is None


@pytest.mark.parametrize(
    ("body", "param"),
    [
        ({}, None),
        ({"email_verified": True}, "email_verified"),
        ({"status": "active"}, "status"),
        ({"name": ""}, "name"),
        ({"name": None}, "name"),
        ({"name": "x" * 101}, "name"),
        ({"company": 7}, "company"),
        ({"language": "english please"}, "language"),
        ({"language": "en-" + "x" * 40}, "language"),
        ({"language": "<script>"}, "language"),
        ({"notifications": {"key_created": False}}, "notifications.key_created"),
        ({"notifications": {"no_such_kind": False}}, "notifications.no_such_kind"),
        ({"notifications": {"low_balance": "no"}}, "notifications.low_balance"),
        ({"notifications": ["low_balance"]}, "notifications"),
        ({"low_balance_threshold_usd": "-1"}, "low_balance_threshold_usd"),
        ({"low_balance_threshold_usd": 5}, "low_balance_threshold_usd"),
    ],
)
def test_a_malformed_correction_is_a_400_naming_the_field(invoke, new_account, body, param):
    account = new_account()

    answer = correct(invoke, account.admin_key, body)

    assert answer.status == 400, answer.body
    assert answer.body["error"].get("param") == param


def test_a_bad_field_changes_nothing_else_in_the_body(invoke, new_account):
    # Given a body whose company is fine but which switches off an essential notice
    account = new_account()
    body = {"company": "Acme", "notifications": {"key_revoked": False}}

    answer = correct(invoke, account.admin_key, body)

    # then it is refused as essential, and the company is not written either
    assert answer.status == 400
    assert answer.body["error"]["code"] == "notification_essential"
    assert profile(invoke, account.admin_key)["company"] is None
    assert updates(account.account_id) == []


def test_a_body_that_is_not_an_object_is_a_400(invoke, new_account):
    account = new_account()

    assert correct(invoke, account.admin_key, "[1, 2]").status == 400
    assert correct(invoke, account.admin_key, '{"name": NaN}').status == 400


def test_an_inference_key_and_a_viewer_cannot_correct(invoke, new_account, signed_in_member):
    account = new_account()
    made = invoke(
        "KeysFunction", event("keys_create", key=account.admin_key, body={"role": "inference"})
    )
    viewer = signed_in_member(account.account_id, "viewer")

    by_key = correct(invoke, made.body["secret"], {"company": "Mine"})
    request = as_person(event("account_self_update", key=None, body={"company": "Mine"}), viewer)
    by_viewer = invoke(FUNCTION, request)

    assert by_key.status == 403 and by_viewer.status == 403
    assert profile(invoke, account.admin_key)["company"] is None


def test_an_admin_member_corrects_their_own_account_only(invoke, new_account, signed_in_member):
    mine, theirs = new_account(), new_account()
    admin = signed_in_member(mine.account_id, "admin")

    request = event("account_self_update", key=None, body={"company": "Ours"})
    answer = invoke(FUNCTION, as_person(request, admin, mine.account_id))
    elsewhere = event("account_self_update", key=None, body={"company": "Theirs"})
    refused = invoke(FUNCTION, as_person(elsewhere, admin, theirs.account_id))

    assert answer.status == 200 and answer.body["company"] == "Ours"
    assert refused.status == 403
    assert profile(invoke, theirs.admin_key)["company"] is None
    (update,) = updates(mine.account_id)
    assert update.actor == f"person:{admin.person_id}"


def test_a_suspended_account_cannot_correct_its_profile(invoke, new_account):
    account = new_account()
    suspend = event(
        "account_suspend",
        key=OPERATOR_KEY,
        body={"reason": "review"},
        path_parameters={"account_id": account.account_id},
    )
    assert invoke("AccountFunction", suspend).status == 200

    answer = correct(invoke, account.admin_key, {"company": "Acme"})

    assert answer.status == 403
    assert profile(invoke, account.admin_key)["company"] is None


# ------------------------------------------------------------------------------ email change


def confirm(invoke, key, code):
    return invoke(FUNCTION, event("account_self_email_confirm", key=key, body={"code": code}))


def mailed_code(address):
    mail.run_mailer(handle)
    (sent,) = [m for m in mail.sent_mails() if m.to == address][-1:]
    return re.search(r"\b(\d{6})\b", sent.text).group(1)


def test_a_new_email_applies_once_its_mailed_code_is_confirmed(invoke, new_account, mailbox):
    # Given an account, when its admin asks to change its email
    account = new_account("old@example.com")
    asked = correct(invoke, account.admin_key, {"email": "new@example.com"})

    # then nothing changes yet, and the new address gets a code
    assert asked.status == 200, asked.body
    assert asked.body["email"] == "old@example.com"
    assert asked.body["pending_email"] == "new@example.com"
    code = mailed_code("new@example.com")

    # when the code is confirmed, the email is the new one and the old one is free again
    answer = confirm(invoke, account.admin_key, code)
    assert answer.status == 200, answer.body
    assert profile(invoke, account.admin_key)["email"] == "new@example.com"
    again = invoke(
        "AccountFunction",
        event("account_create", key=OPERATOR_KEY, body={"email": "old@example.com", "name": "X"}),
    )
    assert again.status == 201
    taken = invoke(
        "AccountFunction",
        event("account_create", key=OPERATOR_KEY, body={"email": "new@example.com", "name": "Y"}),
    )
    assert taken.status == 409

    # and the code is used up; the trail says the email changed, never which
    assert confirm(invoke, account.admin_key, code).status == 400
    trail = json.dumps([e.changes for e in updates(account.account_id)])
    assert "email" in trail and "example.com" not in trail


def test_a_wrong_code_changes_nothing_and_five_burn_it(invoke, new_account, mailbox):
    account = new_account("old@example.com")
    correct(invoke, account.admin_key, {"email": "new@example.com"})
    code = mailed_code("new@example.com")
    wrong = "000000" if code != "000000" else "111111"

    answers = [confirm(invoke, account.admin_key, wrong) for _ in range(5)]

    assert [a.body["error"]["code"] for a in answers][-1] == "too_many_attempts"
    assert confirm(invoke, account.admin_key, code).status == 400
    assert profile(invoke, account.admin_key)["email"] == "old@example.com"


def test_another_accounts_email_is_a_conflict(invoke, new_account, mailbox):
    mine, _ = new_account("mine@example.com"), new_account("theirs@example.com")

    answer = correct(invoke, mine.admin_key, {"email": "Theirs@example.com"})

    assert answer.status == 409 and answer.body["error"]["code"] == "email_taken"
    assert mail.queued() == []


def test_an_address_taken_between_the_code_and_its_confirmation_is_a_conflict(
    invoke, new_account, mailbox
):
    account = new_account("old@example.com")
    correct(invoke, account.admin_key, {"email": "new@example.com"})
    code = mailed_code("new@example.com")
    new_account("new@example.com")  # someone else takes it meanwhile

    answer = confirm(invoke, account.admin_key, code)

    assert answer.status == 409 and answer.body["error"]["code"] == "email_taken"
    assert profile(invoke, account.admin_key)["email"] == "old@example.com"


def test_one_accounts_code_does_not_change_another_account(invoke, new_account, mailbox):
    mine, theirs = new_account("mine@example.com"), new_account("theirs@example.com")
    correct(invoke, mine.admin_key, {"email": "next@example.com"})
    code = mailed_code("next@example.com")

    answer = confirm(invoke, theirs.admin_key, code)

    assert answer.status == 400
    assert profile(invoke, theirs.admin_key)["email"] == "theirs@example.com"


@pytest.mark.parametrize("email", ["not-an-email", "", None, 5, "a@b@c"])
def test_a_malformed_email_is_a_400(invoke, new_account, email):
    account = new_account()

    answer = correct(invoke, account.admin_key, {"email": email})

    assert answer.status == 400 and answer.body["error"]["param"] == "email"
