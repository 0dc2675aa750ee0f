"""Secrets Manager values, read through Powertools parameters with a per-container cache."""

from __future__ import annotations

from aws_lambda_powertools.utilities import parameters

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
