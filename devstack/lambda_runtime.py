"""What API Gateway and Lambda hand a function: REST (payload 1.0) events and a context."""

from __future__ import annotations

import base64
import importlib
import time
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from devstack.template import ACCOUNT_ID, Function

Handler = Callable[[dict[str, Any], Any], dict[str, Any]]


@dataclass
class LambdaContext:
    """The attributes of the Lambda runtime's context object that handlers read."""

    function_name: str
    region: str
    memory_limit_in_mb: int = 512
    timeout_seconds: float = 29.0
    function_version: str = "$LATEST"
    aws_request_id: str = field(default_factory=lambda: str(uuid.uuid4()))
    started: float = field(default_factory=time.monotonic)

    @property
    def invoked_function_arn(self) -> str:
        return f"arn:aws:lambda:{self.region}:{ACCOUNT_ID}:function:{self.function_name}"

    @property
    def log_group_name(self) -> str:
        return f"/aws/lambda/{self.function_name}"

    @property
    def log_stream_name(self) -> str:
        return f"devstack/{self.aws_request_id}"

    def get_remaining_time_in_millis(self) -> int:
        elapsed = time.monotonic() - self.started
        return max(0, int((self.timeout_seconds - elapsed) * 1000))


def rest_event(
    *,
    method: str,
    path: str,
    resource: str,
    stage: str,
    path_parameters: Mapping[str, str] | None = None,
    headers: list[tuple[str, str]] | None = None,
    query: list[tuple[str, str]] | None = None,
    body: bytes = b"",
    source_ip: str = "127.0.0.1",
    request_id: str | None = None,
) -> dict[str, Any]:
    """The event API Gateway's REST API sends a Lambda proxy integration (payload 1.0)."""
    headers = headers or []
    query = query or []
    multi_headers: dict[str, list[str]] = {}
    for name, value in headers:
        multi_headers.setdefault(name, []).append(value)
    multi_query: dict[str, list[str]] = {}
    for name, value in query:
        multi_query.setdefault(name, []).append(value)
    text, is_base64 = _body(body, dict(headers))
    request_id = request_id or str(uuid.uuid4())
    return {
        "resource": resource,
        "path": path,
        "httpMethod": method,
        "headers": {name: values[-1] for name, values in multi_headers.items()} or None,
        "multiValueHeaders": multi_headers or None,
        "queryStringParameters": {k: v[-1] for k, v in multi_query.items()} or None,
        "multiValueQueryStringParameters": multi_query or None,
        "pathParameters": dict(path_parameters) if path_parameters else None,
        "stageVariables": None,
        "requestContext": {
            "resourceId": "devstack",
            "resourcePath": resource,
            "httpMethod": method,
            "extendedRequestId": request_id,
            "requestTime": time.strftime("%d/%b/%Y:%H:%M:%S +0000", time.gmtime()),
            "path": f"/{stage}{path}",
            "accountId": ACCOUNT_ID,
            "protocol": "HTTP/1.1",
            "stage": stage,
            "domainPrefix": "localhost",
            "requestTimeEpoch": int(time.time() * 1000),
            "requestId": request_id,
            "identity": {"sourceIp": source_ip, "userAgent": dict(headers).get("user-agent")},
            "domainName": "localhost",
            "apiId": "devstack",
        },
        "body": text,
        "isBase64Encoded": is_base64,
    }


def _body(body: bytes, headers: Mapping[str, str]) -> tuple[str | None, bool]:
    """Text bodies pass as text; anything else arrives base64-encoded, as API Gateway does."""
    if not body:
        return None, False
    content_type = {k.lower(): v for k, v in headers.items()}.get("content-type", "")
    if content_type.startswith(("application/octet-stream", "multipart/", "image/")):
        return base64.b64encode(body).decode(), True
    try:
        return body.decode("utf-8"), False
    except UnicodeDecodeError:
        return base64.b64encode(body).decode(), True


def load_handler(function: Function) -> Handler:
    module = importlib.import_module(function.module)
    return getattr(module, function.attribute)
