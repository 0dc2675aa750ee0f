"""The proxy's hot path against devstack's moto and mock upstream, in this process.

Prints (a) gateway overhead per request (handler time minus upstream time, from the usage
records), p50 and p99, for non-streamed calls and streamed time to first byte, each beside
calling the mock upstream directly; (b) DynamoDB round trips per request with a warm and a
cold key cache, counted on the proxy's AWS client (the hot path does not use botocore).
"""

from __future__ import annotations

import contextlib
import statistics
import sys
import tempfile
import time
from pathlib import Path

import httpx

REQUESTS = 100
MODEL = "openai/gpt-4o-mini"
BODY = {"model": MODEL, "messages": [{"role": "user", "content": "Benchmark"}], "max_tokens": 30}


def percentile(values: list[float], fraction: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(fraction * (len(ordered) - 1)))]


def timed_post(client: httpx.Client, url: str, body: dict, headers: dict) -> float:
    started = time.perf_counter()
    answer = client.post(url, json=body, headers=headers)
    answer.raise_for_status()
    return (time.perf_counter() - started) * 1000


def first_byte_ms(client: httpx.Client, url: str, body: dict, headers: dict) -> float:
    started = time.perf_counter()
    with client.stream("POST", url, json=body, headers=headers) as answer:
        answer.raise_for_status()
        chunks = answer.iter_raw()
        next(chunks)
        elapsed = (time.perf_counter() - started) * 1000
        for _ in chunks:
            pass
    return elapsed


def overheads(account_id: str, stream: bool) -> list[float]:
    from tollgate.store.layout import account_pk
    from tollgate.store.models import UsageRecord

    return [
        float(record.overhead_ms)
        for record in UsageRecord.query(account_pk(account_id), UsageRecord.sk.startswith("USAGE#"))
        if record.stream == stream and record.status == "settled"
    ]


def report() -> None:
    from devstack.up import start_stack

    # The functions' logs and metrics go to stderr; stdout carries the figures.
    with contextlib.redirect_stdout(sys.stderr):
        stack = start_stack(port=0, aws_port=0, state_dir=Path(tempfile.mkdtemp()))
    try:
        _report(stack)
    finally:
        stack.stop()


def _report(stack) -> None:
    from tollgate import ledger, money

    gateway = stack.contract["OPENAI_BASE_URL"] + "/chat/completions"
    key = {"Authorization": f"Bearer {stack.contract['TOLLGATE_API_KEY']}"}
    direct = stack.upstreams.base_urls["openai"] + "/chat/completions"
    direct_key = {"Authorization": f"Bearer {stack.upstreams.app.api_keys['openai']}"}
    direct_body = {**BODY, "model": "gpt-4o-mini-2024-07-18"}
    stream = {"stream": True, "stream_options": {"include_usage": True}}
    account_id = _demo_account(stack)
    ledger.credit(account_id, money.parse_usd("1000"), kind="adjustment", reason="bench")

    with httpx.Client(timeout=30) as client, contextlib.redirect_stdout(sys.stderr):
        timed_post(client, gateway, BODY, key)  # cold start of the proxy app
        via = [timed_post(client, gateway, BODY, key) for _ in range(REQUESTS)]
        straight = [timed_post(client, direct, direct_body, direct_key) for _ in range(REQUESTS)]
        via_ttfb = [
            first_byte_ms(client, gateway, {**BODY, **stream}, key) for _ in range(REQUESTS)
        ]
        straight_ttfb = [
            first_byte_ms(client, direct, {**direct_body, **stream}, direct_key)
            for _ in range(REQUESTS)
        ]
        warm, cold = _round_trips(stack, client, gateway, key)

    print(f"proxy hot path ({REQUESTS} requests each, {MODEL} on the mock upstream)")
    for label, values in (
        ("overhead, non-stream", overheads(account_id, False)),
        ("overhead, stream", overheads(account_id, True)),
    ):
        p50, p99 = percentile(values, 0.5), percentile(values, 0.99)
        print(f"  {label:<28} p50 {p50:7.1f} ms   p99 {p99:7.1f} ms")
    for label, mine, theirs in (
        ("latency, non-stream", via, straight),
        ("time to first byte, stream", via_ttfb, straight_ttfb),
    ):
        p50, base = statistics.median(mine), statistics.median(theirs)
        print(
            f"  {label:<28} p50 {p50:7.1f} ms   direct {base:6.1f} ms   ratio {p50 / base:5.1f}x"
            f"   p99 {percentile(mine, 0.99):7.1f} ms"
        )
    print(f"  DynamoDB round trips per request: warm key cache {warm}, cold key cache {cold}")


def _demo_account(stack) -> str:
    from tollgate import keys
    from tollgate.store import keys as key_store

    found = key_store.find_secret(keys.digest(stack.contract["TOLLGATE_API_KEY"]))
    if found is None:
        raise RuntimeError("devstack's demo key is not in its KeysTable")
    return found.account_id


def _round_trips(stack, client, gateway, key) -> tuple[int, int]:
    app = stack.pool.asgi_app("ProxyFunction")
    runtime = app.runtime
    calls = []
    original = runtime.hotpath.dynamodb.call

    def counting(operation, payload):
        calls.append(operation)
        return original(operation, payload)

    runtime.hotpath.dynamodb.call = counting
    try:
        timed_post(client, gateway, BODY, key)
        warm = len(calls)
        calls.clear()
        runtime.key_cache._records.clear()
        timed_post(client, gateway, BODY, key)
        cold = len(calls)
    finally:
        runtime.hotpath.dynamodb.call = original
    return warm, cold


if __name__ == "__main__":
    report()
