"""The console's Team and Account pages refuse what the API refuses: a role that may not
invite or change roles gets 403 even posting the form by hand, another account's member is
404, and the API's own rules and validation messages are shown in the page with nothing
written."""

from __future__ import annotations

import pytest

from tests.integration.console_client import signed_in
from tollgate.store import members as member_store


@pytest.fixture
def owner(sign_up):
    return sign_up(email="owner@example.com")


@pytest.mark.parametrize("role", ["viewer", "developer"])
def test_a_member_who_may_not_manage_people_gets_403_posting_the_forms_by_hand(
    owner, signed_in_member, role
):
    member = signed_in_member(owner.account_id, role)
    browser = signed_in(member)
    team = browser.get("/console/team")
    assert team.status == 200
    assert "Send invitation" not in team.text and "Change role" not in team.text

    invited = browser.post(
        "/console/team/invitations", {"email": "friend@example.com", "role": "admin"}
    )
    promoted = browser.post(f"/console/team/members/{member.person_id}/role", {"role": "owner"})

    assert invited.status == 403 and promoted.status == 403
    assert "friend@example.com" not in signed_in(owner).get("/console/team").text
    assert member_store.get_member(owner.account_id, member.person_id).role == role


def test_another_accounts_member_is_not_found(owner, sign_up):
    stranger = sign_up(email="stranger@example.com")
    browser = signed_in(owner)

    changed = browser.post(f"/console/team/members/{stranger.person_id}/role", {"role": "viewer"})
    confirm = browser.get(f"/console/team/members/{stranger.person_id}/remove")
    removed = browser.post(f"/console/team/members/{stranger.person_id}/remove")

    assert (changed.status, confirm.status, removed.status) == (404, 404, 404)
    assert "stranger@example.com" not in changed.text + confirm.text + removed.text
    assert "stranger@example.com" in signed_in(stranger).get("/console/team").text


def test_the_last_owner_cannot_leave_and_the_page_says_why(owner):
    browser = signed_in(owner)

    refused = browser.post(f"/console/team/members/{owner.person_id}/remove")

    assert refused.status == 409
    assert 'class="message error"' in refused.text and "<h1>Team</h1>" in refused.text
    assert browser.get("/console/team").status == 200


def test_account_forms_show_the_apis_validation_messages_and_write_nothing(owner):
    browser = signed_in(owner)
    before = browser.get("/console/account").text

    threshold = browser.post(
        "/console/account/notifications", {"low_balance_threshold_usd": "lots"}
    )
    mistyped = browser.post("/console/account/delete", {"confirm": "not the name"})

    assert threshold.status == 400
    assert "low_balance_threshold_usd must be a positive USD amount" in threshold.text
    assert mistyped.status == 400
    assert "send its name as &#39;confirm&#39;" in mistyped.text
    assert "scheduled for deletion" not in browser.get("/console/account").text
    assert "Delete the account" in before


def test_a_viewer_cannot_schedule_the_deletion_or_export(owner, signed_in_member):
    viewer = signed_in(signed_in_member(owner.account_id, "viewer"))

    deleted = viewer.post("/console/account/delete", {"confirm": "Ada Lovelace"})
    exported = viewer.post("/console/account/exports")

    assert deleted.status == 403 and exported.status == 403
    assert "scheduled for deletion" not in signed_in(owner).get("/console/account").text


def test_the_owner_changes_the_contact_email_with_the_code_mailed_to_it(owner, mailed_codes):
    browser = signed_in(owner)

    asked = browser.post("/console/account/email", {"email": "new-owner@example.com"})
    assert asked.status == 200, asked.text
    assert "We sent a 6-digit code to new-owner@example.com" in asked.text
    wrong = browser.post("/console/account/email/confirm", {"code": "000000"})
    assert wrong.status == 400 and "owner@example.com" in wrong.text

    confirmed = browser.post(
        "/console/account/email/confirm", {"code": mailed_codes("new-owner@example.com")[-1]}
    )

    assert confirmed.status == 200, confirmed.text
    assert "The account&#39;s email is changed." in confirmed.text
    assert "<dd>new-owner@example.com</dd>" in confirmed.text


def test_the_deletion_mails_restore_link_opens_the_account_page(owner):
    browser = signed_in(owner)

    landed = browser.get("/console/account/restore")

    assert landed.status == 303 and landed.location == "/console/account"
