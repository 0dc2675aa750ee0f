"""Low-balance warnings: the balance watch mails an account once when its funds fall below its
threshold, and again only after they were back above it."""

from __future__ import annotations

import json

import pytest

from tests.integration.conftest import EVENTS, handle
from tests.support import mail
from tollgate import ledger
from tollgate.errors import BadRequest, NotFound
from tollgate.money import parse_usd
from tollgate.notifications.low_balance import set_low_balance_threshold
from tollgate.notifications.preferences import preferences_view
from tollgate.store import keys as key_store


def watch() -> dict[str, int]:
    """One run of BalanceWatchFunction, as its schedule fires it (IAM-checked)."""
    scheduled = json.loads((EVENTS / "balance_watch_scheduled.json").read_text())
    return handle("BalanceWatchFunction", scheduled)


def warnings() -> list[dict]:
    return [m for m in mail.queued() if m["kind"] == "low_balance"]


@pytest.fixture
def funded(new_account):
    """An account with 10.00 USD and a 5.00 USD threshold."""
    customer = new_account("lowbalance@example.com")
    ledger.credit(customer.account_id, parse_usd("10.00"), kind="adjustment", reason="test")
    set_low_balance_threshold(customer.account_id, "5.00")
    return customer.account_id


def spend(account_id: str, usd: str) -> None:
    ledger.debit(account_id, parse_usd(usd), kind="adjustment", reason="test spend")


def test_an_account_above_its_threshold_is_not_warned(funded):
    assert watch() == {"watched": 1, "warned": 0, "cleared": 0}
    assert warnings() == []


def test_falling_below_the_threshold_warns_once_per_crossing(funded, new_account):
    # Given an account that falls below its threshold
    spend(funded, "7.00")

    # when the watch runs three times
    runs = [watch() for _ in range(3)]

    # then it was warned once, with its balance and threshold
    assert [r["warned"] for r in runs] == [1, 0, 0]
    (warning,) = warnings()
    assert warning["context"] == {"balance_usd": "3.00", "threshold_usd": "5.00"}
    assert warning["account_id"] == funded


def test_back_above_then_below_again_warns_again(funded):
    # Given an account warned once
    spend(funded, "7.00")
    watch()
    mail.run_mailer(handle)  # the first warning leaves the queue

    # when it is topped up above its threshold, then falls below again
    ledger.credit(funded, parse_usd("5.00"), kind="adjustment", reason="top-up")
    cleared = watch()
    spend(funded, "6.00")
    again = watch()

    # then the flag was cleared and the second crossing warned again
    assert (cleared["cleared"], again["warned"]) == (1, 1)
    (warning,) = warnings()
    assert warning["context"]["balance_usd"] == "2.00"


def test_the_warning_is_mailed_to_the_owner(funded):
    mail.verify_sender()
    spend(funded, "9.50")

    watch()
    mail.run_mailer(handle)

    (sent,) = mail.sent_mails()
    assert sent.to == "lowbalance@example.com"
    assert sent.subject.startswith("Low balance: 0.50 USD")
    assert "below the 5.00 USD" in sent.text


def test_an_account_without_a_threshold_is_not_watched(funded):
    set_low_balance_threshold(funded, None)
    spend(funded, "9.00")

    assert watch() == {"watched": 0, "warned": 0, "cleared": 0}
    assert preferences_view(key_store.get_account(funded))["low_balance_threshold_usd"] is None


def test_a_new_threshold_forgets_the_earlier_warning(funded):
    # Given an account warned at 5.00 that sets its threshold to 2.50 while at 3.00
    spend(funded, "7.00")
    watch()
    set_low_balance_threshold(funded, "2.50")

    # then it is not warned at 3.00, but is once below 2.50
    assert watch()["warned"] == 0
    spend(funded, "1.00")
    assert watch()["warned"] == 1
    assert view_threshold(funded) == "2.50"


def view_threshold(account_id: str) -> str | None:
    return preferences_view(key_store.get_account(account_id))["low_balance_threshold_usd"]


@pytest.mark.parametrize("value", ["0", "-1.00", "five", 5, "1.0000000001"])
def test_a_threshold_that_is_not_a_positive_usd_string_is_refused(funded, value):
    with pytest.raises(BadRequest) as refused:
        set_low_balance_threshold(funded, value)

    assert refused.value.param == "low_balance_threshold_usd"
    assert view_threshold(funded) == "5.00"


def test_a_threshold_for_an_account_that_does_not_exist_is_not_found(aws):
    with pytest.raises(NotFound):
        set_low_balance_threshold("acct_missing", "5.00")
