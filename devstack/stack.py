"""The local stack's names, development secrets and the environment its functions run in."""

from __future__ import annotations

import argparse
import hashlib
import json
import secrets
from collections.abc import Callable

from devstack.template import LocalNames, Template, resolve

STACK = "tollgate-local"
STRIPE_TEST_API_KEY = "sk_test_devstack"  # what devstack's Stripe stand-in accepts
REGION = "us-east-1"
PROVIDER_KINDS = ("openai", "anthropic", "gemini")
# The provider key of an external upstream given without one (--upstream alone).
NO_PROVIDER_KEY = "devstack-no-key"

# The process-wide settings every local function shares: fake credentials so that nothing can
# ever reach a real AWS account, tracing off (there is no X-Ray daemon), JSON logs.
BASE_ENVIRONMENT = {
    "AWS_ACCESS_KEY_ID": "devstack",
    "AWS_SECRET_ACCESS_KEY": "devstack",
    "AWS_SESSION_TOKEN": "devstack",
    "AWS_REGION": REGION,
    "AWS_DEFAULT_REGION": REGION,
    "POWERTOOLS_TRACE_DISABLED": "true",
    "TOLLGATE_SECRETS_MAX_AGE": "5",
    # The mock upstreams answer at once, or never (`[[mock:fault=timeout]]`, which waits this
    # long): generous, so that a loaded machine's slow answer is never taken for a timeout.
    "TOLLGATE_UPSTREAM_READ_TIMEOUT": "30",
    # moto answers one request at a time, in the same process as everything else: on a loaded
    # machine an answer can take longer than DynamoDB's ever would.
    "TOLLGATE_AWS_TIMEOUT": "60",
    # The mock providers make a video in about a second: a client's GET may ask them every
    # second, where a real provider is asked every 5 s at most.
    "TOLLGATE_VIDEO_POLL_INTERVAL": "1",
}


def functions_environment(template: Template, names: LocalNames) -> dict[str, str]:
    """The union of every function's resolved environment (functions share one process)."""
    merged: dict[str, str] = {}
    for function in template.functions().values():
        for name, value in resolve(function.environment, names).items():
            if merged.setdefault(name, str(value)) != str(value):
                raise ValueError(f"functions disagree on environment variable {name}")
    return merged


def jwks_url(aws_url: str, names: LocalNames) -> str:
    """Where moto serves the user pool's JWKS (as a server: by path, not by Cognito's host)."""
    return f"{aws_url}/{names.refs['UserPool']}/.well-known/jwks.json"


def new_operator_key() -> str:
    return "tg-op-" + secrets.token_urlsafe(32)


def development_secrets(
    *, operator_key: str, provider_keys: dict[str, str], stripe_webhook_secret: str
) -> dict[str, str]:
    """The values devstack puts into the template's secrets (by logical id)."""
    return {
        "OperatorKeySecret": hashlib.sha256(operator_key.encode()).hexdigest(),
        "ProviderKeysSecret": json.dumps(provider_keys),
        "StripeApiKeySecret": STRIPE_TEST_API_KEY,
        "StripeWebhookSecret": stripe_webhook_secret,
    }


def provider_kind_and(what: str) -> Callable[[str], tuple[str, str]]:
    """An argparse type for KIND=VALUE options, KIND a provider kind; ``what`` names
    VALUE, and a "url" must be an http(s) URL."""

    def parse(text: str) -> tuple[str, str]:
        kind, _, value = text.partition("=")
        if kind not in PROVIDER_KINDS or not value:
            kinds = ", ".join(PROVIDER_KINDS)
            raise argparse.ArgumentTypeError(
                f"{text!r}: expected KIND={what.upper()}, KIND one of {kinds}"
            )
        if what == "url" and not value.startswith(("http://", "https://")):
            raise argparse.ArgumentTypeError(f"{value!r} is not an http(s) URL")
        return kind, value

    return parse
