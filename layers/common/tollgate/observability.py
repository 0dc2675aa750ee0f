"""Powertools logger and metrics, configured once per container, made on first use.

The correlation id of every log line is the API Gateway request id. Nothing here ever logs an
event or a body: that is how prompts and responses stay out of CloudWatch.

A request's keys (function name, request ids) live in a context variable, not in the logger's
shared state: one process can serve several requests at once (the proxy under uvicorn, and
devstack, which runs every function in one process), and one request's keys must never appear
on another's lines. Tracing lives in
``tollgate.instrumentation``: the X-Ray SDK costs ~170 ms of import the proxy does not pay.

Importing Powertools costs the proxy ~30 ms (its logger pulls in JMESPath, its metrics the
EMF provider), and the proxy's import is its cold start: ``logger`` and ``metrics`` stand in for
the Powertools objects and make them when first used, so that cost is paid by the first request
that logs or flushes, not by every import of the app.
"""

from __future__ import annotations

import itertools
import threading
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, Generic, TypeVar, cast

if TYPE_CHECKING:
    from aws_lambda_powertools import Logger, Metrics

Made = TypeVar("Made")


class OnFirstUse(Generic[Made]):
    """Stands in for the object ``make`` returns, made at the first attribute access."""

    def __init__(self, make: Callable[[], Made]) -> None:
        self._make = make
        self._made: Made | None = None
        self._lock = threading.Lock()

    def __getattr__(self, name: str) -> Any:
        return getattr(self.made(), name)

    def made(self) -> Made:
        if self._made is None:
            with self._lock:  # request threads may be first together; make one only
                if self._made is None:
                    self._made = self._make()
        return self._made


def _make_logger() -> Logger:
    from aws_lambda_powertools import Logger

    return Logger(log_uncaught_exceptions=False)


def _make_metrics() -> Metrics:
    from aws_lambda_powertools import Metrics

    return Metrics()


logger = cast("Logger", OnFirstUse(_make_logger))
metrics = cast("Metrics", OnFirstUse(_make_metrics))
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
