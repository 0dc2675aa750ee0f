"""The wrapper of every event-style Lambda entry point: logging context, metrics, tracing."""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any

from aws_lambda_powertools import Tracer

from tollgate.observability import log_invocation, metrics

tracer = Tracer()

Handler = Callable[[dict[str, Any], Any], Any]


def instrumented(handler: Handler) -> Handler:
    """Wrap a REST API Lambda entry point with logging context, metrics flush and tracing."""

    @metrics.log_metrics
    @tracer.capture_lambda_handler(capture_response=False, capture_error=False)
    def measured(event: dict[str, Any], context: Any) -> Any:
        return handler(event, context)

    @functools.wraps(handler)
    def wrapped(event: dict[str, Any], context: Any) -> Any:
        log_invocation(context, request_id=_api_request_id(event))
        return measured(event, context)

    return wrapped


def _api_request_id(event: dict[str, Any]) -> str | None:
    context = event.get("requestContext") if isinstance(event, dict) else None
    return context.get("requestId") if isinstance(context, dict) else None
