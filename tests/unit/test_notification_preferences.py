"""Which notifications an account receives, and the changes PATCH /v1/account may make."""

from __future__ import annotations

import pytest

from tollgate.errors import BadRequest
from tollgate.notifications.kinds import ESSENTIAL_KINDS, KINDS
from tollgate.notifications.preferences import parse_changes, preferences_view, wants
from tollgate.store.models import Account


def account(off=None) -> Account:
    return Account("ACCOUNT#a", "PROFILE", account_id="a", email="a@x.com", notifications_off=off)


def test_an_account_receives_every_kind_until_it_switches_one_off():
    assert all(wants(account(), kind) for kind in KINDS)
    assert not wants(account({"low_balance"}), "low_balance")


def test_an_essential_kind_is_sent_even_if_a_profile_says_it_is_off():
    # Given a profile written by hand (or by an older release) that lists essential kinds
    profile = account(set(ESSENTIAL_KINDS))

    # Then they are sent all the same
    assert all(wants(profile, kind) for kind in ESSENTIAL_KINDS)


def test_the_view_lists_every_kind_and_the_essential_ones():
    view = preferences_view(account({"low_balance"}))

    assert view["kinds"]["low_balance"] is False and view["kinds"]["key_created"] is True
    assert set(view["kinds"]) == set(KINDS)
    assert set(view["essential"]) == ESSENTIAL_KINDS


@pytest.mark.parametrize(
    ("changes", "code", "param"),
    [
        ({"payment_confirmed": False}, "notification_essential", "notifications.payment_confirmed"),
        ({"newsletter": False}, "unknown_notification_kind", "notifications.newsletter"),
        ({"low_balance": "no"}, "invalid_request", "notifications.low_balance"),
        (["low_balance"], "invalid_request", "notifications"),
    ],
)
def test_a_change_that_is_not_allowed_names_its_field(changes, code, param):
    with pytest.raises(BadRequest) as refused:
        parse_changes(changes)

    assert (refused.value.code, refused.value.param) == (code, param)


def test_switching_an_essential_kind_on_is_accepted_and_changes_nothing():
    assert parse_changes({"key_created": True, "low_balance": False}) == {
        "key_created": True,
        "low_balance": False,
    }
