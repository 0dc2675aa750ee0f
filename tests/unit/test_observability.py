"""Log keys of one request never reach another's lines, even in one process; the proxy pays
for Powertools when it first logs, not when it is imported."""

from __future__ import annotations

import contextvars
import json
import subprocess
import sys
from dataclasses import dataclass

from devstack.template import ROOT
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


# The proxy's cold start, as run.sh starts it: the app imported, then a request that logs.
_PROXY_STARTS_THEN_LOGS = f"""
import sys
sys.path[:0] = [{str(ROOT / "functions/proxy")!r}, {str(ROOT / "layers/common")!r}]
import app
print(sorted(name for name in sys.modules if name.startswith("aws_lambda_powertools")))
from tollgate.observability import log_request, logger, metrics
log_request(function_name="tollgate-ProxyFunction", request_id="api-request-1")
logger.warning("route failed", extra={{"route": 0, "code": "upstream_timeout"}})
metrics.add_metric(name="GatewayOverheadMs", unit="Milliseconds", value=2.5)
metrics.flush_metrics()
"""


def test_the_proxy_imports_no_powertools_and_logs_the_same_lines_when_it_needs_to():
    # Given a fresh interpreter where the proxy's app is imported, as on a cold start
    # When a request then logs a warning and flushes a metric
    done = subprocess.run(
        [sys.executable, "-c", _PROXY_STARTS_THEN_LOGS],
        capture_output=True,
        text=True,
        check=True,
    )
    imported, line, emf = done.stdout.splitlines()

    # Then the import alone loaded nothing of Powertools
    assert imported == "[]"
    # And the log line and the metric are Powertools' own, with the request's keys
    logged = json.loads(line)
    assert {k: logged[k] for k in ("level", "message", "service", "correlation_id", "code")} == {
        "level": "WARNING",
        "message": "route failed",
        "service": "tollgate",
        "correlation_id": "api-request-1",
        "code": "upstream_timeout",
    }
    assert {"location", "timestamp", "function_name"} <= logged.keys()
    metric = json.loads(emf)
    assert metric["GatewayOverheadMs"] == [2.5]
    assert metric["_aws"]["CloudWatchMetrics"][0]["Namespace"] == "Tollgate"
