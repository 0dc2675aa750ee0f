"""A key's policy: every field validated with a 400 naming it, and enforced at its boundary."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from tollgate.errors import BadRequest, Forbidden, Unauthenticated
from tollgate.key_policy import (
    KeyPolicy,
    SpendCap,
    check_endpoint,
    check_expiry,
    check_model,
    check_provider,
    check_source_ip,
    parse_policy,
    policy_view,
    spend_period,
)

NOW = datetime(2026, 11, 23, 10, 0, tzinfo=UTC)


def parse(**body):
    return parse_policy(body, KeyPolicy(), now=NOW)


def test_every_field_parses_into_the_policy():
    policy = parse(
        environment="staging",
        allowed_models=["openai/*", "anthropic/claude-haiku-4-5"],
        allowed_endpoints=["chat.completions", "messages"],
        allowed_cidrs=["10.0.0.0/8", "2001:db8::/32", "192.0.2.7"],
        expires_at="2027-01-01T00:00:00Z",
        spend_cap={"amount_usd": "25.50", "period": "month"},
        rate_limit={"rpm": 60, "tpm": 100_000},
        tags={"team": "search"},
    )

    assert policy.environment == "staging"
    assert policy.allowed_cidrs == ("10.0.0.0/8", "2001:db8::/32", "192.0.2.7/32")
    assert policy.expires_at == datetime(2027, 1, 1, tzinfo=UTC)
    assert policy.spend_cap == SpendCap(25_500_000_000, "month")
    assert (policy.rpm, policy.tpm) == (60, 100_000)
    assert policy_view(policy)["spend_cap"] == {"amount_usd": "25.50", "period": "month"}


def test_null_clears_a_field_and_absent_keeps_it():
    base = parse(rate_limit={"rpm": 5}, environment="prod")

    changed = parse_policy({"rate_limit": None}, base, now=NOW)

    assert (changed.rpm, changed.tpm) == (None, None)
    assert changed.environment == "prod"


@pytest.mark.parametrize(
    ("body", "param"),
    [
        ({"environment": 7}, "environment"),
        ({"allowed_models": "openai/*"}, "allowed_models"),
        ({"allowed_models": []}, "allowed_models"),
        ({"allowed_models": ["bad model id!"]}, "allowed_models"),
        ({"allowed_endpoints": ["completions"]}, "allowed_endpoints"),
        ({"allowed_cidrs": ["10.0.0.0/33"]}, "allowed_cidrs"),
        ({"allowed_cidrs": ["not-an-ip"]}, "allowed_cidrs"),
        ({"expires_at": "tomorrow"}, "expires_at"),
        ({"expires_at": int((NOW - timedelta(seconds=1)).timestamp())}, "expires_at"),
        ({"spend_cap": {"amount_usd": "1.5", "period": "week"}}, "spend_cap.period"),
        ({"spend_cap": {"amount_usd": "-1", "period": "day"}}, "spend_cap.amount_usd"),
        ({"spend_cap": {"amount_usd": 0.5, "period": "day"}}, "spend_cap.amount_usd"),
        ({"spend_cap": {"amount_usd": "0", "period": "day"}}, "spend_cap.amount_usd"),
        ({"spend_cap": "10"}, "spend_cap"),
        ({"rate_limit": {"rpm": 0}}, "rate_limit.rpm"),
        ({"rate_limit": {"tpm": "many"}}, "rate_limit.tpm"),
        ({"rate_limit": {"rps": 1}}, "rate_limit"),
        ({"tags": {"team": 1}}, "tags"),
    ],
)
def test_a_bad_field_is_a_400_naming_it(body, param):
    with pytest.raises(BadRequest) as refused:
        parse(**body)

    assert refused.value.param == param


def test_model_globs_allow_only_what_they_match():
    policy = parse(allowed_models=["openai/gpt-4o*", "gemini/gemini-2.5-flash"])

    check_model(policy, "openai/gpt-4o-mini")
    check_model(policy, "gemini/gemini-2.5-flash")
    with pytest.raises(Forbidden):
        check_model(policy, "gemini/gemini-2.5-pro")


def test_endpoints_outside_the_list_are_forbidden():
    policy = parse(allowed_endpoints=["embeddings"])

    check_endpoint(policy, "embeddings")
    with pytest.raises(Forbidden) as refused:
        check_endpoint(policy, "chat.completions")
    assert refused.value.code == "endpoint_not_allowed"


@pytest.mark.parametrize(
    ("address", "allowed"),
    [("10.1.2.3", True), ("11.0.0.1", False), ("2001:db8::1", True), ("2001:db9::1", False)],
)
def test_source_networks_cover_ipv4_and_ipv6(address, allowed):
    policy = parse(allowed_cidrs=["10.0.0.0/8", "2001:db8::/32"])

    if allowed:
        check_source_ip(policy, address)
    else:
        with pytest.raises(Forbidden):
            check_source_ip(policy, address)


def test_a_key_expires_at_its_expiry_time_exactly():
    policy = parse(expires_at=int((NOW + timedelta(hours=1)).timestamp()))

    check_expiry(policy, NOW + timedelta(minutes=59, seconds=59))
    with pytest.raises(Unauthenticated) as refused:
        check_expiry(policy, NOW + timedelta(hours=1))
    assert refused.value.code == "key_expired"


def test_spend_periods_are_utc_days_months_or_lifetime():
    assert spend_period(SpendCap(1, "day"), NOW) == "2026-11-23"
    assert spend_period(SpendCap(1, "month"), NOW) == "2026-11"
    assert spend_period(SpendCap(1, "lifetime"), NOW) == "lifetime"


def test_browser_origins_are_exact_and_never_a_wildcard():
    policy = parse_policy(
        {"allowed_origins": ["https://App.example.com", "http://localhost:5173"]},
        KeyPolicy(),
        now=NOW,
    )

    assert policy.allowed_origins == ("https://app.example.com", "http://localhost:5173")
    for bad in ("*", "https://*.example.com", "https://app.example.com/path", "app.example.com"):
        with pytest.raises(BadRequest) as refused:
            parse_policy({"allowed_origins": [bad]}, KeyPolicy(), now=NOW)
        assert refused.value.param == "allowed_origins"


def test_require_no_training_is_a_boolean():
    assert parse_policy({"require_no_training": True}, KeyPolicy(), now=NOW).require_no_training
    with pytest.raises(BadRequest):
        parse_policy({"require_no_training": "yes"}, KeyPolicy(), now=NOW)


def test_a_key_requiring_no_training_is_refused_a_provider_not_marked_so():
    strict, lax = KeyPolicy(require_no_training=True), KeyPolicy()

    check_provider(strict, "openai/gpt-4o", no_training=True)
    check_provider(lax, "videolab/video-1", no_training=False)
    with pytest.raises(Forbidden) as refused:
        check_provider(strict, "videolab/video-1", no_training=False)
    assert (refused.value.code, refused.value.param) == ("model_not_allowed", "model")
    assert "do not train on API data" in refused.value.message
