"""The proxy's two transactions, against moto, read back through the PynamoDB models.

HotPath speaks DynamoDB's JSON protocol; here botocore's client carries the same payloads, so
every call is also checked against ProxyFunction's IAM policy.
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest

from tests.integration.conftest import RECORDER
from tests.support.environment import NAMES, TEMPLATE
from tests.support.iam import denied
from tests.support.lean_dynamodb import a_usage
from tollgate import keys
from tollgate.errors import BadRequest, PaymentRequired, RateLimited, Unauthenticated
from tollgate.key_policy import KeyPolicy, SpendCap
from tollgate.store import layout
from tollgate.store.hotpath import Hold
from tollgate.store.models import ApiKey, LedgerEntry, RateWindow, UsageRollup, Wallet
from tollgate.store.models import UsageRecord as UsageModel

NOW = datetime(2026, 11, 23, 10, 0, tzinfo=UTC)
OPEN = KeyPolicy()  # a key without limits


def a_hold(account_id: str, key_id: str, amount: int, request_id: str = "req-1") -> Hold:
    return Hold(
        request_id, account_id, key_id, "openai/gpt-4o", amount, NOW, NOW + timedelta(minutes=6)
    )


def balance_and_held(account_id: str) -> tuple[int, int]:
    wallet = Wallet.get(layout.account_pk(account_id), layout.WALLET_SK, consistent_read=True)
    return wallet.balance, wallet.held


def ledger_sum(account_id: str) -> int:
    entries = LedgerEntry.query(
        layout.account_pk(account_id), LedgerEntry.sk.startswith("LEDGER#"), consistent_read=True
    )
    return sum(entry.amount for entry in entries)


def test_a_hold_moves_money_from_balance_to_held(hotpath, funded):
    account_id, key_id = funded

    hotpath.hold(a_hold(account_id, key_id, 400_000), OPEN)

    assert balance_and_held(account_id) == (600_000, 400_000)
    assert ledger_sum(account_id) == sum(balance_and_held(account_id))


def usage_records(account_id: str):
    return UsageModel.query(layout.account_pk(account_id), UsageModel.sk.startswith("USAGE#"))


def test_settling_charges_the_cost_and_returns_the_rest(hotpath, funded):
    account_id, key_id = funded
    hold = a_hold(account_id, key_id, 400_000)
    hotpath.hold(hold, OPEN)

    assert hotpath.settle(hold, a_usage(hold, 123_456), OPEN) is True

    assert balance_and_held(account_id) == (1_000_000 - 123_456, 0)
    assert ledger_sum(account_id) == 1_000_000 - 123_456
    record = next(iter(usage_records(account_id)))
    assert (record.charge, record.input_tokens, record.output_tokens) == (123_456, 12, 34)
    assert record.ttl > NOW + timedelta(days=90)
    key = ApiKey.get(layout.key_pk(key_id), layout.KEY_SK)
    assert key.spend == 123_456 and key.last_used_at == NOW


def test_settles_add_up_in_the_days_rollup_of_their_key_and_model(hotpath, funded):
    account_id, key_id = funded
    for request_id, charge in (("req-1", 100), ("req-2", 250)):
        hold = a_hold(account_id, key_id, 400_000, request_id)
        hotpath.hold(hold, OPEN)
        hotpath.settle(hold, a_usage(hold, charge), OPEN)

    rollup = UsageRollup.get(
        layout.account_pk(account_id), layout.rollup_sk(NOW.date(), key_id, "openai/gpt-4o")
    )

    assert (rollup.requests, rollup.errors, rollup.charge) == (2, 0, 350)
    assert (rollup.input_tokens, rollup.output_tokens) == (24, 68)
    assert (rollup.day, rollup.gsi1pk) == ("2026-11-23", "USAGEDAY#2026-11-23")
    assert rollup.ttl >= NOW + timedelta(days=100)


def test_a_hold_larger_than_the_balance_is_refused_and_writes_nothing(hotpath, funded):
    account_id, key_id = funded

    with pytest.raises(PaymentRequired):
        hotpath.hold(a_hold(account_id, key_id, 1_000_001), OPEN)

    assert balance_and_held(account_id) == (1_000_000, 0)


def test_a_revoked_key_cannot_take_a_hold(hotpath, funded):
    account_id, key_id = funded
    keys.revoke_key(account_id, key_id)

    with pytest.raises(Unauthenticated):
        hotpath.hold(a_hold(account_id, key_id, 1), OPEN)

    assert balance_and_held(account_id) == (1_000_000, 0)


def test_a_settle_after_the_hold_was_released_changes_nothing(hotpath, funded):
    account_id, key_id = funded
    hold = a_hold(account_id, key_id, 400_000)
    hotpath.hold(hold, OPEN)
    assert hotpath.settle(hold, a_usage(hold, 100), OPEN) is True

    again = hotpath.settle(hold, a_usage(hold, 100), OPEN)

    assert again is True  # a repeat of an applied settle (a retry) is that settle: charged once
    assert balance_and_held(account_id) == (1_000_000 - 100, 0)
    assert len(list(usage_records(account_id))) == 1


def test_the_hot_path_stays_inside_the_proxys_iam_policy(hotpath, funded):
    account_id, key_id = funded
    hold = a_hold(account_id, key_id, 400_000)
    proxy = TEMPLATE.functions()["ProxyFunction"]

    with RECORDER.recording() as calls:
        hotpath.find_key(keys.digest("tg-unknown"))
        hotpath.hold(hold, OPEN)
        hotpath.settle(hold, a_usage(hold, 1), OPEN)

    assert calls
    assert not denied(calls, proxy.policies, NAMES)


def test_a_spend_cap_refuses_the_hold_that_could_pass_it(hotpath, funded):
    account_id, key_id = funded
    capped = KeyPolicy(spend_cap=SpendCap(amount=500_000, period="month"))
    first = a_hold(account_id, key_id, 300_000, "req-1")
    hotpath.hold(first, capped)
    hotpath.settle(first, a_usage(first, 250_000), capped)

    hotpath.hold(a_hold(account_id, key_id, 250_000, "req-2"), capped)  # 250k + 250k = cap
    with pytest.raises(PaymentRequired) as refused:
        hotpath.hold(a_hold(account_id, key_id, 1, "req-3"), capped)

    assert refused.value.code == "key_spend_cap_reached"
    assert balance_and_held(account_id) == (1_000_000 - 250_000 - 250_000, 250_000)


def test_the_rate_window_counts_requests_up_to_the_limit(hotpath, funded):
    account_id, key_id = funded
    limited = KeyPolicy(rpm=2)
    for request in ("req-1", "req-2"):
        hotpath.hold(a_hold(account_id, key_id, 10, request), limited)

    with pytest.raises(RateLimited) as refused:
        hotpath.hold(a_hold(account_id, key_id, 10, "req-3"), limited)

    assert int(refused.value.headers["Retry-After"]) >= 1
    assert balance_and_held(account_id) == (1_000_000 - 20, 20)


def test_an_expired_key_cannot_take_a_hold(hotpath, funded):
    account_id, key_id = funded
    keys.update_key(
        account_id, key_id, {"expires_at": int((NOW + timedelta(minutes=1)).timestamp())}, now=NOW
    )
    later = a_hold(account_id, key_id, 1)
    later = Hold(
        later.request_id,
        account_id,
        key_id,
        later.model,
        1,
        NOW + timedelta(minutes=2),
        NOW + timedelta(minutes=8),
    )

    with pytest.raises(Unauthenticated) as refused:
        hotpath.hold(later, KeyPolicy(expires_at=NOW + timedelta(minutes=1)))

    assert refused.value.code == "key_expired"


def test_the_token_limit_counts_the_tokens_each_settle_reports(hotpath, funded):
    account_id, key_id = funded
    limited = KeyPolicy(tpm=46)  # a_usage reports 12 + 34 = 46 tokens
    first = a_hold(account_id, key_id, 10, "req-1")
    hotpath.hold(first, limited)
    hotpath.settle(first, a_usage(first, 5), limited)

    with pytest.raises(RateLimited):
        hotpath.hold(a_hold(account_id, key_id, 10, "req-2"), limited)

    assert balance_and_held(account_id) == (1_000_000 - 5, 0)


def window_tokens(key_id: str, at: datetime = NOW) -> int:
    minute = int(at.timestamp()) // 60
    window = RateWindow.get(layout.key_pk(key_id), layout.rate_sk(minute), consistent_read=True)
    return window.tokens


def a_bounded_hold(account_id: str, key_id: str, tokens: int, request_id: str = "req-1") -> Hold:
    """A hold of a request that can bill at most ``tokens`` tokens."""
    return replace(a_hold(account_id, key_id, 10, request_id), tokens=tokens)


def test_concurrent_holds_reserve_their_tokens_and_only_those_that_fit_pass(
    hotpath, funded, atomic_requests
):
    account_id, key_id = funded
    limited = KeyPolicy(tpm=60)  # room for two requests of at most 26 tokens, not three

    def one(index: int) -> str:
        try:
            hotpath.hold(a_bounded_hold(account_id, key_id, 26, f"req-{index}"), limited)
            return "held"
        except RateLimited:
            return "429"

    with ThreadPoolExecutor(max_workers=20) as pool:
        outcomes = list(pool.map(one, range(20)))

    assert outcomes.count("held") == 2 and outcomes.count("429") == 18
    assert window_tokens(key_id) == 52
    assert balance_and_held(account_id) == (1_000_000 - 20, 20)


def test_a_settle_corrects_the_reservation_to_the_tokens_billed(hotpath, funded):
    account_id, key_id = funded
    limited = KeyPolicy(tpm=100)
    first = a_bounded_hold(account_id, key_id, 80, "req-1")
    hotpath.hold(first, limited)
    hotpath.settle(first, a_usage(first, 5), limited)  # 12 + 34 = 46 tokens billed

    hotpath.hold(a_bounded_hold(account_id, key_id, 54, "req-2"), limited)  # 46 + 54 = 100
    with pytest.raises(RateLimited):
        hotpath.hold(a_bounded_hold(account_id, key_id, 1, "req-3"), limited)

    assert window_tokens(key_id) == 100


def test_a_request_that_could_bill_more_than_the_tpm_is_refused_with_400(hotpath, funded):
    account_id, key_id = funded

    with pytest.raises(BadRequest) as refused:
        hotpath.hold(a_bounded_hold(account_id, key_id, 61), KeyPolicy(tpm=60))

    assert refused.value.status == 400 and refused.value.code == "request_above_tpm"
    assert balance_and_held(account_id) == (1_000_000, 0)


def test_a_released_hold_gives_its_tokens_back_to_its_window(hotpath, funded):
    account_id, key_id = funded
    limited = KeyPolicy(tpm=60)
    hotpath.hold(a_bounded_hold(account_id, key_id, 50), limited)
    (expired,) = hotpath.expired_holds(NOW + timedelta(hours=1))

    assert hotpath.release(expired) is True

    assert window_tokens(key_id) == 0
    hotpath.hold(a_bounded_hold(account_id, key_id, 60, "req-2"), limited)
