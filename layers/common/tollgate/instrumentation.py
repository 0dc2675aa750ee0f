"""The wrapper of every event-style Lambda entry point: logging context, metrics, tracing."""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any

from aws_lambda_powertools import Tracer
from aws_lambda_powertools.logging import correlation_paths

from tollgate.observability import logger, metrics

tracer = Tracer()

Handler = Callable[[dict[str, Any], Any], Any]


def instrumented(handler: Handler) -> Handler:
    """Wrap a REST API Lambda entry point with logging context, metrics flush and tracing."""

    @functools.wraps(handler)
    @logger.inject_lambda_context(
        correlation_id_path=correlation_paths.API_GATEWAY_REST, log_event=False
    )
    @metrics.log_metrics
    @tracer.capture_lambda_handler(capture_response=False, capture_error=False)
    def wrapped(event: dict[str, Any], context: Any) -> Any:
        return handler(event, context)

    return wrapped
