"""Which AWS actions a function really performs, checked against its IAM policy.

A botocore hook records every DynamoDB, Secrets Manager and S3 call made while a function's
handler runs, as (IAM action, resource ARN) pairs; ``denied`` says which of them the
function's policy in template.yaml does not allow. Signing a presigned URL counts as the call
the URL will make (S3 checks the signer's permissions when the URL is used).
"""

from __future__ import annotations

import contextlib
import fnmatch
from collections.abc import Iterator
from typing import Any

from botocore import handlers

from devstack.template import ACCOUNT_ID, LocalNames, resolve

_TRANSACT_ACTIONS = {
    "Put": "PutItem",
    "Update": "UpdateItem",
    "Delete": "DeleteItem",
    "ConditionCheck": "ConditionCheckItem",
}

# S3 operations and the IAM action each needs on its object (the rest: on the bucket).
_S3_OBJECT_ACTIONS = {
    "GetObject": "s3:GetObject",
    "HeadObject": "s3:GetObject",
    "PutObject": "s3:PutObject",
    "CopyObject": "s3:PutObject",
    "CreateMultipartUpload": "s3:PutObject",
    "UploadPart": "s3:PutObject",
    "UploadPartCopy": "s3:PutObject",
    "CompleteMultipartUpload": "s3:PutObject",
    "AbortMultipartUpload": "s3:AbortMultipartUpload",
    "ListParts": "s3:ListMultipartUploadParts",
    "DeleteObject": "s3:DeleteObject",
}
_S3_BUCKET_ACTIONS = {
    "ListObjects": "s3:ListBucket",
    "ListObjectsV2": "s3:ListBucket",
    "ListObjectVersions": "s3:ListBucketVersions",
    "ListMultipartUploads": "s3:ListBucketMultipartUploads",
    "HeadBucket": "s3:ListBucket",
}


class CallRecorder:
    def __init__(self, names: LocalNames) -> None:
        self.names = names
        self.calls: list[tuple[str, str]] | None = None

    def install(self) -> None:
        """Register with every botocore session created from now on."""
        handlers.BUILTIN_HANDLERS.append(("before-parameter-build.*.*", self._record))

    @contextlib.contextmanager
    def recording(self) -> Iterator[list[tuple[str, str]]]:
        self.calls = []
        try:
            yield self.calls
        finally:
            self.calls = None

    def _record(self, model: Any, params: dict[str, Any], **_: Any) -> None:
        if self.calls is None:
            return
        service, operation = model.service_model.service_name, model.name
        if service == "dynamodb":
            self.calls.extend(self._dynamodb(operation, params))
        elif service == "secretsmanager":
            self.calls.append((f"secretsmanager:{operation}", self._secret_arn(params["SecretId"])))
        elif service == "s3":
            self.calls.extend(_s3(operation, params))
        else:
            self.calls.append((f"{service}:{operation}", "*"))

    def _dynamodb(self, operation: str, params: dict[str, Any]) -> list[tuple[str, str]]:
        if operation == "TransactWriteItems":
            found = []
            for item in params["TransactItems"]:
                ((kind, spec),) = item.items()
                found.append((f"dynamodb:{_TRANSACT_ACTIONS[kind]}", self._table_arn(spec)))
            return found
        if operation == "TransactGetItems":
            return [
                ("dynamodb:GetItem", self._table_arn(i["Get"])) for i in params["TransactItems"]
            ]
        if operation in ("BatchGetItem", "BatchWriteItem"):
            return [
                (f"dynamodb:{operation}", self._table_arn({"TableName": table}))
                for table in params["RequestItems"]
            ]
        if "TableName" not in params:
            return [(f"dynamodb:{operation}", "*")]
        return [(f"dynamodb:{operation}", self._table_arn(params))]

    def _table_arn(self, params: dict[str, Any]) -> str:
        arn = f"arn:aws:dynamodb:{self.names.region}:{ACCOUNT_ID}:table/{params['TableName']}"
        return f"{arn}/index/{params['IndexName']}" if "IndexName" in params else arn

    def _secret_arn(self, secret_id: str) -> str:
        if secret_id.startswith("arn:"):
            return secret_id
        return f"arn:aws:secretsmanager:{self.names.region}:{ACCOUNT_ID}:secret:{secret_id}"


def _s3(operation: str, params: dict[str, Any]) -> list[tuple[str, str]]:
    bucket = f"arn:aws:s3:::{params.get('Bucket', '*')}"
    if operation == "DeleteObjects":  # one s3:DeleteObject per key
        return [("s3:DeleteObject", f"{bucket}/{o['Key']}") for o in params["Delete"]["Objects"]]
    if operation in _S3_OBJECT_ACTIONS:
        found = [(_S3_OBJECT_ACTIONS[operation], f"{bucket}/{params['Key']}")]
        if operation in ("CopyObject", "UploadPartCopy"):
            found.append(("s3:GetObject", _copy_source(params["CopySource"])))
        return found
    return [(_S3_BUCKET_ACTIONS.get(operation, f"s3:{operation}"), bucket)]


def _copy_source(source: str | dict[str, str]) -> str:
    if isinstance(source, dict):
        return f"arn:aws:s3:::{source['Bucket']}/{source['Key']}"
    return "arn:aws:s3:::" + source.lstrip("/").split("?versionId=")[0]


def statements(policies: list[Any], names: LocalNames) -> list[dict[str, Any]]:
    found = []
    for policy in resolve(policies, names):
        if isinstance(policy, dict) and "Statement" in policy:
            found.extend(policy["Statement"])
        else:
            raise AssertionError(f"only inline policy statements are expected, got {policy!r}")
    return found


def as_list(value: Any) -> list[str]:
    return value if isinstance(value, list) else [value]


def secret_arn(resource: str, names: LocalNames) -> str:
    """Locally a secret's Ref is its name; in AWS it is the ARN. Compare ARNs."""
    if resource.startswith("arn:"):
        return resource
    return f"arn:aws:secretsmanager:{names.region}:{ACCOUNT_ID}:secret:{resource}"


def denied(
    calls: list[tuple[str, str]], policies: list[Any], names: LocalNames
) -> list[tuple[str, str]]:
    allows = [s for s in statements(policies, names) if s["Effect"] == "Allow"]

    def allowed(action: str, resource: str) -> bool:
        return any(
            any(fnmatch.fnmatchcase(action, pattern) for pattern in as_list(s["Action"]))
            and any(
                fnmatch.fnmatchcase(resource, secret_arn(pattern, names))
                for pattern in as_list(s["Resource"])
            )
            for s in allows
        )

    return [call for call in calls if not allowed(*call)]
