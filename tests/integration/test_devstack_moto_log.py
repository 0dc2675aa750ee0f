"""devstack's AWS emulator writes down every request it serves, for benchmarks to tell the
emulator's time from the gateway's: DynamoDB calls by their action, other services as
"<service>:<action>"."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import boto3

from devstack.moto_server import MotoServer


def client(service: str, server: MotoServer) -> Any:
    return boto3.client(
        service,
        endpoint_url=server.url,
        region_name="us-east-1",
        aws_access_key_id="devstack",
        aws_secret_access_key="devstack",
    )


def test_each_request_gets_a_line_naming_it_as_soon_as_it_is_answered(tmp_path: Path) -> None:
    # Given the emulator with a request log
    log = tmp_path / "logs" / "dynamodb.jsonl"
    server = MotoServer(request_log=log).start()
    try:
        # When DynamoDB, Secrets Manager and S3 are each asked something
        client("dynamodb", server).list_tables()
        client("secretsmanager", server).list_secrets()
        client("s3", server).list_buckets()

        # Then each has its line already, named and timed in order
        lines = [json.loads(line) for line in log.read_text().splitlines()]
    finally:
        server.stop()
    assert [line["op"] for line in lines] == ["ListTables", "secretsmanager:ListSecrets", "s3:GET"]
    assert all(line["received"] <= line["started"] <= line["answered"] for line in lines)
