"""Standard-library AWS access for the hot path: SigV4 signing and a JSON-protocol client."""

from tollgate.aws.client import (
    AwsError,
    AwsJsonClient,
    dynamodb_client,
    endpoint_from_env,
    secrets_client,
)
from tollgate.aws.sigv4 import Credentials, MissingCredentialsError, sign

__all__ = [
    "AwsError",
    "AwsJsonClient",
    "Credentials",
    "MissingCredentialsError",
    "dynamodb_client",
    "endpoint_from_env",
    "secrets_client",
    "sign",
]
