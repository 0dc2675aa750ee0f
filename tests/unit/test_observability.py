"""Log keys of one request never reach another's lines, even in one process."""

from __future__ import annotations

import contextvars
from dataclasses import dataclass

from tollgate.observability import log_invocation, log_request, logger


@dataclass
class Context:
    function_name: str
    memory_limit_in_mb: int = 512
    invoked_function_arn: str = "arn:aws:lambda:us-east-1:123456789012:function:keys"
    aws_request_id: str = "lambda-request-1"


def keys_in_a_new_context(start) -> dict:
    def run() -> dict:
        start()
        return dict(logger.thread_safe_get_current_keys())

    return contextvars.copy_context().run(run)


def test_an_invocations_keys_stay_out_of_a_concurrent_proxy_requests_lines():
    # Given an event function's invocation, in its own context (a worker thread)
    invocation = keys_in_a_new_context(
        lambda: log_invocation(Context("tollgate-KeysFunction"), request_id="api-request-1")
    )

    # When the proxy starts a request in another context (its ASGI task)
    proxy = keys_in_a_new_context(
        lambda: log_request(function_name="tollgate-ProxyFunction", request_id="api-request-2")
    )

    # Then each carries its own name and request id, and nothing is left in shared state
    assert invocation["function_name"] == "tollgate-KeysFunction"
    assert invocation["correlation_id"] == "api-request-1"
    assert proxy == {"function_name": "tollgate-ProxyFunction", "correlation_id": "api-request-2"}
    assert "function_name" not in logger.get_current_keys()
    assert "correlation_id" not in logger.get_current_keys()
