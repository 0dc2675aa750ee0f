"""Powertools logger and metrics, configured once per container.

The correlation id of every log line is the API Gateway request id. Nothing here ever logs an
event or a body: that is how prompts and responses stay out of CloudWatch. Tracing lives in
``tollgate.instrumentation``: the X-Ray SDK costs ~170 ms of import the proxy does not pay.
"""

from __future__ import annotations

from aws_lambda_powertools import Logger, Metrics

logger = Logger(log_uncaught_exceptions=False)
metrics = Metrics()
