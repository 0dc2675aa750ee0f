"""One PynamoDB connection per container, for the transactions that span tables."""

from __future__ import annotations

import functools

from pynamodb.connection import Connection

from tollgate.settings import get_settings


@functools.cache
def connection() -> Connection:
    return Connection(region=get_settings().region)
