"""The proxy's lean DynamoDB client interface, carried by botocore so moto's mock serves it,
and the usage records the proxy settles with."""

from __future__ import annotations

from typing import Any

import boto3
from botocore.exceptions import ClientError

from tests.support.environment import NAMES
from tollgate.aws import AwsError
from tollgate.store.hotpath import Hold, UsageRecord


class BotoJsonClient:
    """``call(operation, payload)`` as ``tollgate.aws`` offers it, errors translated alike."""

    def __init__(self) -> None:
        self.client = boto3.client("dynamodb", region_name=NAMES.region)

    def call(self, operation: str, payload: dict) -> dict:
        try:
            return self.client._make_api_call(operation, payload)
        except ClientError as error:
            raise AwsError(
                error.response["Error"]["Code"],
                error.response["Error"].get("Message", ""),
                cancellation_reasons=error.response.get("CancellationReasons"),
            ) from error


def a_usage(hold: Hold, charge: int, **overrides: Any) -> UsageRecord:
    """The usage record of a request the proxy settled on ``hold`` (an OpenAI chat call,
    12 tokens in and 34 out, at the hold's time); ``overrides`` change any field."""
    fields: dict[str, Any] = {
        "request_id": hold.request_id,
        "account_id": hold.account_id,
        "key_id": hold.key_id,
        "model": hold.model,
        "provider": "openai",
        "upstream_model": "gpt-4o-2024-08-06",
        "route": 0,
        "endpoint": hold.endpoint or "chat.completions",
        "stream": False,
        "status_code": 200,
        "status": "settled",
        "created_at": hold.created_at,
        "input_tokens": 12,
        "output_tokens": 34,
        "hold": hold.amount,
        "charge": charge,
    }
    return UsageRecord(**{**fields, **overrides})
