"""What the client sees is what it paid: through the proxy's ASGI app, against moto and the mock
upstreams, every answer's cost (the ``x-tollgate-cost`` header, or a stream's last event)
equals its usage record's charge, whatever went wrong and whenever the client left. The answer
goes out before its settle; a settle that then fails, or finds the hold released, is counted,
and the reaper's release is what wallet and record agree on."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from datetime import timedelta
from decimal import Decimal
from typing import Any

import pytest

from tests.integration.conftest import usage_of
from tests.support.metrics import emitted_metrics
from tests.support.openapi import validate_openai
from tests.support.proxy_asgi import Exchange, call, watch_settles
from tests.support.proxy_world import Customer, charges_in_ledger, usage_records, wallet
from tollgate import clock, pricing
from tollgate.aws import AwsError
from tollgate.catalog import load_catalog
from tollgate.money import format_usd
from tollgate.proxy.app import ProxyApp
from tollgate.proxy.chat import chat_input
from tollgate.proxy.pipeline import HOLD_LIFETIME
from tollgate.reaper import release_expired_holds
from tollgate.store.hotpath import HotPath
from tollgate.store.models import UsageRecord

CHAT = "/v1/chat/completions"
MESSAGES = "/v1/messages"
MODEL = "openai/gpt-4.1"
FUNDS = 10**9  # 1 USD: what the wallets below are checked against


@pytest.fixture
def customer(customer: Callable[..., Customer]) -> Callable[..., Customer]:
    """The shared world's customer (tests/support/proxy_world.py), credited FUNDS by default."""

    def build(credit: int = FUNDS) -> Customer:
        return customer(credit)

    return build


def chat(text: str, *, stream: bool = False, **extra: Any) -> dict[str, Any]:
    body = {"model": MODEL, "messages": [{"role": "user", "content": text}], "max_tokens": 200}
    return {**body, "stream": stream, **extra}


def anthropic_message(text: str, *, stream: bool = False) -> dict[str, Any]:
    body = {"model": MODEL, "max_tokens": 200, "messages": [{"role": "user", "content": text}]}
    return {**body, "stream": stream}


def run(app: ProxyApp, path: str, body: Any, key: str, **options: Any) -> Exchange:
    return asyncio.run(call(app, path, body, key=key, **options))


def data_events(exchange: Exchange) -> list[Any]:
    return [data for _, data in exchange.events()]


# ------------------------------------------------------------------ item 11: streams say their cost


def test_an_openai_stream_announces_its_hold_and_ends_with_its_cost_unasked(app, customer):
    # given a customer who streams without asking for include_usage
    buyer = customer()

    # when the stream completes
    answer = run(app, CHAT, chat("Tell me a story", stream=True), buyer.api_key)

    # then the hold is announced up front, and the last chunk before [DONE] carries the cost
    assert answer.status == 200 and answer.complete
    events = data_events(answer)
    assert events[-1] == "[DONE]"
    final = events[-2]
    validate_openai("CreateChatCompletionStreamResponse", final)
    assert final["choices"] == [] and final["usage"]["cost"] > 0
    record = usage_of(buyer, answer.headers["x-request-id"])
    assert Decimal(str(final["usage"]["cost"])) == Decimal(record["charge_usd"])
    assert answer.headers["x-tollgate-hold"] == format_usd(record_hold(buyer, record))
    assert (record["status"], record["status_code"]) == ("settled", 200)


def record_hold(buyer: Customer, record: dict[str, Any]) -> int:
    records = usage_records(buyer.account_id)
    (item,) = [i for i in records if i["request_id"] == record["request_id"]]
    return int(item["hold"])


def test_an_anthropic_stream_carries_its_cost_in_message_delta(app, customer):
    buyer = customer()

    answer = run(app, MESSAGES, anthropic_message("Tell me a story", stream=True), buyer.api_key)

    assert answer.status == 200 and "x-tollgate-hold" in answer.headers
    deltas = [data for name, data in answer.events() if name == "message_delta"]
    assert [name for name, _ in answer.events()][-1] == "message_stop"
    record = usage_of(buyer, answer.headers["x-request-id"])
    assert Decimal(str(deltas[-1]["usage"]["cost"])) == Decimal(record["charge_usd"]) > 0


@pytest.mark.parametrize("fault", ["cut", "malformed"])
@pytest.mark.parametrize("path", [CHAT, MESSAGES])
def test_a_broken_stream_sends_its_estimated_charge_before_the_error(app, customer, fault, path):
    # given an upstream whose stream breaks midway
    buyer = customer()
    text = f"Tell me a story [[mock:fault={fault}]]"
    body = chat(text, stream=True) if path == CHAT else anthropic_message(text, stream=True)

    # when the client streams it
    answer = run(app, path, body, buyer.api_key)

    # then the estimate it is charged arrives before the error that ends the stream
    names = [name for name, _ in answer.events()]
    events = data_events(answer)
    assert "error" in events[-1] or names[-1] == "error"
    assert answer.cost() is not None
    record = usage_of(buyer, answer.headers["x-request-id"])
    assert record["status"] == "cut" and record["usage_estimated"] is True
    assert answer.cost() == Decimal(record["charge_usd"]) > 0
    if path == CHAT:
        validate_openai("CreateChatCompletionStreamResponse", events[-2])


def test_a_requests_charge_is_read_by_its_id_at_once_without_the_lagging_index(
    app, customer, monkeypatch
):
    # given the by_request_and_day index (eventually consistent on AWS) made unusable
    buyer = customer()

    def lagging(*args: Any, **kwargs: Any) -> Any:
        raise AssertionError("read through the eventually consistent index")

    monkeypatch.setattr(UsageRecord.by_request_and_day, "query", lagging)

    # when a stream ends, its record is read by request id at once: consistent reads only
    answer = run(app, CHAT, chat("Hello", stream=True), buyer.api_key)

    record = usage_of(buyer, answer.headers["x-request-id"])
    assert answer.cost() == Decimal(record["charge_usd"]) > 0


# ------------------------------------------------- item 10: an error before output charges nothing


@pytest.mark.parametrize("stream", [False, True])
def test_an_upstream_error_before_any_output_charges_nothing_and_says_so(app, customer, stream):
    buyer = customer()

    answer = run(app, CHAT, chat("Hello [[mock:fault=500]]", stream=stream), buyer.api_key)

    assert answer.status == 502 and answer.headers["x-tollgate-cost"] == "0.00"
    record = usage_of(buyer, answer.headers["x-request-id"])
    assert (record["status"], record["status_code"], record["charge_usd"]) == ("error", 502, "0.00")
    assert wallet(buyer.account_id) == (FUNDS, 0)


class LostSettleAnswers:
    """DynamoDB applies a settle but its answer never arrives, nor those of the retries (as
    when the service is slow and the client times out while the writes queue behind)."""

    def __init__(self, inner: Any) -> None:
        self.inner = inner
        self.lost: set[str] = set()

    def call(self, operation: str, payload: dict[str, Any]) -> dict[str, Any]:
        token = str(payload.get("ClientRequestToken"))
        first = payload.get("TransactItems", [{}])[0]
        is_settle = "Delete" in first and len(payload["TransactItems"]) > 4
        if operation == "TransactWriteItems" and is_settle:
            if token not in self.lost:
                self.inner.call(operation, payload)
                self.lost.add(token)
            raise AwsError("Timeout", "dynamodb: TimeoutError: timed out", retryable=False)
        return self.inner.call(operation, payload)


@pytest.mark.parametrize("stream", [False, True])
def test_a_settle_whose_answer_was_lost_reports_what_it_charged(app, customer, stream):
    # given a settle that DynamoDB applies while its answer (and its retries') are lost
    buyer = customer()
    app.runtime.hotpath.dynamodb = LostSettleAnswers(app.runtime.hotpath.dynamodb)

    # when the request completes
    answer = run(app, CHAT, chat("Hello there", stream=stream), buyer.api_key)

    # then the client is told the charge its record shows, not a 500 for a charged request
    assert answer.status == 200
    record = usage_of(buyer, answer.headers["x-request-id"])
    assert record["status"] == "settled"
    assert answer.cost() == Decimal(record["charge_usd"]) > 0
    balance, held = wallet(buyer.account_id)
    assert held == 0 and FUNDS - balance == int(Decimal(record["charge_usd"]) * 10**9)


class LostHoldAnswer:
    """DynamoDB applies the first hold but its answer is lost; the retry reaches a DynamoDB
    (moto here) that does not recognise the retried transaction's token."""

    def __init__(self, inner: Any) -> None:
        self.inner = inner
        self.lost = False

    def call(self, operation: str, payload: dict[str, Any]) -> dict[str, Any]:
        first = payload.get("TransactItems", [{}])[0]
        answer = self.inner.call(operation, payload)
        if operation == "TransactWriteItems" and "ConditionCheck" in first and not self.lost:
            self.lost = True
            raise AwsError("Timeout", "dynamodb: TimeoutError: timed out", retryable=False)
        return answer


@pytest.mark.parametrize("stream", [False, True])
def test_a_hold_whose_answer_was_lost_is_still_settled_once(app, customer, stream):
    buyer = customer()
    app.runtime.hotpath.dynamodb = LostHoldAnswer(app.runtime.hotpath.dynamodb)

    answer = run(app, CHAT, chat("Hello there", stream=stream), buyer.api_key)

    assert answer.status == 200
    record = usage_of(buyer, answer.headers["x-request-id"])
    assert answer.cost() == Decimal(record["charge_usd"]) > 0
    balance, held = wallet(buyer.account_id)
    assert held == 0 and FUNDS - balance == int(Decimal(record["charge_usd"]) * 10**9)


# ------------------------------------------------------- item 12: a client that hangs up mid-stream


@pytest.mark.parametrize("path", [CHAT, MESSAGES])
def test_a_client_that_hangs_up_mid_stream_pays_only_what_was_delivered(
    app, customer, upstreams, path
):
    # given a long stream, paced by the upstream, that the client leaves after a few chunks
    buyer = customer()
    text = "Tell me a story [[mock:chunk_delay_ms=20]]"
    body = chat(text, stream=True) if path == CHAT else anthropic_message(text, stream=True)
    whole = run(app, path, body, buyer.api_key)
    full = usage_of(buyer, whole.headers["x-request-id"])

    # when the client hangs up after three chunks
    cut = run(app, path, body, buyer.api_key, disconnect_after_chunks=3)

    # then the proxy stops, records client_closed and charges the delivered output only
    record = usage_of(buyer, cut.headers["x-request-id"])
    assert (record["status"], record["status_code"]) == ("client_closed", 200)
    assert record["usage_estimated"] is True
    assert record["output_tokens"] < full["output_tokens"]
    assert Decimal(record["charge_usd"]) < Decimal(full["charge_usd"])
    balance, held = wallet(buyer.account_id)
    spent = Decimal(full["charge_usd"]) + Decimal(record["charge_usd"])
    assert held == 0 and FUNDS - balance == int(spent * 10**9)


# ------------------------------------------------- issue 11: the answer goes out before the settle


EMBEDDINGS = "/v1/embeddings"
IMAGES = "/v1/images/generations"
ANSWERS = {
    CHAT: chat("Hello there"),
    MESSAGES: anthropic_message("Hello there"),
    EMBEDDINGS: {"model": "openai/text-embedding-3-small", "input": "Hello there"},
    IMAGES: {"model": "openai/gpt-image-1", "prompt": "a lighthouse", "size": "1024x1024"},
}
FINAL_EVENTS = (b"[DONE]", b"message_stop")


class Timeline:
    """What happened, in order: the messages the app sent its client and the settle
    transaction's start and end (a run of stream chunks is one entry)."""

    def __init__(self, app: ProxyApp) -> None:
        self.entries: list[str] = []
        watch_settles(app, self.add)

    def add(self, entry: str) -> None:
        if not (entry == "chunk" and self.entries[-1:] == ["chunk"]):
            self.entries.append(entry)

    def sent(self, message: dict[str, Any]) -> None:
        if message["type"] == "http.response.start":
            self.add("headers")
            return
        body, last = message.get("body", b""), not message.get("more_body")
        if any(marker in body for marker in FINAL_EVENTS):
            self.add("final event, response ends" if last else "final event")
        elif last:
            self.add("body, response ends" if body else "response ends")
        else:
            self.add("chunk")


@pytest.mark.parametrize("path", [CHAT, MESSAGES, EMBEDDINGS, IMAGES])
def test_a_complete_answer_is_sent_before_its_settle_begins(app, customer, path):
    # given a client asking for a non-streamed answer
    buyer = customer()
    timeline = Timeline(app)

    # when the request runs
    answer = run(app, path, ANSWERS[path], buyer.api_key, observe=timeline.sent)
    timeline.add("app returns")

    # then the whole answer (headers, then its body) went out first, the settle after it,
    # and the app returned only once the settle was done
    assert timeline.entries == [
        "headers",
        "body, response ends",
        "settle begins",
        "settle ends",
        "app returns",
    ]
    assert answer.status == 200 and answer.complete
    assert answer.headers["content-length"] == str(len(answer.body))
    record = usage_of(buyer, answer.headers["x-request-id"])
    assert record["status"] == "settled"
    assert Decimal(answer.headers["x-tollgate-cost"]) == Decimal(record["charge_usd"]) > 0


@pytest.mark.parametrize("path", [CHAT, MESSAGES])
def test_a_stream_sends_its_cost_and_end_event_before_the_settle_and_closes_after(
    app, customer, path
):
    # given a client streaming its answer
    buyer = customer()
    timeline = Timeline(app)
    body = chat("Hello", stream=True) if path == CHAT else anthropic_message("Hello", stream=True)

    # when the stream completes
    answer = run(app, path, body, buyer.api_key, observe=timeline.sent)
    timeline.add("app returns")

    # then the cost and the final event ([DONE], message_stop) come before the settle, and
    # the response ends once the settle is done
    assert timeline.entries == [
        "headers",
        "chunk",
        "final event",
        "settle begins",
        "settle ends",
        "response ends",
        "app returns",
    ]
    record = usage_of(buyer, answer.headers["x-request-id"])
    assert answer.cost() == Decimal(record["charge_usd"]) > 0


@pytest.mark.parametrize("stream", [False, True])
def test_a_client_gone_while_its_answer_is_sent_is_still_settled(app, customer, stream):
    # given a client whose connection resets as its answer's last part is written
    buyer = customer()

    def reset_at_the_end(message: dict[str, Any]) -> None:
        body = message.get("body", b"")
        if message.get("more_body") is False or any(m in body for m in FINAL_EVENTS):
            raise ConnectionResetError("the client went away")

    # when the request runs
    answer = run(app, CHAT, chat("Hello", stream=stream), buyer.api_key, observe=reset_at_the_end)

    # then the settle ran all the same: the usage the upstream billed is charged and recorded
    assert not answer.complete
    record = usage_of(buyer, answer.headers["x-request-id"])
    assert record["status"] == "settled" and Decimal(record["charge_usd"]) > 0
    balance, held = wallet(buyer.account_id)
    assert held == 0 and FUNDS - balance == int(Decimal(record["charge_usd"]) * 10**9)


class FailingSettles:
    """DynamoDB refuses every settle transaction (throttled, then failing) however often it is
    retried; every other call goes through."""

    def __init__(self, inner: Any) -> None:
        self.inner = inner

    def call(self, operation: str, payload: dict[str, Any]) -> dict[str, Any]:
        first = payload.get("TransactItems", [{}])[0]
        if operation == "TransactWriteItems" and "Delete" in first:
            raise AwsError("InternalServerError", "dynamodb: failing", retryable=True)
        return self.inner.call(operation, payload)


def reaper_run_after_expiry(hotpath: HotPath) -> dict[str, int]:
    """The reaper's run once every hold taken now has expired."""
    return release_expired_holds(hotpath, clock.utcnow() + HOLD_LIFETIME + timedelta(seconds=1))


@pytest.mark.parametrize("stream", [False, True])
def test_a_settle_failing_after_the_answer_leaves_the_hold_to_the_reaper(
    app, customer, capsys, stream
):
    # given a DynamoDB that fails every settle, after the hold was taken
    buyer = customer()
    hotpath = app.runtime.hotpath
    store = hotpath.dynamodb
    hotpath.dynamodb = FailingSettles(store)

    # when the request runs
    answer = run(app, CHAT, chat("Hello there", stream=stream), buyer.api_key)

    # then the client has its whole answer and the cost it would have paid, the failure is
    # counted, and the hold is still held
    assert answer.status == 200 and answer.complete
    assert answer.cost() is not None and answer.cost() > 0
    if stream:
        assert data_events(answer)[-1] == "[DONE]"
    assert emitted_metrics(capsys.readouterr().out)["SettleFailedAfterAnswer"] == [1.0]
    assert wallet(buyer.account_id)[1] > 0

    # and when the reaper runs after the hold's expiry, wallet and record agree: nothing charged
    hotpath.dynamodb = store
    assert reaper_run_after_expiry(hotpath)["released"] == 1
    assert wallet(buyer.account_id) == (FUNDS, 0)
    record = usage_of(buyer, answer.headers["x-request-id"])
    assert (record["status"], record["charge_usd"]) == ("abandoned", "0.00")


def test_a_settle_that_finds_its_hold_released_is_counted(app, customer, capsys):
    # given a reaper that releases the hold just before the settle (the sandbox was frozen
    # past the hold's expiry after the answer went out)
    buyer = customer()
    hotpath = app.runtime.hotpath
    settle = hotpath.settle

    def settle_after_the_reaper(*args: Any) -> bool:
        reaper_run_after_expiry(hotpath)
        return settle(*args)

    hotpath.settle = settle_after_the_reaper  # type: ignore[method-assign]

    # when the request runs
    answer = run(app, CHAT, chat("Hello there"), buyer.api_key)

    # then the client was told its cost, the late settle changed nothing and was counted,
    # and wallet and record agree on the reaper's release
    assert Decimal(answer.headers["x-tollgate-cost"]) > 0
    assert emitted_metrics(capsys.readouterr().out)["SettleFoundHoldReleased"] == [1.0]
    assert wallet(buyer.account_id) == (FUNDS, 0)
    record = usage_of(buyer, answer.headers["x-request-id"])
    assert (record["status"], record["charge_usd"]) == ("abandoned", "0.00")


# ------------------------------------------------------------------------------- the acceptance


FAULTS = ["", "[[mock:fault=500]]", "[[mock:fault=cut]]", "[[mock:fault=malformed]]"]


def test_a_hundred_concurrent_requests_each_see_exactly_what_they_paid(app, customer):
    # given a wallet that affords about ten holds
    texts = [f"Story {FAULTS[n % 4]}" for n in range(100)]
    longest = max(texts, key=len)
    hold = pricing.chat_hold(load_catalog().model(MODEL), chat_input(chat(longest)), max_output=200)
    credit = hold * 10 + hold // 2
    buyer = customer(credit)

    # when a hundred requests, half of them streams, a quarter each with a fault, run at once
    async def everyone() -> list[Exchange]:
        return await asyncio.gather(
            *(
                call(app, CHAT, chat(text, stream=n % 2 == 1), key=buyer.api_key)
                for n, text in enumerate(texts)
            )
        )

    answers = asyncio.run(everyone())

    # then every client's observed cost is its record's charge, and they add up to the debit
    assert any(a.status == 200 for a in answers)
    observed_total = 0
    for answer in answers:
        observed = answer.cost()
        assert observed is not None, (answer.status, answer.body[-300:])
        if answer.status == 402:
            assert observed == 0
            continue
        record = usage_of(buyer, answer.headers["x-request-id"])
        assert observed == Decimal(record["charge_usd"]), (answer.status, record)
        observed_total += int(observed * 10**9)
    balance, held = wallet(buyer.account_id)
    assert held == 0
    assert credit - balance == observed_total == charges_in_ledger(buyer.account_id)
