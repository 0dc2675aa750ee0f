"""The export jobs' queue: POST /v1/account/exports sends one message per export, and
ExportFunction receives it (an SQS event source, one message per invocation)."""

from __future__ import annotations

import functools
import json
from typing import Any

import boto3
from botocore.config import Config
from botocore.exceptions import BotoCoreError, ClientError

from tollgate.errors import InternalError
from tollgate.observability import logger
from tollgate.settings import Settings
from tollgate.validation import json_object, text_field


def enqueue(settings: Settings, account_id: str, export_id: str) -> None:
    body = json.dumps({"account_id": account_id, "export_id": export_id})
    try:
        _client(settings).send_message(QueueUrl=_queue_url(settings), MessageBody=body)
    except (ClientError, BotoCoreError) as error:
        logger.exception("export not queued", extra={"export_id": export_id})
        raise InternalError("The export could not be started; try again.") from error


def parse_message(body: str) -> tuple[str, str]:
    """(account id, export id) of a queued export; BadRequest when the body is not one."""
    message = json_object(body)
    return (
        text_field(message, "account_id", required=True),
        text_field(message, "export_id", required=True),
    )


def _queue_url(settings: Settings) -> str:
    if not settings.exports_queue_url:
        raise InternalError("Exports are not configured (EXPORTS_QUEUE_URL is not set).")
    return settings.exports_queue_url


@functools.cache
def _client(settings: Settings) -> Any:
    """One client per container; ``aws_endpoint_url`` points it at a local stand-in."""
    return boto3.client(
        "sqs",
        region_name=settings.region,
        endpoint_url=settings.aws_endpoint_url,
        config=Config(retries={"mode": "standard"}),
    )
