"""Typed settings read once from the environment: the hot path's AWS client timeout."""

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
