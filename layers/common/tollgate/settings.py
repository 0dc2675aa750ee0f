"""Typed settings, read once from the environment at cold start and passed in."""

from __future__ import annotations

import functools
import os
from collections.abc import Mapping
from dataclasses import dataclass
from urllib.parse import urlsplit


class SettingsError(RuntimeError):
    """A required environment variable is missing or malformed."""


@dataclass(frozen=True)
class Settings:
    """The function's configuration, read from its environment variables."""

    environment: str
    region: str
    keys_table: str
    wallet_table: str
    metadata_table: str
    audit_table: str
    archive_bucket: str
    operator_key_secret: str
    provider_keys_secret: str
    catalog_path: str | None = None
    secrets_max_age_seconds: int = 300
    aws_endpoint_url: str | None = None  # a local stand-in for AWS (devstack's moto)
    aws_timeout_seconds: float = 5.0  # the hot path's own DynamoDB and Secrets Manager client
    upstream_connect_timeout_seconds: float = 5.0
    upstream_read_timeout_seconds: float = 240.0  # a long non-streamed answer takes minutes
    stripe_api_base: str | None = None  # devstack's Stripe stand-in; None: Stripe itself
    # Each Stripe secret is given only to the functions that need it (None elsewhere): the API
    # key to those that call Stripe, the webhook signing secret to the webhook alone.
    stripe_api_key_secret: str | None = None
    stripe_webhook_secret: str | None = None
    checkout_min_usd: str = "5.00"
    checkout_max_usd: str = "1000.00"
    adjustment_max_usd: str = "100000.00"  # the largest operator credit or debit
    checkout_success_url: str = "https://example.com/tollgate/topup/success"
    checkout_cancel_url: str = "https://example.com/tollgate/topup/cancelled"
    audit_key_secret: str | None = None  # the audit trail's HMAC key(s)
    audit_checkpoint_bucket: str | None = None  # the Object Lock bucket of audit checkpoints
    console_url: str = "https://example.com/tollgate/console"  # where invitation links point
    export_bucket: str | None = None  # account exports (ZIPs), for the functions that use them
    exports_queue_url: str | None = None  # the export jobs' queue
    # Identity (Cognito): the pool and the console's app client; JWKS URL overridable (devstack)
    cognito_user_pool_id: str | None = None
    cognito_client_id: str | None = None
    cognito_jwks_url: str | None = None  # None: the pool's own, derived from its issuer
    self_signup: bool = True  # False: invite-only, /v1/auth/signup answers 403

    @property
    def console_origin(self) -> str:
        """The console's browser origin (scheme://host[:port]): the only one the management
        API answers cross-origin requests for."""
        parts = urlsplit(self.console_url)
        return f"{parts.scheme}://{parts.netloc}".lower()

    @property
    def cognito_issuer(self) -> str:
        """The ``iss`` of the pool's tokens (moto's too)."""
        return f"https://cognito-idp.{self.region}.amazonaws.com/{self.cognito_user_pool_id}"

    @property
    def jwks_url(self) -> str:
        return self.cognito_jwks_url or f"{self.cognito_issuer}/.well-known/jwks.json"

    notifications_queue_url: str | None = None  # where tollgate.notifications.send queues mail
    sender_email: str | None = None  # the verified SES sender (MailerFunction only)
    support_email: str | None = None  # the operator's support inbox (new tickets, replies)
    ticket_attachments_bucket: str | None = None  # tickets' files (TicketsFunction, purge)
    tickets_per_hour: int = 10  # tickets an account may open in one UTC hour
    # A client's GET of an unfinished video asks the provider at most this often per job,
    # however many clients poll (the scheduled function asks every minute regardless)
    video_poll_interval_seconds: float = 5.0

    @classmethod
    def from_env(cls, env: Mapping[str, str]) -> Settings:
        def required(name: str) -> str:
            value = env.get(name, "").strip()
            if not value:
                raise SettingsError(f"environment variable {name} is not set")
            return value

        region = env.get("AWS_REGION") or env.get("AWS_DEFAULT_REGION")
        if not region:
            raise SettingsError("environment variable AWS_REGION is not set")
        max_age = env.get("TOLLGATE_SECRETS_MAX_AGE", "300")
        if not max_age.isdigit():
            raise SettingsError(f"TOLLGATE_SECRETS_MAX_AGE must be whole seconds, got {max_age!r}")
        return cls(
            environment=env.get("TOLLGATE_ENV", "dev"),
            region=region,
            keys_table=required("KEYS_TABLE"),
            wallet_table=required("WALLET_TABLE"),
            metadata_table=required("METADATA_TABLE"),
            audit_table=required("AUDIT_TABLE"),
            archive_bucket=required("ARCHIVE_BUCKET"),
            operator_key_secret=required("OPERATOR_KEY_SECRET"),
            provider_keys_secret=required("PROVIDER_KEYS_SECRET"),
            catalog_path=env.get("TOLLGATE_CATALOG_PATH") or None,
            secrets_max_age_seconds=int(max_age),
            aws_endpoint_url=env.get("AWS_ENDPOINT_URL") or None,
            aws_timeout_seconds=_seconds(env, "TOLLGATE_AWS_TIMEOUT", 5),
            upstream_connect_timeout_seconds=_seconds(env, "TOLLGATE_UPSTREAM_CONNECT_TIMEOUT", 5),
            upstream_read_timeout_seconds=_seconds(env, "TOLLGATE_UPSTREAM_READ_TIMEOUT", 240),
            stripe_api_base=env.get("STRIPE_API_BASE") or None,
            stripe_api_key_secret=env.get("STRIPE_API_KEY_SECRET_ID") or None,
            stripe_webhook_secret=env.get("STRIPE_WEBHOOK_SECRET_ID") or None,
            checkout_min_usd=env.get("TOLLGATE_CHECKOUT_MIN_USD", "5.00"),
            checkout_max_usd=env.get("TOLLGATE_CHECKOUT_MAX_USD", "1000.00"),
            adjustment_max_usd=env.get("TOLLGATE_ADJUSTMENT_MAX_USD", "100000.00"),
            checkout_success_url=env.get(
                "TOLLGATE_CHECKOUT_SUCCESS_URL", "https://example.com/tollgate/topup/success"
            ),
            checkout_cancel_url=env.get(
                "TOLLGATE_CHECKOUT_CANCEL_URL", "https://example.com/tollgate/topup/cancelled"
            ),
            audit_key_secret=env.get("AUDIT_KEY_SECRET") or None,
            audit_checkpoint_bucket=env.get("AUDIT_CHECKPOINT_BUCKET") or None,
            console_url=env.get("TOLLGATE_CONSOLE_URL") or Settings.console_url,
            export_bucket=env.get("EXPORT_BUCKET") or None,
            exports_queue_url=env.get("EXPORTS_QUEUE_URL") or None,
            cognito_user_pool_id=env.get("COGNITO_USER_POOL_ID") or None,
            cognito_client_id=env.get("COGNITO_CLIENT_ID") or None,
            cognito_jwks_url=env.get("TOLLGATE_COGNITO_JWKS_URL") or None,
            self_signup=_flag(env, "TOLLGATE_SELF_SIGNUP", default=True),
            notifications_queue_url=env.get("NOTIFICATIONS_QUEUE_URL") or None,
            sender_email=env.get("TOLLGATE_SENDER_EMAIL") or None,
            support_email=env.get("TOLLGATE_SUPPORT_EMAIL") or None,
            ticket_attachments_bucket=env.get("TICKET_ATTACHMENTS_BUCKET") or None,
            tickets_per_hour=_count(env, "TOLLGATE_TICKETS_PER_HOUR", 10),
            video_poll_interval_seconds=_seconds(env, "TOLLGATE_VIDEO_POLL_INTERVAL", 5),
        )


def _flag(env: Mapping[str, str], name: str, *, default: bool) -> bool:
    raw = env.get(name, "").strip().lower()
    if not raw:
        return default
    if raw not in ("true", "false"):
        raise SettingsError(f"{name} must be true or false, got {raw!r}")
    return raw == "true"


def _count(env: Mapping[str, str], name: str, default: int) -> int:
    value = env.get(name, "").strip()
    if not value:
        return default
    if not value.isdigit() or int(value) < 1:
        raise SettingsError(f"{name} must be a whole number of at least 1, got {value!r}")
    return int(value)


def _seconds(env: Mapping[str, str], name: str, default: float) -> float:
    raw = env.get(name)
    if raw is None:
        return default
    try:
        value = float(raw)
    except ValueError:
        value = -1.0
    if value <= 0:
        raise SettingsError(f"{name} must be a positive number of seconds, got {raw!r}")
    return value


@functools.cache
def get_settings() -> Settings:
    """The container's settings; the environment is read on the first call only."""
    return Settings.from_env(os.environ)
