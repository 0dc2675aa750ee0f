"""The Powertools logger and the metrics, configured once per container.

The correlation id of every log line is the API Gateway request id. Nothing here ever logs an
event or a body: that is how prompts and responses stay out of CloudWatch.

A request's keys (function name, request ids) live in a context variable, not in the logger's
shared state: one process can serve several requests at once (the proxy under uvicorn, and
devstack, which runs every function in one process), and one request's keys must never appear
on another's lines. Tracing lives in
``tollgate.instrumentation``: the X-Ray SDK costs ~170 ms of import the proxy does not pay.

Nor does the proxy pay for Powertools (30-45 ms of its cold start here) unless it logs: the
metrics are ``tollgate.emf``'s lines, and ``logger`` makes the Powertools logger on first use,
handing it the keys of the request it logs for.
"""

from __future__ import annotations

import itertools
import threading
from collections.abc import Mapping
from contextvars import ContextVar
from types import MappingProxyType
from typing import TYPE_CHECKING, Any, cast

from tollgate.emf import Metrics

if TYPE_CHECKING:
    from aws_lambda_powertools import Logger

_keys: ContextVar[Mapping[str, Any]] = ContextVar("log_keys", default=MappingProxyType({}))


class _RequestLogger:
    """Stands in for the Powertools logger, made at the first attribute access; each access
    first gives it the keys of the current request (its context variable's)."""

    def __init__(self) -> None:
        self._made: Logger | None = None
        self._lock = threading.Lock()

    def __getattr__(self, name: str) -> Any:
        logger = self._logger()
        logger.thread_safe_clear_keys()
        logger.thread_safe_append_keys(**_keys.get())
        return getattr(logger, name)

    def _logger(self) -> Logger:
        if self._made is None:
            with self._lock:  # request threads may be first together; make one only
                if self._made is None:
                    from aws_lambda_powertools import Logger

                    self._made = Logger(log_uncaught_exceptions=False)
        return self._made


logger = cast("Logger", _RequestLogger())
metrics = Metrics()
_invocations = itertools.count()


def log_invocation(context: Any, *, request_id: str | None) -> None:
    """Every line logged for the rest of this invocation carries its function, the Lambda
    request and the API request (what Powertools' inject_lambda_context adds, kept local)."""
    _keys.set(
        MappingProxyType(
            {
                "function_name": context.function_name,
                "function_memory_size": context.memory_limit_in_mb,
                "function_arn": context.invoked_function_arn,
                "function_request_id": context.aws_request_id,
                "cold_start": next(_invocations) == 0,
                "correlation_id": request_id,
            }
        )
    )


def log_request(*, function_name: str | None, request_id: str) -> None:
    """Every line logged for the rest of this HTTP request (an ASGI task) carries the function
    and the API request."""
    _keys.set(MappingProxyType({"function_name": function_name, "correlation_id": request_id}))
