"""Whatever goes wrong, the wallet is whole: no leaked hold, nothing charged twice, and the
client gets a clear error in its own wire format."""

from __future__ import annotations

import concurrent.futures
import gzip
import io
import json
import uuid
import zipfile
from pathlib import Path

import anthropic
import httpx
import openai
import pytest

from tests.e2e.stack import (
    HTTP_TIMEOUT_S,
    dynamodb,
    export_account,
    nanos,
    new_customer,
    usage_records,
    wallet,
)
from tollgate import pricing
from tollgate.catalog import load_catalog
from tollgate.proxy.chat import chat_input

pytestmark = pytest.mark.e2e


def client(devstack, key: str) -> openai.OpenAI:
    return openai.OpenAI(base_url=devstack["OPENAI_BASE_URL"], api_key=key, max_retries=0)


def ask(devstack, key: str, text: str, model: str = "openai/gpt-4.1", **extra):
    return client(devstack, key).chat.completions.create(
        model=model, messages=[{"role": "user", "content": text}], max_tokens=20, **extra
    )


@pytest.mark.parametrize(
    ("fault", "error", "status"),
    [
        ("500", openai.InternalServerError, 502),
        ("malformed", openai.InternalServerError, 502),
        ("timeout", openai.APIStatusError, 504),
        ("429", openai.RateLimitError, 429),
    ],
)
def test_an_upstream_failure_releases_the_hold_and_charges_nothing(devstack, fault, error, status):
    customer = new_customer(devstack, credit_usd="1.00")

    with pytest.raises(error) as raised:
        ask(devstack, customer.api_key, f"Hello [[mock:fault={fault}]]")

    assert raised.value.status_code == status
    assert wallet(devstack, customer.account_id) == (nanos("1.00"), 0)
    (record,) = usage_records(devstack, customer.account_id)
    assert record["status_code"] == status and record["charge"] == 0


def test_a_rate_limited_upstream_answers_with_retry_after(devstack):
    customer = new_customer(devstack, credit_usd="1.00")

    answer = httpx.post(
        f"{devstack['OPENAI_BASE_URL']}/chat/completions",
        headers={"Authorization": f"Bearer {customer.api_key}"},
        json={
            "model": "openai/gpt-4.1",
            "messages": [{"role": "user", "content": "[[mock:fault=429]]"}],
        },
        timeout=HTTP_TIMEOUT_S,
    )

    assert answer.status_code == 429
    assert int(answer.headers["retry-after"]) >= 1


def test_a_stream_cut_midway_is_charged_an_estimate_and_marked(devstack):
    customer = new_customer(devstack, credit_usd="1.00")
    stream = ask(devstack, customer.api_key, "Long story [[mock:fault=cut]]", stream=True)

    with pytest.raises(openai.APIError):
        for _ in stream:
            pass

    balance, held = wallet(devstack, customer.account_id)
    (record,) = usage_records(devstack, customer.account_id)
    assert held == 0
    assert record["usage_estimated"] is True and record["status"] == "cut"
    assert nanos("1.00") - balance == record["charge"] > 0


def test_a_failing_first_route_falls_back_to_the_next(devstack):
    customer = new_customer(devstack, credit_usd="1.00")
    # openai/gpt-4o falls back to openai/gpt-4.1; the mock fails gpt-4o's upstream model only
    fault = "[[mock:fault=500,fault_model=gpt-4o-2024-08-06]]"

    raw = client(devstack, customer.api_key).chat.completions.with_raw_response.create(
        model="openai/gpt-4o", messages=[{"role": "user", "content": f"Hello {fault}"}]
    )

    assert raw.parse().choices[0].message.content
    (record,) = usage_records(devstack, customer.account_id)
    assert record["route"] == 1
    assert record["model"] == "openai/gpt-4.1"
    assert record["charge"] == nanos(raw.headers["x-tollgate-cost"]) > 0


def test_a_revoked_key_is_refused_on_its_next_request(devstack):
    customer = new_customer(devstack, credit_usd="1.00")
    ask(devstack, customer.api_key, "Hello")
    key_id = next(
        k["id"]
        for k in httpx.get(
            f"{devstack['TOLLGATE_URL']}/v1/keys",
            headers={"Authorization": f"Bearer {customer.admin_key}"},
            timeout=HTTP_TIMEOUT_S,
        ).json()["data"]
        if k["role"] == "inference"
    )

    httpx.delete(
        f"{devstack['TOLLGATE_URL']}/v1/keys/{key_id}",
        headers={"Authorization": f"Bearer {customer.admin_key}"},
        timeout=HTTP_TIMEOUT_S,
    )

    with pytest.raises(openai.AuthenticationError) as refused:
        ask(devstack, customer.api_key, "Hello again")
    assert refused.value.body["code"] == "key_revoked"


def test_an_account_without_credit_gets_402_in_both_formats(devstack):
    customer = new_customer(devstack, credit_usd=None)

    with pytest.raises(openai.APIStatusError) as refused:
        ask(devstack, customer.api_key, "Hello")
    anthropic_client = anthropic.Anthropic(
        base_url=devstack["TOLLGATE_URL"], api_key=customer.api_key, max_retries=0
    )
    with pytest.raises(anthropic.APIStatusError) as refused_too:
        anthropic_client.messages.create(
            model="openai/gpt-4.1", max_tokens=10, messages=[{"role": "user", "content": "Hi"}]
        )

    assert refused.value.status_code == 402
    assert refused.value.body["code"] == "insufficient_balance"
    assert refused_too.value.status_code == 402
    assert refused_too.value.body["error"]["type"] == "billing_error"
    assert wallet(devstack, customer.account_id) == (0, 0)


@pytest.mark.parametrize(
    ("body", "status", "code"),
    [
        (b'{"model": ', 400, "invalid_json"),
        (json.dumps({"model": "openai/gpt-4.1"}).encode(), 400, "invalid_request"),
        (
            json.dumps(
                {"model": "nope/x", "messages": [{"role": "user", "content": "x"}]}
            ).encode(),
            404,
            "model_not_found",
        ),
        (b"{" + b" " * (7 * 1024 * 1024) + b"}", 413, "request_too_large"),
    ],
)
def test_bad_requests_get_openai_errors_and_hold_nothing(devstack, body, status, code):
    customer = new_customer(devstack, credit_usd="1.00")

    answer = httpx.post(
        f"{devstack['OPENAI_BASE_URL']}/chat/completions",
        headers={"Authorization": f"Bearer {customer.api_key}", "content-type": "application/json"},
        content=body,
        timeout=HTTP_TIMEOUT_S,
    )

    assert answer.status_code == status
    assert answer.json()["error"]["code"] == code
    assert wallet(devstack, customer.account_id) == (nanos("1.00"), 0)


def test_fifty_concurrent_requests_on_a_wallet_for_ten_holds(devstack):
    catalog = load_catalog()
    # Every hold must be taken while the first answers are still on their way: moto takes the
    # fifty holds one at a time (tens of ms each on a loaded machine), and an answer settled
    # before the last hold gives its money back for another request.
    messages = [{"role": "user", "content": "Concurrency [[mock:latency_ms=5000]]"}]
    body = {"model": "openai/gpt-4.1", "messages": messages, "max_tokens": 2000}
    hold = pricing.chat_hold(catalog.model("openai/gpt-4.1"), chat_input(body), max_output=2000)
    credit = hold * 10 + hold // 2
    customer = new_customer(devstack, credit_usd=f"{credit / 10**9:.9f}")
    openai_client = client(devstack, customer.api_key)

    def one(_: int) -> str:
        try:
            openai_client.chat.completions.create(
                model="openai/gpt-4.1", messages=messages, max_tokens=2000
            )
            return "ok"
        except openai.APIStatusError as error:
            return str(error.status_code)

    with concurrent.futures.ThreadPoolExecutor(max_workers=50) as pool:
        outcomes = list(pool.map(one, range(50)))

    balance, held = wallet(devstack, customer.account_id)
    records = usage_records(devstack, customer.account_id)
    assert 1 <= outcomes.count("ok") <= 10
    assert outcomes.count("ok") + outcomes.count("402") == 50, sorted(set(outcomes))
    assert held == 0 and balance >= 0
    assert credit - balance == sum(int(r["charge"]) for r in records)
    assert len(records) == outcomes.count("ok")


def test_no_prompt_or_response_content_is_stored_or_logged(devstack):
    canary = f"canary-{uuid.uuid4().hex}"
    customer = new_customer(devstack, credit_usd="3.00")  # a 4 s video holds 1.60
    tools = [
        {
            "type": "function",
            "function": {
                "name": "lookup",
                "parameters": {
                    "type": "object",
                    "properties": {"term": {"type": "string", "enum": [canary]}},
                    "required": ["term"],
                },
            },
        }
    ]
    for model in ("openai/gpt-4.1", "anthropic/claude-haiku-4-5", "gemini/gemini-2.5-flash"):
        answer = client(devstack, customer.api_key).chat.completions.create(
            model=model,
            messages=[{"role": "user", "content": f"Please lookup {canary}"}],
            tools=tools,
            tool_choice="required",
        )
        assert canary in answer.choices[0].message.tool_calls[0].function.arguments
        stream = client(devstack, customer.api_key).chat.completions.create(
            model=model, messages=[{"role": "user", "content": canary}], stream=True
        )
        for _ in stream:
            pass
    made_a_video_of(devstack, customer.api_key, f"{canary} [[mock:video_ms=100]]")
    # the account's export is scanned with the other objects
    assert export_account(devstack, customer.admin_key)["status"] == "ready"

    for table in dynamodb(devstack).tables.all():
        for item in table.scan()["Items"]:
            assert canary not in str(item), table.name
    s3 = _s3(devstack)
    for bucket in s3.list_buckets()["Buckets"]:
        for obj in s3.list_objects_v2(Bucket=bucket["Name"]).get("Contents", []):
            body = s3.get_object(Bucket=bucket["Name"], Key=obj["Key"])["Body"].read()
            if obj["Key"].endswith(".gz"):
                body = gzip.decompress(body)
            if obj["Key"].endswith(".zip"):
                with zipfile.ZipFile(io.BytesIO(body)) as archive:
                    body = b"".join(archive.read(name) for name in archive.namelist())
            assert canary.encode() not in body
    log = (Path(devstack["STATE_DIR"]) / "stderr.log").read_text()
    assert canary not in log
    assert "Please lookup" not in log


def made_a_video_of(devstack, api_key: str, prompt: str) -> None:
    """A video job of ``prompt``, polled to completion and downloaded."""
    with httpx.Client(
        base_url=devstack["OPENAI_BASE_URL"],
        headers={"Authorization": f"Bearer {api_key}"},
        timeout=HTTP_TIMEOUT_S,
    ) as api:
        body = {"model": "gemini/veo-3.0-generate-001", "prompt": prompt, "seconds": 4}
        video = api.post("/videos", json=body).raise_for_status().json()
        while video["status"] not in ("completed", "failed"):
            video = api.get(f"/videos/{video['id']}").raise_for_status().json()
        assert video["status"] == "completed"
        assert api.get(f"/videos/{video['id']}/content").raise_for_status().content


def _s3(devstack):
    import boto3

    return boto3.client(
        "s3",
        endpoint_url=devstack["AWS_ENDPOINT_URL"],
        region_name=devstack["AWS_REGION"],
        aws_access_key_id="devstack",
        aws_secret_access_key="devstack",
    )
