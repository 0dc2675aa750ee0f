"""Key secrets, digests, parsing and views: pure logic, no AWS."""

from __future__ import annotations

import base64
import hashlib
from datetime import UTC, datetime

import pytest

from tollgate import keys
from tollgate.errors import BadRequest
from tollgate.secret_keys import presented_key

NOW = datetime(2026, 11, 23, 10, 0, tzinfo=UTC)


def test_a_secret_carries_256_random_bits_after_its_prefix():
    secret = keys.generate_secret()

    assert secret.startswith("tg-")
    raw = base64.urlsafe_b64decode(secret[3:] + "=" * (-len(secret[3:]) % 4))
    assert len(raw) * 8 >= 256


def test_secrets_do_not_repeat():
    assert len({keys.generate_secret() for _ in range(1000)}) == 1000


def test_the_digest_is_the_sha256_of_the_secret():
    assert keys.digest("tg-abc") == hashlib.sha256(b"tg-abc").hexdigest()


def test_a_built_key_stores_the_digest_and_only_a_prefix_and_last_four():
    created = keys.build_key("acct_1", keys.NewKey(name="ci", role="inference"), now=NOW)

    key = created.key
    assert key.digest == keys.digest(created.secret)
    assert key.prefix == created.secret[:7] and key.last_four == created.secret[-4:]
    assert created.secret not in str(key.attribute_values)
    assert key.key_id.startswith("key_") and key.key_id not in created.secret


def test_the_view_shows_the_secret_only_when_asked_and_never_the_digest():
    created = keys.build_key("acct_1", keys.NewKey(name="ci", role="admin"), now=NOW)

    listed = keys.key_view(created.key)
    shown = keys.key_view(created.key, secret=created.secret)

    assert "secret" not in listed and shown["secret"] == created.secret
    assert created.key.digest not in str(listed) + str(shown)
    assert listed["created_at"] == int(NOW.timestamp())


def test_a_new_key_defaults_to_the_inference_role():
    assert keys.parse_new_key({}) == keys.NewKey(name="", role="inference")


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"role": "operator"}, "role"),
        ({"name": ["x"]}, "name"),
        ({"name": "x" * 101}, "name"),
        ({"expires": "never"}, "expires"),
    ],
)
def test_a_bad_new_key_names_the_field(body, field):
    with pytest.raises(BadRequest) as refused:
        keys.parse_new_key(body)
    assert refused.value.param == field


@pytest.mark.parametrize(
    ("headers", "expected"),
    [
        ({"Authorization": "Bearer tg-abc"}, "tg-abc"),
        ({"authorization": "bearer  tg-abc "}, "tg-abc"),
        ({"x-api-key": "tg-abc"}, "tg-abc"),
        ({"X-Api-Key": "tg-abc"}, "tg-abc"),
        ({"Authorization": "Basic dXNlcjpwYXNz"}, None),
        ({"Authorization": "Bearer "}, None),
        ({}, None),
        (None, None),
    ],
)
def test_the_presented_key_comes_from_bearer_or_x_api_key(headers, expected):
    assert presented_key(headers) == expected
