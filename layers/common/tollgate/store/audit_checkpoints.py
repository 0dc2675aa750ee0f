"""Audit checkpoints: ``checkpoints/<account id>/<sequence, 12 digits>.json`` in the audit
checkpoint bucket, whose Object Lock locks every version when it is written.

The checkpoint job only puts and asks whether a key exists; the verifier reads every version
of an account's checkpoints, so a later put under the same key cannot hide an earlier one.
"""

from __future__ import annotations

import functools
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import boto3
from botocore.config import Config
from botocore.exceptions import BotoCoreError, ClientError

from tollgate.errors import InternalError
from tollgate.observability import logger
from tollgate.settings import Settings

PREFIX = "checkpoints/"


def checkpoint_key(account_id: str, sequence: int) -> str:
    return f"{PREFIX}{account_id}/{sequence:012d}.json"


@dataclass(frozen=True)
class CheckpointObjects:
    client: Any
    bucket: str

    def exists(self, key: str) -> bool:
        with _s3_errors("head_checkpoint"):
            try:
                self.client.head_object(Bucket=self.bucket, Key=key)
            except ClientError as error:
                if error.response["Error"].get("Code") in ("404", "NoSuchKey", "NotFound"):
                    return False
                raise
        return True

    def put(self, key: str, body: bytes) -> None:
        with _s3_errors("put_checkpoint"):
            # S3 refuses a put into an Object Lock bucket without an integrity checksum;
            # Lambda's bundled boto3 may be older than the one that adds it by default
            self.client.put_object(
                Bucket=self.bucket,
                Key=key,
                Body=body,
                ContentType="application/json",
                ChecksumAlgorithm="SHA256",
            )

    def every_version(self, account_id: str) -> list[bytes]:
        """The body of every version of every checkpoint of the account."""
        bodies = []
        with _s3_errors("read_checkpoints"):
            pages = self.client.get_paginator("list_object_versions").paginate(
                Bucket=self.bucket, Prefix=f"{PREFIX}{account_id}/"
            )
            for page in pages:
                for version in page.get("Versions", []):
                    found = self.client.get_object(
                        Bucket=self.bucket, Key=version["Key"], VersionId=version["VersionId"]
                    )
                    bodies.append(found["Body"].read())
        return bodies


@functools.cache
def checkpoint_objects(settings: Settings) -> CheckpointObjects:
    """One client per container; ``aws_endpoint_url`` points it at a local stand-in."""
    if not settings.audit_checkpoint_bucket:
        raise InternalError("The audit checkpoint bucket is not configured.")
    client = boto3.client(
        "s3",
        region_name=settings.region,
        endpoint_url=settings.aws_endpoint_url,
        config=Config(signature_version="s3v4", retries={"mode": "standard"}),
    )
    return CheckpointObjects(client, settings.audit_checkpoint_bucket)


@contextmanager
def _s3_errors(operation: str) -> Iterator[None]:
    try:
        yield
    except (ClientError, BotoCoreError) as error:
        code = error.response["Error"].get("Code") if isinstance(error, ClientError) else None
        logger.exception("audit checkpoint failure", extra={"operation": operation, "code": code})
        raise InternalError("The audit checkpoints could not be read or written.") from error
