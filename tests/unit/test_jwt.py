"""RS256 verification with the standard library, checked against cryptography's signatures,
and the JWKS cache that feeds it."""

from __future__ import annotations

import base64
import json

import pytest
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import padding, rsa

from tollgate.identity import jwt, sessions


def b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def int_b64(value: int) -> str:
    return b64(value.to_bytes((value.bit_length() + 7) // 8, "big"))


@pytest.fixture(scope="module")
def key() -> rsa.RSAPrivateKey:
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


def signed(key: rsa.RSAPrivateKey, claims: dict, header: dict | None = None) -> str:
    header = header or {"alg": "RS256", "kid": "k1"}
    signing_input = f"{b64(json.dumps(header).encode())}.{b64(json.dumps(claims).encode())}"
    signature = key.sign(signing_input.encode(), padding.PKCS1v15(), hashes.SHA256())
    return f"{signing_input}.{b64(signature)}"


def public(key: rsa.RSAPrivateKey) -> tuple[int, int]:
    numbers = key.public_key().public_numbers()
    return numbers.n, numbers.e


def test_a_signature_made_by_cryptography_verifies(key):
    token = jwt.parse(signed(key, {"sub": "p1"}))

    assert jwt.rs256_valid(token.signing_input, token.signature, *public(key))
    assert token.claims == {"sub": "p1"}


def test_a_changed_claim_breaks_the_signature(key):
    header, _, signature = signed(key, {"sub": "p1"}).split(".")
    forged = jwt.parse(f"{header}.{b64(json.dumps({'sub': 'p2'}).encode())}.{signature}")

    assert not jwt.rs256_valid(forged.signing_input, forged.signature, *public(key))


def test_another_keys_signature_does_not_verify(key):
    other = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    token = jwt.parse(signed(other, {"sub": "p1"}))

    assert not jwt.rs256_valid(token.signing_input, token.signature, *public(key))


def test_a_key_shorter_than_2048_bits_is_not_trusted():
    small = rsa.generate_private_key(public_exponent=65537, key_size=1024)
    token = jwt.parse(signed(small, {"sub": "p1"}))

    assert not jwt.rs256_valid(token.signing_input, token.signature, *public(small))


@pytest.mark.parametrize(
    "text", ["", "a.b", "a.b.c.d", "!!.e30.x", "e30.W10.", "x" * 20_000 + ".e30.e30"]
)
def test_malformed_tokens_are_refused(text):
    with pytest.raises(jwt.InvalidToken):
        jwt.parse(text)


def jwks(key: rsa.RSAPrivateKey, kid: str) -> dict:
    n, e = public(key)
    return {
        "keys": [
            {
                "kty": "RSA",
                "kid": kid,
                "alg": "RS256",
                "use": "sig",
                "n": int_b64(n),
                "e": int_b64(e),
            }
        ]
    }


def test_the_jwks_is_fetched_once_and_again_for_an_unknown_key_id(key, monkeypatch):
    fetched: list[str] = []
    documents = iter([jwks(key, "k1"), jwks(key, "k2")])
    monkeypatch.setattr(sessions, "fetch_jwks", lambda url: fetched.append(url) or next(documents))
    monkeypatch.setattr(sessions, "JWKS_REFETCH_SECONDS", 0)
    keys = sessions.SigningKeys("https://example.test/jwks.json")

    assert keys.key("k1") == public(key)
    assert keys.key("k1") == public(key)
    assert keys.key("k2") == public(key)  # rotated: fetched again

    assert len(fetched) == 2


def test_made_up_key_ids_do_not_fetch_the_jwks_more_than_once_a_minute(key, monkeypatch):
    fetched: list[str] = []
    monkeypatch.setattr(sessions, "fetch_jwks", lambda url: fetched.append(url) or jwks(key, "k1"))
    keys = sessions.SigningKeys("https://example.test/jwks.json")

    found = [keys.key(f"made-up-{n}") for n in range(10)]

    assert found == [None] * 10
    assert len(fetched) == 1


def test_a_key_that_is_not_an_rsa_signing_key_is_ignored(key):
    document = jwks(key, "k1")
    document["keys"].append({"kty": "EC", "kid": "ec", "crv": "P-256", "x": "AA", "y": "AA"})
    document["keys"].append({**document["keys"][0], "kid": "enc", "use": "enc"})

    assert set(sessions.parse_jwks(document)) == {"k1"}
