"""Create the template's tables, buckets, queues and secrets in a (moto) AWS endpoint.

Properties are read from template.yaml and translated from CloudFormation's shapes into the
service APIs' shapes, so the local stack and the tests run on exactly what gets deployed.
"""

from __future__ import annotations

import json
import secrets
from typing import Any

import boto3

from devstack.template import LocalNames, Template, resolve


def provision(
    template: Template,
    names: LocalNames,
    session: boto3.Session,
    *,
    secret_values: dict[str, str],
    endpoint_url: str | None = None,
) -> None:
    """Create every table, bucket and secret; ``secret_values`` maps secret logical ids to
    the development value each one gets (a secret the map lacks is created empty)."""

    def client(service: str):
        # boto3-stubs types a client per literal service name; this one is chosen at run time
        return session.client(  # type: ignore[call-overload]
            service, region_name=names.region, endpoint_url=endpoint_url
        )

    dynamodb = client("dynamodb")
    for logical_id, props in template.tables().items():
        create_table(dynamodb, names.refs[logical_id], props)
    s3 = client("s3")
    for logical_id, props in template.of_type("AWS::S3::Bucket").items():
        create_bucket(s3, names.refs[logical_id], resolve(props, names))
    for props in template.of_type("AWS::S3::BucketPolicy").values():
        put_bucket_policy(s3, resolve(props, names))
    sqs = client("sqs")
    queues = template.of_type("AWS::SQS::Queue")
    # dead-letter queues first: a queue's redrive policy names one that must exist
    for logical_id in sorted(queues, key=lambda q: "RedrivePolicy" in queues[q]):
        create_queue(
            sqs, names.attributes[(logical_id, "QueueName")], resolve(queues[logical_id], names)
        )
    provision_identity(template, names, client("cognito-idp"))
    secretsmanager = client("secretsmanager")
    for logical_id, props in template.of_type("AWS::SecretsManager::Secret").items():
        value = secret_values.get(logical_id)
        if value is None and "GenerateSecretString" in props:  # as Secrets Manager would
            value = secrets.token_hex(props["GenerateSecretString"].get("PasswordLength", 32) // 2)
        extra = {"SecretString": value} if value is not None else {}
        secretsmanager.create_secret(
            Name=names.refs[logical_id], Description=props.get("Description", ""), **extra
        )


# CloudFormation's SQS::Queue properties that are queue attributes of the same name.
_QUEUE_ATTRIBUTES = (
    "DelaySeconds",
    "MaximumMessageSize",
    "MessageRetentionPeriod",
    "ReceiveMessageWaitTimeSeconds",
    "SqsManagedSseEnabled",
    "VisibilityTimeout",
)


def create_queue(sqs: Any, name: str, props: dict[str, Any]) -> None:
    attributes = {key: _attribute(props[key]) for key in _QUEUE_ATTRIBUTES if key in props}
    if "RedrivePolicy" in props:
        attributes["RedrivePolicy"] = json.dumps(props["RedrivePolicy"])
    sqs.create_queue(QueueName=name, Attributes=attributes)


def _attribute(value: Any) -> str:
    return str(value).lower() if isinstance(value, bool) else str(value)


def provision_identity(template: Template, names: LocalNames, cognito: Any) -> None:
    """Create the user pools and their app clients, and record the ids Cognito gave them as
    their Ref (and the pool's Arn), which the functions' environment and IAM then resolve to."""
    for logical_id, props in template.of_type("AWS::Cognito::UserPool").items():
        request = resolve(props, names)
        request["PoolName"] = request.pop("UserPoolName")
        pool = cognito.create_user_pool(**request)["UserPool"]
        names.refs[logical_id] = pool["Id"]
        names.attributes[(logical_id, "Arn")] = pool["Arn"]
    for logical_id, props in template.of_type("AWS::Cognito::UserPoolClient").items():
        created = cognito.create_user_pool_client(**resolve(props, names))["UserPoolClient"]
        names.refs[logical_id] = created["ClientId"]


def put_bucket_policy(s3: Any, resolved: dict[str, Any]) -> None:
    """The policy without its conditional statements. moto treats a Deny whose condition it
    cannot check as a Deny of every request, so the template's DenyInsecureTransport
    (aws:SecureTransport = false) would refuse every call, HTTPS or not."""
    document = resolved["PolicyDocument"]
    kept = [statement for statement in document["Statement"] if "Condition" not in statement]
    if kept:
        policy = json.dumps({**document, "Statement": kept})
        s3.put_bucket_policy(Bucket=resolved["Bucket"], Policy=policy)


def create_table(dynamodb: Any, name: str, props: dict[str, Any]) -> None:
    request: dict[str, Any] = {
        "TableName": name,
        "AttributeDefinitions": props["AttributeDefinitions"],
        "KeySchema": props["KeySchema"],
        "BillingMode": props.get("BillingMode", "PROVISIONED"),
    }
    if "GlobalSecondaryIndexes" in props:
        request["GlobalSecondaryIndexes"] = props["GlobalSecondaryIndexes"]
    if props.get("SSESpecification", {}).get("SSEEnabled"):
        request["SSESpecification"] = {"Enabled": True}
    dynamodb.create_table(**request)
    if "TimeToLiveSpecification" in props:
        dynamodb.update_time_to_live(
            TableName=name, TimeToLiveSpecification=props["TimeToLiveSpecification"]
        )
    if "PointInTimeRecoverySpecification" in props:
        dynamodb.update_continuous_backups(
            TableName=name,
            PointInTimeRecoverySpecification=props["PointInTimeRecoverySpecification"],
        )


def create_bucket(s3: Any, name: str, props: dict[str, Any]) -> None:
    s3.create_bucket(Bucket=name, ObjectLockEnabledForBucket=bool(props.get("ObjectLockEnabled")))
    if "BucketEncryption" in props:
        rules = [
            {
                "ApplyServerSideEncryptionByDefault": rule["ServerSideEncryptionByDefault"],
                "BucketKeyEnabled": rule.get("BucketKeyEnabled", False),
            }
            for rule in props["BucketEncryption"]["ServerSideEncryptionConfiguration"]
        ]
        s3.put_bucket_encryption(Bucket=name, ServerSideEncryptionConfiguration={"Rules": rules})
    if "PublicAccessBlockConfiguration" in props:
        s3.put_public_access_block(
            Bucket=name, PublicAccessBlockConfiguration=props["PublicAccessBlockConfiguration"]
        )
    if "OwnershipControls" in props:
        s3.put_bucket_ownership_controls(Bucket=name, OwnershipControls=props["OwnershipControls"])
    if "VersioningConfiguration" in props:
        s3.put_bucket_versioning(
            Bucket=name, VersioningConfiguration=props["VersioningConfiguration"]
        )
    if "LifecycleConfiguration" in props:
        rules = [lifecycle_rule(rule) for rule in props["LifecycleConfiguration"]["Rules"]]
        s3.put_bucket_lifecycle_configuration(Bucket=name, LifecycleConfiguration={"Rules": rules})
    if "ObjectLockConfiguration" in props:
        s3.put_object_lock_configuration(
            Bucket=name, ObjectLockConfiguration=object_lock(props["ObjectLockConfiguration"])
        )


def object_lock(config: dict[str, Any]) -> dict[str, Any]:
    """CloudFormation's Object Lock configuration in the S3 API's shape (whole days)."""
    retention = dict(config["Rule"]["DefaultRetention"])
    for unit in ("Days", "Years"):
        if unit in retention:
            retention[unit] = int(retention[unit])
    rule = {"DefaultRetention": retention}
    return {"ObjectLockEnabled": config["ObjectLockEnabled"], "Rule": rule}


def lifecycle_rule(rule: dict[str, Any]) -> dict[str, Any]:
    """A CloudFormation lifecycle rule in the S3 API's shape."""
    translated: dict[str, Any] = {
        "ID": rule.get("Id", "rule"),
        "Status": rule["Status"],
        "Filter": {"Prefix": rule.get("Prefix", "")},
    }
    if "Transitions" in rule:
        translated["Transitions"] = [
            {"Days": t["TransitionInDays"], "StorageClass": t["StorageClass"]}
            for t in rule["Transitions"]
        ]
    if "ExpirationInDays" in rule:
        translated["Expiration"] = {"Days": rule["ExpirationInDays"]}
    if "NoncurrentVersionExpiration" in rule:
        translated["NoncurrentVersionExpiration"] = {
            "NoncurrentDays": rule["NoncurrentVersionExpiration"]["NoncurrentDays"]
        }
    return translated
