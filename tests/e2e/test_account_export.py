"""A customer exports its account over HTTP: it proxies a request whose prompt is a canary,
starts an export, polls until it is ready, downloads the ZIP through the link and finds its
request, its keys and its audit trail there, and never the prompt or a key's secret.
devstack delivers the export queue's messages to ExportFunction, as Lambda's SQS event source
does (devstack/queues.py).
"""

from __future__ import annotations

import json

import openai
import pytest

from tests.e2e.stack import (
    export_account,
    export_files,
    new_customer,
    wallet,
)

CANARY_PROMPT = "an exported canary never sings e2e 41c9"

pytestmark = pytest.mark.e2e


def test_a_customer_downloads_its_export_without_its_prompts_or_secrets(devstack):
    customer = new_customer(devstack, credit_usd="5.00")
    client = openai.OpenAI(
        base_url=devstack["OPENAI_BASE_URL"], api_key=customer.api_key, max_retries=0
    )
    answer = client.chat.completions.with_raw_response.create(
        model="openai/gpt-4o-mini", messages=[{"role": "user", "content": CANARY_PROMPT}]
    )
    wallet(devstack, customer.account_id)  # its settle wrote the usage record

    export = export_account(devstack, customer.admin_key)

    assert export["status"] == "ready", export
    files = export_files(export)
    usage = json.loads(files["usage.json"])
    assert [record["request_id"] for record in usage] == [answer.headers["x-request-id"]]
    assert {key["role"] for key in json.loads(files["keys.json"])} == {"admin", "inference"}
    actions = {event["action"] for event in json.loads(files["audit.json"])}
    assert "account.export_requested" in actions
    for name, content in files.items():
        for canary in (CANARY_PROMPT, customer.api_key, customer.admin_key):
            assert canary.encode() not in content, name
