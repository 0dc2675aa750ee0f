"""Secrets Manager values, read through Powertools parameters with a per-container cache."""

from __future__ import annotations

import dataclasses

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


@dataclasses.dataclass(frozen=True, slots=True)
class StripeSecrets:
    """The Stripe secret's JSON object: the API key and the webhook signing secret(s).

    ``webhook_secret`` may be one string or a list of them (during a signing-secret roll,
    Stripe signs with both the old and the new one for a while).
    """

    api_key: str | None
    webhook_secrets: tuple[str, ...]

    def __repr__(self) -> str:  # never print a secret
        return f"StripeSecrets(api_key={'set' if self.api_key else None}, webhook_secrets=...)"


def stripe_secrets(settings: Settings) -> StripeSecrets:
    """The Stripe secret, cached per container like every secret; InternalError when it has
    no usable value (a deployment without its Stripe secret cannot accept webhooks)."""
    try:
        value = parameters.get_secret(
            settings.stripe_secret, transform="json", max_age=settings.secrets_max_age_seconds
        )
    except (
        parameters.exceptions.GetParameterError,
        parameters.exceptions.TransformParameterError,
    ):
        logger.error("the Stripe secret has no JSON value; payments cannot be processed")
        raise InternalError("Payments are not configured.") from None
    if not isinstance(value, dict):
        logger.error("the Stripe secret is not a JSON object")
        raise InternalError("Payments are not configured.")
    webhook = value.get("webhook_secret")
    candidates = webhook if isinstance(webhook, list) else [webhook]
    webhook_secrets = tuple(s for s in candidates if isinstance(s, str) and s)
    api_key = value.get("api_key")
    return StripeSecrets(
        api_key=api_key if isinstance(api_key, str) and api_key else None,
        webhook_secrets=webhook_secrets,
    )


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
