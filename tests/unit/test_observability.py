"""Log keys of one request never reach another's lines, even in one process; the proxy pays
for Powertools only when it logs, and its metrics lines are those Powertools prints."""

from __future__ import annotations

import contextvars
import json
import subprocess
import sys
from dataclasses import dataclass

import pytest
from aws_lambda_powertools import Metrics as PowertoolsMetrics

from devstack.template import ROOT
from tollgate.emf import MetricError, Metrics
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


# The proxy's cold start, as run.sh starts it: the app imported, a request that flushes its
# metric as every request does, then one that logs a warning.
_PROXY_STARTS_THEN_LOGS = f"""
import sys
sys.path[:0] = [{str(ROOT / "functions/proxy")!r}, {str(ROOT / "layers/common")!r}]
import app
from tollgate.observability import log_request, logger, metrics

def powertools():
    return sorted(name for name in sys.modules if name.startswith("aws_lambda_powertools"))

print(powertools())
log_request(function_name="tollgate-ProxyFunction", request_id="api-request-1")
metrics.add_metric(name="GatewayOverheadMs", unit="Milliseconds", value=2.5)
metrics.flush_metrics()
print(powertools())
logger.warning("route failed", extra={{"route": 0, "code": "upstream_timeout"}})
"""


def test_the_proxy_loads_powertools_only_to_log_and_its_lines_keep_their_fields():
    # Given a fresh interpreter where the proxy's app is imported, as on a cold start
    # When a request flushes its metric, and then one logs a warning
    done = subprocess.run(
        [sys.executable, "-c", _PROXY_STARTS_THEN_LOGS],
        capture_output=True,
        text=True,
        check=True,
    )
    at_import, emf, after_metrics, line = done.stdout.splitlines()

    # Then neither the import nor the metric loaded anything of Powertools
    assert at_import == after_metrics == "[]"
    metric = json.loads(emf)
    assert metric["GatewayOverheadMs"] == [2.5]
    assert metric["_aws"]["CloudWatchMetrics"][0]["Namespace"] == "Tollgate"
    # And the log line is Powertools' own, with the request's keys
    logged = json.loads(line)
    assert {k: logged[k] for k in ("level", "message", "service", "correlation_id", "code")} == {
        "level": "WARNING",
        "message": "route failed",
        "service": "tollgate",
        "correlation_id": "api-request-1",
        "code": "upstream_timeout",
    }
    assert logged["function_name"] == "tollgate-ProxyFunction"
    assert {"location", "timestamp"} <= logged.keys()


def emitted(flush, capsys) -> dict:
    flush()
    (line,) = capsys.readouterr().out.splitlines()
    document = json.loads(line)
    document["_aws"]["Timestamp"] = 0
    return document


def test_the_metrics_lines_are_those_powertools_prints(capsys):
    # Given the same metrics added to Powertools' Metrics and to ours
    theirs, ours = PowertoolsMetrics(), Metrics()
    for metrics in (theirs, ours):
        metrics.add_metric(name="GatewayOverheadMs", unit="Milliseconds", value=2)
        metrics.add_metric(name="ChargeCappedAtHold", unit="Count", value=1)
        metrics.add_metric(name="GatewayOverheadMs", unit="Milliseconds", value=3.5)

    # When each flushes, then both print the very same document
    expected = emitted(theirs.flush_metrics, capsys)
    assert emitted(ours.flush_metrics, capsys) == expected
    assert list(expected) == ["_aws", "service", "GatewayOverheadMs", "ChargeCappedAtHold"]


def test_a_metric_cloudwatch_would_refuse_is_an_error_where_it_is_added():
    metrics = Metrics()
    with pytest.raises(MetricError, match="unit 'Millisecond'"):
        metrics.add_metric(name="GatewayOverheadMs", unit="Millisecond", value=1)
    with pytest.raises(MetricError, match="not a number"):
        metrics.add_metric(name="GatewayOverheadMs", unit="Milliseconds", value="1")  # type: ignore[arg-type]


def test_a_handler_that_fails_still_flushes_its_metrics(capsys):
    metrics = Metrics()

    @metrics.log_metrics
    def handler(event, context):
        metrics.add_metric(name="AuditFailures", unit="Count", value=1)
        raise RuntimeError("the store is down")

    with pytest.raises(RuntimeError):
        handler({}, None)

    assert json.loads(capsys.readouterr().out)["AuditFailures"] == [1.0]
