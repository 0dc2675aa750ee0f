"""The proxy's worker threads for blocking calls (DynamoDB, upstream HTTP reads).

asyncio's default executor has min(32, cores + 4) threads: six on a 2-core machine, which
would cap a local stack at six concurrent streams. Streams spend their time blocked in reads,
so the pool is sized for concurrency, not for CPU.
"""

from __future__ import annotations

import asyncio
import functools
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any, TypeVar

T = TypeVar("T")

_EXECUTOR = ThreadPoolExecutor(max_workers=128, thread_name_prefix="tollgate-io")


async def blocking(function: Callable[..., T], *args: Any) -> T:
    loop = asyncio.get_running_loop()
    return await loop.run_in_executor(_EXECUTOR, functools.partial(function, *args))
