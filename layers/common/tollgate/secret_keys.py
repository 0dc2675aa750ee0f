"""API key secrets as presented and as stored: generation, digest, and where a request
carries one. Kept free of storage imports so the proxy's cold start stays light."""

from __future__ import annotations

import hashlib
import secrets
from collections.abc import Mapping

SECRET_PREFIX = "tg-"


def generate_secret() -> str:
    """``tg-`` followed by 256 random bits, base64url-encoded."""
    return SECRET_PREFIX + secrets.token_urlsafe(32)


def digest(secret: str) -> str:
    """What is stored instead of the secret: its hex SHA-256."""
    return hashlib.sha256(secret.encode()).hexdigest()


def presented_key(headers: Mapping[str, str] | None) -> str | None:
    """The key of ``Authorization: Bearer <key>`` or ``x-api-key: <key>`` (Anthropic SDKs)."""
    for name, value in (headers or {}).items():
        lowered = name.lower()
        if lowered == "authorization":
            scheme, _, token = value.strip().partition(" ")
            if scheme.lower() == "bearer" and token.strip():
                return token.strip()
        elif lowered == "x-api-key" and value.strip():
            return value.strip()
    return None
