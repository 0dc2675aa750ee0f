"""Which AWS actions a function really performs, checked against its IAM policy.

A botocore hook records every DynamoDB, Secrets Manager, S3 and SQS call, every Cognito call on a
user pool (``Admin*``: the ones IAM authorizes; SignUp, InitiateAuth, GlobalSignOut and GetUser
are authorized by the client id or the person's token) and every SES send (as its sender's
identity) made while a function's handler runs, as ``Call``s (IAM action, resource ARN, and
for DynamoDB the partition key values the call touches); ``denied`` says which of them the
function's policy in template.yaml does not allow. Signing a presigned URL counts as the call
the URL will make (S3 checks the signer's permissions when the URL is used), a presigned
POST's policy the PutObject of its key.

Conditions: ``dynamodb:LeadingKeys`` and ``dynamodb:Attributes`` under
``ForAllValues:StringLike`` or ``ForAllValues:StringEquals``, evaluated as IAM does (a call
without values, e.g. a Scan's leading keys or a read without a projection, passes a
ForAllValues condition), and ``dynamodb:Select`` under ``StringEquals`` (absent: no match).
Attributes are those a read projects or a PutItem writes. Any other condition fails the
check, so that a policy never relies on one this checker would silently ignore.
"""

from __future__ import annotations

import contextlib
import fnmatch
import re
from collections.abc import Iterator
from typing import Any, NamedTuple

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


class Call(NamedTuple):
    action: str
    resource: str
    leading_keys: tuple[str, ...] = ()
    attributes: tuple[str, ...] = ()
    select: str | None = None


# The tables' partition key attribute (every table's, and every index's is gsi1pk).
_PARTITION_KEYS = ("pk", "gsi1pk")


class CallRecorder:
    def __init__(self, names: LocalNames) -> None:
        self.names = names
        self.calls: list[Call] | None = None

    def install(self) -> None:
        """Register with every botocore session created from now on."""
        handlers.BUILTIN_HANDLERS.append(("before-parameter-build.*.*", self._record))
        handlers.BUILTIN_HANDLERS.append(("before-sign.s3.PutObject", self._record_post_policy))

    @contextlib.contextmanager
    def recording(self) -> Iterator[list[Call]]:
        self.calls = []
        try:
            yield self.calls
        finally:
            self.calls = None

    @contextlib.contextmanager
    def paused(self) -> Iterator[None]:
        """Calls another party makes while a function runs (a test's proxy settling
        meanwhile) are not the function's."""
        calls, self.calls = self.calls, None
        try:
            yield
        finally:
            self.calls = calls

    def _record(self, model: Any, params: dict[str, Any], context: Any = None, **_: Any) -> None:
        if self.calls is None:
            return
        service, operation = model.service_model.service_name, model.name
        if (service, operation) == ("s3", "CreateBucket") and (context or {}).get(
            "is_presign_request"
        ):
            return  # a presigned POST borrows CreateBucket's URL: _record_post_policy has it
        if service == "dynamodb":
            self.calls.extend(self._dynamodb(operation, params))
        elif service == "secretsmanager":
            self.calls.append(
                Call(f"secretsmanager:{operation}", self._secret_arn(params["SecretId"]))
            )
        elif service == "s3":
            self.calls.extend(Call(*call) for call in _s3(operation, params))
        elif service == "sqs" and "QueueUrl" in params:
            self.calls.append(Call(f"sqs:{operation}", self._queue_arn(params["QueueUrl"])))
        elif service == "cognito-idp":
            if "UserPoolId" in params:  # the others are authorized by a client id or a token
                pool = f"arn:aws:cognito-idp:{self.names.region}:{ACCOUNT_ID}:userpool/"
                self.calls.append(Call(f"cognito-idp:{operation}", pool + params["UserPoolId"]))
        elif service == "ses" and "Source" in params:
            identity = params["Source"].rpartition("@")[2]
            arn = f"arn:aws:ses:{self.names.region}:{ACCOUNT_ID}:identity/{identity}"
            self.calls.append(Call(f"ses:{operation}", arn))
        else:
            self.calls.append(Call(f"{service}:{operation}", "*"))

    def _record_post_policy(self, request: Any, **_: Any) -> None:
        """A presigned POST's policy, signed as the PutObject of its key (and its tags)."""
        fields = request.context.get("s3-presign-post-fields")
        if self.calls is None or fields is None:
            return
        conditions = request.context["s3-presign-post-policy"]["conditions"]
        (bucket,) = [c["bucket"] for c in conditions if isinstance(c, dict) and "bucket" in c]
        params = {"Bucket": bucket, "Key": fields["key"], "Tagging": fields.get("tagging")}
        self.calls.extend(Call(*call) for call in _s3("PutObject", params))

    def _dynamodb(self, operation: str, params: dict[str, Any]) -> list[Call]:
        if operation == "TransactWriteItems":
            found = []
            for item in params["TransactItems"]:
                ((kind, spec),) = item.items()
                action = f"dynamodb:{_TRANSACT_ACTIONS[kind]}"
                found.append(Call(action, self._table_arn(spec), _item_keys(spec)))
            return found
        if operation == "TransactGetItems":
            return [
                Call("dynamodb:GetItem", self._table_arn(i["Get"]), _item_keys(i["Get"]))
                for i in params["TransactItems"]
            ]
        if operation == "BatchGetItem":
            return [
                Call(
                    "dynamodb:BatchGetItem",
                    self._table_arn({"TableName": table}),
                    tuple(k for key in spec["Keys"] for k in _item_keys({"Key": key})),
                )
                for table, spec in params["RequestItems"].items()
            ]
        if operation == "BatchWriteItem":
            return [
                Call(f"dynamodb:{operation}", self._table_arn({"TableName": table}))
                for table in params["RequestItems"]
            ]
        if "TableName" not in params:
            return [Call(f"dynamodb:{operation}", "*")]
        action, table = f"dynamodb:{operation}", self._table_arn(params)
        keys = _query_keys(params) if operation == "Query" else _item_keys(params)
        return [Call(action, table, keys, _attributes(params), params.get("Select"))]

    def _table_arn(self, params: dict[str, Any]) -> str:
        arn = f"arn:aws:dynamodb:{self.names.region}:{ACCOUNT_ID}:table/{params['TableName']}"
        return f"{arn}/index/{params['IndexName']}" if "IndexName" in params else arn

    def _queue_arn(self, queue_url: str) -> str:
        name = queue_url.rstrip("/").rsplit("/", 1)[-1]
        return f"arn:aws:sqs:{self.names.region}:{ACCOUNT_ID}:{name}"

    def _secret_arn(self, secret_id: str) -> str:
        if secret_id.startswith("arn:"):
            return secret_id
        return f"arn:aws:secretsmanager:{self.names.region}:{ACCOUNT_ID}:secret:{secret_id}"


def _item_keys(spec: dict[str, Any]) -> tuple[str, ...]:
    """The partition key value of the item a request names (its Key, or the Item it puts)."""
    item = spec.get("Key") or spec.get("Item") or {}
    return tuple(item[name]["S"] for name in _PARTITION_KEYS if name in item)[:1]


_EQUALITY = re.compile(r"(#?\w+)\s*=\s*(:\w+)")


def _query_keys(params: dict[str, Any]) -> tuple[str, ...]:
    """The partition key value a Query's key condition names."""
    names = params.get("ExpressionAttributeNames", {})
    values = params.get("ExpressionAttributeValues", {})
    for name, value in _EQUALITY.findall(params.get("KeyConditionExpression", "")):
        if names.get(name, name) in _PARTITION_KEYS:
            return (values[value]["S"],)
    return ()


def _attributes(params: dict[str, Any]) -> tuple[str, ...]:
    """The attribute names a read projects (ProjectionExpression) or a PutItem writes."""
    if "Item" in params:
        return tuple(params["Item"])
    names = params.get("ExpressionAttributeNames", {})
    projection = params.get("ProjectionExpression", "")
    return tuple(names.get(part.strip(), part.strip()) for part in projection.split(",") if part)


def _s3(operation: str, params: dict[str, Any]) -> list[tuple[str, str]]:
    bucket = f"arn:aws:s3:::{params.get('Bucket', '*')}"
    if operation == "DeleteObjects":  # one s3:DeleteObject per key
        return [("s3:DeleteObject", f"{bucket}/{o['Key']}") for o in params["Delete"]["Objects"]]
    if operation in _S3_OBJECT_ACTIONS:
        found = [(_S3_OBJECT_ACTIONS[operation], f"{bucket}/{params['Key']}")]
        if operation in ("CopyObject", "UploadPartCopy"):
            found.append(("s3:GetObject", _copy_source(params["CopySource"])))
        if params.get("Tagging"):  # tags set as the object is written need their own action
            found.append(("s3:PutObjectTagging", f"{bucket}/{params['Key']}"))
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


def condition_holds(condition: dict[str, Any], call: Call) -> bool:
    """Whether a statement's Condition block lets the call through (see the module's note)."""
    for operator, tests in condition.items():
        for key, patterns in tests.items():
            if (operator, key) == ("StringEquals", "dynamodb:Select"):
                if call.select not in as_list(patterns):
                    return False
                continue
            values = {
                "dynamodb:LeadingKeys": call.leading_keys,
                "dynamodb:Attributes": call.attributes,
            }
            if key not in values or operator not in (
                "ForAllValues:StringLike",
                "ForAllValues:StringEquals",
            ):
                raise AssertionError(f"the IAM checker does not understand {operator} {key}")
            like = operator.endswith("Like")
            if not all(
                any(
                    fnmatch.fnmatchcase(value, p) if like else value == p for p in as_list(patterns)
                )
                for value in values[key]
            ):
                return False
    return True


def denied(calls: list[Call], policies: list[Any], names: LocalNames) -> list[Call]:
    allows = [s for s in statements(policies, names) if s["Effect"] == "Allow"]

    def allowed(call: Call) -> bool:
        return any(
            any(fnmatch.fnmatchcase(call.action, pattern) for pattern in as_list(s["Action"]))
            and any(
                fnmatch.fnmatchcase(call.resource, secret_arn(pattern, names))
                for pattern in as_list(s["Resource"])
            )
            and condition_holds(s.get("Condition", {}), call)
            for s in allows
        )

    return [call for call in calls if not allowed(Call(*call))]
