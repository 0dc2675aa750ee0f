"""One TLS client context per container, made on the first HTTPS connection.

Loading the CA bundle costs ~45 ms; every HTTPS client (DynamoDB, Secrets Manager, the model
providers) shares the one context instead of paying that each at cold start.
"""

from __future__ import annotations

import functools
import ssl


@functools.cache
def client_context() -> ssl.SSLContext:
    return ssl.create_default_context()
