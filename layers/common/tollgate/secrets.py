"""Secrets Manager values, read through Powertools parameters with a per-container cache."""

from __future__ import annotations

from aws_lambda_powertools.utilities import parameters

from tollgate.errors import InternalError
from tollgate.observability import logger
from tollgate.settings import Settings


def operator_key_digests(settings: Settings) -> frozenset[str]:
    """The hex SHA-256 digests the operator key may match (several during a rotation)."""
    try:
        value = parameters.get_secret(
            settings.operator_key_secret, max_age=settings.secrets_max_age_seconds
        )
    except parameters.exceptions.GetParameterError:
        logger.error("the operator key secret has no value; operator routes are closed")
        return frozenset()
    return frozenset(part.strip().lower() for part in str(value).split(",") if part.strip())


def stripe_api_key(settings: Settings) -> str | None:
    """The Stripe API key (``tollgate/<env>/stripe-api-key``); None when this function is not
    given that secret or it has no value."""
    value = _secret_text(settings.stripe_api_key_secret, settings, "Stripe API key")
    return (value or "").strip() or None


def stripe_webhook_secrets(settings: Settings) -> tuple[str, ...]:
    """The webhook signing secret(s) (``tollgate/<env>/stripe-webhook-secret``): during a
    signing-secret roll Stripe signs with the old and the new one for a while, so the value
    may hold two, comma-separated. Empty when there is none."""
    value = _secret_text(settings.stripe_webhook_secret, settings, "Stripe webhook secret")
    return tuple(part.strip() for part in (value or "").split(",") if part.strip())


def _secret_text(secret_id: str | None, settings: Settings, what: str) -> str | None:
    if secret_id is None:
        logger.error("a secret this function needs is not given to it", extra={"secret": what})
        return None
    try:
        value = parameters.get_secret(secret_id, max_age=settings.secrets_max_age_seconds)
    except parameters.exceptions.GetParameterError:
        logger.error("a secret has no value", extra={"secret": what})
        return None
    return str(value)


def audit_keys(settings: Settings) -> tuple[bytes, ...]:
    """The audit trail's HMAC keys, newest (the one that signs) first; InternalError when the
    secret has none, so that no administrative action goes unsigned."""
    value = None
    if settings.audit_key_secret:
        try:
            value = parameters.get_secret(
                settings.audit_key_secret, max_age=settings.secrets_max_age_seconds
            )
        except parameters.exceptions.GetParameterError:
            value = None
    found = tuple(part.strip().encode() for part in str(value or "").split(",") if part.strip())
    if not found:
        logger.error("the audit key secret has no value; audit events cannot be signed")
        raise InternalError("The audit trail is not configured.")
    return found
