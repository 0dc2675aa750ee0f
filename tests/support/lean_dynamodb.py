"""The proxy's lean DynamoDB client interface, carried by botocore so moto's mock serves it."""

from __future__ import annotations

import boto3
from botocore.exceptions import ClientError

from tests.support.environment import NAMES
from tollgate.aws import AwsError


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
