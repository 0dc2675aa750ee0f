"""The console's API keys page, in process: an owner creates a key and sees its secret once,
a viewer cannot create one even by posting the form by hand, another account's key is not
found, and a policy the API refuses is shown with the API's message and changes nothing."""

from __future__ import annotations

import re

import pytest

from tests.integration.console_client import signed_in
from tollgate import audit, keys


@pytest.fixture
def owner(sign_up):
    return sign_up(email="owner@example.com")


def the_only_key(account_id: str):
    (key,), _ = keys.list_keys(account_id)
    return key


def test_the_owner_creates_a_key_and_its_secret_is_shown_only_once(owner):
    browser = signed_in(owner)
    browser.get("/console/keys/new")

    created = browser.post(
        "/console/keys",
        {"name": "Ada's laptop", "role": "inference", "allowed_endpoints": "chat.completions"},
        htmx=True,
    )

    assert created.status == 201
    assert "You will not see this secret again" in created.text
    secret = re.search(r'value="(tg-[^"]+)"', created.text).group(1)
    assert 'data-copy-target="new-secret"' in created.text
    key = the_only_key(owner.account_id)
    assert key.allowed_endpoints == ["chat.completions"]
    for path in ("/console/keys", f"/console/keys/{key.key_id}"):
        page = browser.get(path)
        assert page.status == 200 and "Ada&#39;s laptop" in page.text
        assert secret not in page.text and secret[-8:] not in page.text


def test_the_owner_rotates_a_key_with_a_grace_period_and_the_audit_names_the_request(owner):
    key = keys.create_key(owner.account_id, keys.NewKey(name="ci", role="inference")).key
    browser = signed_in(owner)
    browser.get(f"/console/keys/{key.key_id}")

    rotated = browser.post(f"/console/keys/{key.key_id}/rotate", {"grace_seconds": "3600"})

    assert rotated.status == 200
    assert "You will not see this secret again" in rotated.text
    assert "keeps working for 3600 seconds" in rotated.text
    new_secret = re.search(r'value="(tg-[^"]+)"', rotated.text).group(1)
    assert new_secret[-4:] == keys.get_key(owner.account_id, key.key_id).last_four
    (event,), _ = audit.list_events(owner.account_id, action="key.rotated")
    assert event.request_id == rotated.headers["x-request-id"]
    assert event.target == f"key:{key.key_id}"


def test_a_viewer_sees_no_create_button_and_posting_the_form_by_hand_is_refused(
    owner, signed_in_member
):
    viewer = signed_in_member(owner.account_id, "viewer")
    browser = signed_in(viewer)

    listed = browser.get("/console/keys")
    refused = browser.post("/console/keys", {"name": "sneaky", "role": "admin"})

    assert listed.status == 200 and "Create key" not in listed.text
    assert refused.status == 403
    assert keys.list_keys(owner.account_id)[0] == []


def test_another_accounts_key_is_not_found_and_nothing_of_it_is_shown(owner, sign_up):
    stranger = sign_up(email="stranger@example.com")
    theirs = keys.create_key(
        stranger.account_id, keys.NewKey(name="Stranger's prod", role="admin")
    ).key
    mine = keys.create_key(owner.account_id, keys.NewKey(name="Mine", role="inference")).key
    browser = signed_in(owner)
    assert "Mine" in browser.get(f"/console/keys/{mine.key_id}").text
    path = f"/console/keys/{theirs.key_id}"

    answers = [
        browser.get(path),
        browser.get(f"{path}/revoke"),
        browser.post(path, {"name": "mine now"}),
        browser.post(f"{path}/rotate", {"grace_seconds": "0"}),
        browser.post(f"{path}/revoke"),
    ]

    assert [answer.status for answer in answers] == [404] * 5
    assert all("Stranger" not in answer.text for answer in answers)
    assert keys.get_key(stranger.account_id, theirs.key_id).status == "active"
    assert keys.get_key(stranger.account_id, theirs.key_id).name == "Stranger's prod"


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        ("allowed_cidrs", "10.0.0.0/33", "'allowed_cidrs': '10.0.0.0/33' is not an IPv4 or IPv6"),
        ("rpm", "fast", "'rate_limit.rpm' must be a positive integer."),
        ("spend_cap_usd", "lots", "'spend_cap.amount_usd' must be a decimal USD amount"),
    ],
)
def test_a_policy_the_api_refuses_shows_its_message_and_changes_nothing(
    owner, field, value, message
):
    key = keys.create_key(owner.account_id, keys.NewKey(name="ci", role="inference")).key
    browser = signed_in(owner)
    browser.get(f"/console/keys/{key.key_id}")

    refused = browser.post(f"/console/keys/{key.key_id}", {"name": "renamed", field: value})

    assert refused.status == 400
    assert message in refused.text.replace("&#39;", "'")
    unchanged = keys.get_key(owner.account_id, key.key_id)
    assert (unchanged.name, unchanged.allowed_cidrs, unchanged.rpm) == ("ci", None, None)
