"""ReaperFunction: holds past their expiry go back to the balance, charging nothing, and a late
settle racing a release never lets both win.

Holds are taken through the proxy's own HotPath (its JSON-protocol payloads carried by
botocore, so moto serves them and the IAM recorder sees them).
"""

from __future__ import annotations

import json
import sys
import threading
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta

import pytest

import functions.reaper.app as reaper_app
from devstack.lambda_runtime import LambdaContext, load_handler
from tests.integration.conftest import EVENTS, RECORDER
from tests.support.environment import NAMES, TEMPLATE
from tests.support.iam import denied
from tests.support.lean_dynamodb import a_usage
from tests.support.metrics import emitted_metrics
from tollgate import clock
from tollgate.clock import scheduled_time
from tollgate.key_policy import KeyPolicy, SpendCap
from tollgate.observability import metrics
from tollgate.reaper import release_expired_holds
from tollgate.store import layout
from tollgate.store.hotpath import Hold, HotPath
from tollgate.store.models import SpendCounter, UsageRollup, Wallet
from tollgate.store.models import UsageRecord as UsageModel

NOW = datetime(2026, 11, 23, 10, 0, tzinfo=UTC)
HOLD_LIFETIME = timedelta(minutes=6)
LATER = NOW + timedelta(minutes=10)  # the time in events/reaper_scheduled.json
OPEN = KeyPolicy()
CAPPED = KeyPolicy(spend_cap=SpendCap(amount=900_000, period="month"))
RACES = 30


@pytest.fixture(autouse=True)
def no_leftover_metrics():
    """Metrics added outside a handler would otherwise be flushed by the next test's handler."""
    yield
    metrics.clear_metrics()


@pytest.fixture
def eager_thread_switches():
    """Threads take turns every microsecond instead of every 5 ms, so two racing calls
    interleave and either may win; with the default, the same one wins every time."""
    interval = sys.getswitchinterval()
    sys.setswitchinterval(1e-6)
    yield
    sys.setswitchinterval(interval)


def a_hold(account_id: str, key_id: str, amount: int, request_id: str = "req-1") -> Hold:
    return Hold(
        request_id,
        account_id,
        key_id,
        "openai/gpt-4o",
        amount,
        NOW,
        NOW + HOLD_LIFETIME,
        endpoint="chat.completions",
    )


def balance_and_held(account_id: str) -> tuple[int, int]:
    wallet = Wallet.get(layout.account_pk(account_id), layout.WALLET_SK, consistent_read=True)
    return wallet.balance, wallet.held


def usage_records(account_id: str) -> list[UsageModel]:
    pk = layout.account_pk(account_id)
    return list(UsageModel.query(pk, UsageModel.sk.startswith("USAGE#"), consistent_read=True))


def rollup(account_id: str, key_id: str) -> UsageRollup:
    sk = layout.rollup_sk(NOW.date(), key_id, "openai/gpt-4o")
    return UsageRollup.get(layout.account_pk(account_id), sk, consistent_read=True)


def committed(key_id: str) -> int:
    period = layout.spend_sk(NOW.strftime("%Y-%m"))
    return SpendCounter.get(layout.key_pk(key_id), period, consistent_read=True).committed


# ------------------------------------------------------------------------------ releasing


def test_an_expired_hold_goes_back_to_the_balance_and_nothing_is_charged(hotpath, funded):
    account_id, key_id = funded
    hotpath.hold(a_hold(account_id, key_id, 400_000), OPEN)

    counts = release_expired_holds(hotpath, LATER)

    assert counts == {"released": 1, "already_settled": 0, "failed": 0}
    assert balance_and_held(account_id) == (1_000_000, 0)


def test_a_released_hold_leaves_an_abandoned_usage_record_at_no_charge(hotpath, funded):
    account_id, key_id = funded
    hotpath.hold(a_hold(account_id, key_id, 400_000), OPEN)

    release_expired_holds(hotpath, LATER)

    (record,) = usage_records(account_id)
    assert (record.status, record.error_type, record.status_code) == ("abandoned", "abandoned", 0)
    assert (record.charge, record.hold) == (0, 400_000)
    assert (record.input_tokens, record.output_tokens) == (0, 0)
    assert (record.provider, record.endpoint) == ("openai", "chat.completions")
    assert (record.request_id, record.key_id) == ("req-1", key_id)
    assert record.created_at == NOW


def test_a_released_hold_counts_as_an_error_in_its_days_rollup(hotpath, funded):
    account_id, key_id = funded
    hotpath.hold(a_hold(account_id, key_id, 400_000), OPEN)

    release_expired_holds(hotpath, LATER)

    summary = rollup(account_id, key_id)
    assert (summary.requests, summary.errors, summary.charge) == (1, 1, 0)


def test_a_hold_not_yet_expired_is_left_alone(hotpath, funded):
    account_id, key_id = funded
    hotpath.hold(a_hold(account_id, key_id, 400_000), OPEN)

    counts = release_expired_holds(hotpath, NOW + HOLD_LIFETIME)

    assert counts["released"] == 0
    assert balance_and_held(account_id) == (600_000, 400_000)
    assert usage_records(account_id) == []


def test_a_capped_keys_reservation_is_given_back(hotpath, funded):
    account_id, key_id = funded
    first = a_hold(account_id, key_id, 100_000, "req-1")
    hotpath.hold(first, CAPPED)
    hotpath.settle(first, a_usage(first, 70_000), CAPPED)
    hotpath.hold(a_hold(account_id, key_id, 400_000, "req-2"), CAPPED)

    release_expired_holds(hotpath, LATER)

    assert committed(key_id) == 70_000
    assert balance_and_held(account_id) == (1_000_000 - 70_000, 0)


def test_a_run_releases_no_more_than_its_cap(hotpath, funded):
    account_id, key_id = funded
    for request_id in ("req-1", "req-2", "req-3"):
        hotpath.hold(a_hold(account_id, key_id, 1_000, request_id), OPEN)

    counts = release_expired_holds(hotpath, LATER, limit=2)

    assert counts["released"] == 2
    assert balance_and_held(account_id) == (1_000_000 - 1_000, 1_000)


# ------------------------------------------------------------------------------ settle vs release


def test_a_settle_after_the_release_changes_nothing(hotpath, funded):
    account_id, key_id = funded
    hold = a_hold(account_id, key_id, 400_000)
    hotpath.hold(hold, OPEN)
    release_expired_holds(hotpath, LATER)

    settled = hotpath.settle(hold, a_usage(hold, 123_456), OPEN)

    assert settled is False
    assert balance_and_held(account_id) == (1_000_000, 0)
    assert [r.status for r in usage_records(account_id)] == ["abandoned"]


def test_a_release_after_the_settle_changes_nothing(hotpath, funded):
    account_id, key_id = funded
    hold = a_hold(account_id, key_id, 400_000)
    hotpath.hold(hold, CAPPED)
    hotpath.settle(hold, a_usage(hold, 123_456), CAPPED)

    released = hotpath.release(hold)  # as when the index still listed the settled hold

    assert released is False
    assert balance_and_held(account_id) == (1_000_000 - 123_456, 0)
    assert committed(key_id) == 123_456
    assert [r.status for r in usage_records(account_id)] == ["settled"]


def race(pool: ThreadPoolExecutor, hotpath: HotPath, hold: Hold) -> tuple[bool, bool]:
    """A late settle and the reaper's release of the hold it listed, started together;
    whether each won."""
    (listed,) = hotpath.expired_holds(LATER)
    start = threading.Barrier(2)

    def settle() -> bool:
        start.wait()
        return hotpath.settle(hold, a_usage(hold, 100), CAPPED)

    def release() -> bool:
        start.wait()
        return hotpath.release(listed)

    settled, released = pool.submit(settle), pool.submit(release)
    return settled.result(), released.result()


def test_a_settle_racing_a_release_exactly_one_wins(
    hotpath, funded, atomic_requests, eager_thread_switches
):
    account_id, key_id = funded
    winners: dict[str, str] = {}

    with ThreadPoolExecutor(max_workers=2) as pool:
        for attempt in range(RACES):
            hold = a_hold(account_id, key_id, 10_000, f"req-{attempt}")
            hotpath.hold(hold, CAPPED)
            settled, released = race(pool, hotpath, hold)
            assert settled != released, f"race {attempt}: settled={settled} released={released}"
            winners[hold.request_id] = "settled" if settled else "abandoned"

    # Which side wins is the scheduler's choice (a loaded machine may favour one every time);
    # each side's win is proven in order by the two tests above. Here: one winner, books whole.
    outcomes = Counter(winners.values())
    charged = 100 * outcomes["settled"]
    assert balance_and_held(account_id) == (1_000_000 - charged, 0)
    assert committed(key_id) == charged
    assert len(usage_records(account_id)) == RACES
    assert {r.request_id: r.status for r in usage_records(account_id)} == winners
    summary = rollup(account_id, key_id)
    assert (summary.requests, summary.errors) == (RACES, outcomes["abandoned"])


# ------------------------------------------------------------------------------ the function


def scheduled_event() -> dict:
    return json.loads((EVENTS / "reaper_scheduled.json").read_text())


def run_function(event: dict) -> dict:
    """Call ReaperFunction as EventBridge would; every AWS call must be in its IAM policy."""
    function = TEMPLATE.functions()["ReaperFunction"]
    handler = load_handler(function)
    with RECORDER.recording() as calls:
        result = handler(event, LambdaContext(function_name="ReaperFunction", region=NAMES.region))
    assert calls
    assert not denied(calls, function.policies, NAMES), "ReaperFunction lacks IAM for these"
    return result


@pytest.fixture
def reaper_function(hotpath, monkeypatch):
    """The handler, its lean client carried by botocore so that moto serves it."""
    monkeypatch.setattr(reaper_app, "hotpath", hotpath)
    return run_function


def test_the_function_releases_what_expired_before_the_events_time(
    reaper_function, hotpath, funded, capsys
):
    account_id, key_id = funded
    hotpath.hold(a_hold(account_id, key_id, 400_000, "req-expired"), CAPPED)
    fresh = Hold(
        "req-fresh", account_id, key_id, "openai/gpt-4o", 1_000, LATER, LATER + HOLD_LIFETIME
    )
    hotpath.hold(fresh, OPEN)

    result = reaper_function(scheduled_event())

    assert result == {"released": 1, "already_settled": 0, "failed": 0}
    assert balance_and_held(account_id) == (1_000_000 - 1_000, 1_000)
    assert committed(key_id) == 0
    assert emitted_metrics(capsys.readouterr().out)["HoldsReleased"] == [1.0]


def test_an_event_without_a_time_runs_at_the_clocks_now(monkeypatch):
    monkeypatch.setattr(clock, "utcnow", lambda: LATER)

    assert scheduled_time({"detail-type": "Scheduled Event", "detail": {}}) == LATER
