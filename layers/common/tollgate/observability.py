"""Powertools logger and metrics, configured once per container.

The correlation id of every log line is the API Gateway request id. Nothing here ever logs an
event or a body: that is how prompts and responses stay out of CloudWatch.

A request's keys (function name, request ids) live in a context variable, not in the logger's
shared state: one process can serve several requests at once (the proxy under uvicorn, and
devstack, which runs every function in one process), and one request's keys must never appear
on another's lines. Tracing lives in
``tollgate.instrumentation``: the X-Ray SDK costs ~170 ms of import the proxy does not pay.
"""

from __future__ import annotations

import itertools
from typing import Any

from aws_lambda_powertools import Logger, Metrics

logger = Logger(log_uncaught_exceptions=False)
metrics = Metrics()
_invocations = itertools.count()


def log_invocation(context: Any, *, request_id: str | None) -> None:
    """Every line logged for the rest of this invocation carries its function, the Lambda
    request and the API request (what Powertools' inject_lambda_context adds, kept local)."""
    cold_start = next(_invocations) == 0
    logger.thread_safe_clear_keys()
    logger.thread_safe_append_keys(
        function_name=context.function_name,
        function_memory_size=context.memory_limit_in_mb,
        function_arn=context.invoked_function_arn,
        function_request_id=context.aws_request_id,
        cold_start=cold_start,
        correlation_id=request_id,
    )


def log_request(*, function_name: str | None, request_id: str) -> None:
    """Every line logged for the rest of this HTTP request (an ASGI task) carries the function
    and the API request."""
    logger.thread_safe_clear_keys()
    logger.thread_safe_append_keys(function_name=function_name, correlation_id=request_id)
