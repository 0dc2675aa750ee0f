"""Typed settings read once from the environment: the hot path's AWS client timeout, identity."""

from __future__ import annotations

import pytest

from tollgate.settings import Settings, SettingsError

REQUIRED = {
    "AWS_REGION": "us-east-1",
    "KEYS_TABLE": "keys",
    "WALLET_TABLE": "wallet",
    "METADATA_TABLE": "metadata",
    "AUDIT_TABLE": "audit",
    "ARCHIVE_BUCKET": "archive",
    "OPERATOR_KEY_SECRET": "operator",
    "PROVIDER_KEYS_SECRET": "providers",
    "STRIPE_SECRET": "stripe",
}


def test_the_aws_client_timeout_defaults_to_five_seconds():
    assert Settings.from_env(REQUIRED).aws_timeout_seconds == 5.0


def test_a_local_stack_may_give_its_aws_stand_in_more_time():
    settings = Settings.from_env({**REQUIRED, "TOLLGATE_AWS_TIMEOUT": "60"})

    assert settings.aws_timeout_seconds == 60.0


def test_a_timeout_that_is_not_a_positive_number_is_refused():
    with pytest.raises(SettingsError, match="TOLLGATE_AWS_TIMEOUT"):
        Settings.from_env({**REQUIRED, "TOLLGATE_AWS_TIMEOUT": "0"})


def test_a_clients_video_poll_reaches_the_provider_every_five_seconds_unless_set():
    assert Settings.from_env(REQUIRED).video_poll_interval_seconds == 5.0
    local = Settings.from_env({**REQUIRED, "TOLLGATE_VIDEO_POLL_INTERVAL": "1"})
    assert local.video_poll_interval_seconds == 1.0


def test_sessions_are_checked_against_the_pools_own_issuer_and_jwks_by_default():
    settings = Settings.from_env({**REQUIRED, "COGNITO_USER_POOL_ID": "us-east-1_abc"})

    assert settings.cognito_issuer == "https://cognito-idp.us-east-1.amazonaws.com/us-east-1_abc"
    assert settings.jwks_url == settings.cognito_issuer + "/.well-known/jwks.json"


def test_a_local_stack_points_the_jwks_elsewhere():
    local = "http://127.0.0.1:5000/us-east-1_abc/.well-known/jwks.json"
    settings = Settings.from_env(
        {**REQUIRED, "COGNITO_USER_POOL_ID": "us-east-1_abc", "TOLLGATE_COGNITO_JWKS_URL": local}
    )

    assert settings.jwks_url == local


@pytest.mark.parametrize(("raw", "expected"), [(None, True), ("true", True), ("false", False)])
def test_self_sign_up_is_on_unless_turned_off(raw, expected):
    env = {**REQUIRED, **({"TOLLGATE_SELF_SIGNUP": raw} if raw else {})}

    assert Settings.from_env(env).self_signup is expected


def test_a_self_sign_up_switch_that_is_not_true_or_false_is_refused():
    with pytest.raises(SettingsError, match="TOLLGATE_SELF_SIGNUP"):
        Settings.from_env({**REQUIRED, "TOLLGATE_SELF_SIGNUP": "maybe"})
