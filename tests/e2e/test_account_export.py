"""A customer exports its account over HTTP: it proxies a request whose prompt is a canary,
starts an export, polls until it is ready, downloads the ZIP through the link and finds its
request, its keys and its audit trail there, and never the prompt or a key's secret.

devstack must deliver the export queue's messages to ExportFunction, as Lambda's SQS event
source does; until it can, this test is skipped (see ``devstack_delivers_sqs``).
"""

from __future__ import annotations

import io
import json
import time
import zipfile
from pathlib import Path

import httpx
import openai
import pytest

from tests.e2e.stack import HTTP_TIMEOUT_S, new_customer, wallet

ROOT = Path(__file__).resolve().parents[2]
CANARY_PROMPT = "an exported canary never sings e2e 41c9"
# A deadline for the export to be written, generous for a loaded machine: not a wait.
READY_DEADLINE_S = 600


def devstack_delivers_sqs() -> bool:
    """Whether devstack runs the functions an SQS queue triggers: something in it receives
    messages. A capability check to remove once devstack's queue poller is merged."""
    return any(
        "receive_message" in source.read_text() for source in (ROOT / "devstack").glob("*.py")
    )


pytestmark = [
    pytest.mark.e2e,
    pytest.mark.skipif(
        not devstack_delivers_sqs(), reason="devstack does not deliver SQS messages yet"
    ),
]


def test_a_customer_downloads_its_export_without_its_prompts_or_secrets(devstack):
    customer = new_customer(devstack, credit_usd="5.00")
    client = openai.OpenAI(
        base_url=devstack["OPENAI_BASE_URL"], api_key=customer.api_key, max_retries=0
    )
    answer = client.chat.completions.with_raw_response.create(
        model="openai/gpt-4o-mini", messages=[{"role": "user", "content": CANARY_PROMPT}]
    )
    wallet(devstack, customer.account_id)  # its settle wrote the usage record
    api = httpx.Client(
        base_url=devstack["TOLLGATE_URL"],
        headers={"Authorization": f"Bearer {customer.admin_key}"},
        timeout=HTTP_TIMEOUT_S,
    )

    started = api.post("/v1/account/exports")
    assert started.status_code == 202, started.text
    export = started.json()
    deadline = time.monotonic() + READY_DEADLINE_S
    while export["status"] in ("pending", "running") and time.monotonic() < deadline:
        time.sleep(0.5)
        export = api.get(f"/v1/account/exports/{export['id']}").json()
    assert export["status"] == "ready", export
    download = httpx.get(export["download_url"], timeout=HTTP_TIMEOUT_S)

    assert download.status_code == 200
    with zipfile.ZipFile(io.BytesIO(download.content)) as archive:
        files = {name: archive.read(name) for name in archive.namelist()}
    usage = json.loads(files["usage.json"])
    assert [record["request_id"] for record in usage] == [answer.headers["x-request-id"]]
    assert {key["role"] for key in json.loads(files["keys.json"])} == {"admin", "inference"}
    actions = {event["action"] for event in json.loads(files["audit.json"])}
    assert "account.export_requested" in actions
    for name, content in files.items():
        for canary in (CANARY_PROMPT, customer.api_key, customer.admin_key):
            assert canary.encode() not in content, name
