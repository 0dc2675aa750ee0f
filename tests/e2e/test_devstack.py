"""devstack itself, as a first-time user meets it: the source IP it hands the functions, what
it prints and writes, its commands' errors, a busy port and Ctrl-C."""

from __future__ import annotations

import json
import os
import shlex
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
import openai
import pytest

from tests.e2e.conftest import read_contract
from tests.e2e.stack import ROOT, new_customer

pytestmark = pytest.mark.e2e

FORGED = {"X-Forwarded-For": "10.1.2.3"}
STOP_BOUND_SECONDS = 20  # a liveness bound, not a performance figure


def clean_environment() -> dict[str, str]:
    return {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "POWERTOOLS_"))}


def test_a_forwarded_for_header_does_not_move_the_source_ip_into_a_keys_networks(devstack):
    # Given a key that only works from 10.0.0.0/8
    customer = new_customer(devstack, credit_usd="1.00")
    created = httpx.post(
        f"{devstack['TOLLGATE_URL']}/v1/keys",
        headers={"Authorization": f"Bearer {customer.admin_key}", **FORGED},
        json={"role": "inference", "allowed_cidrs": ["10.0.0.0/8"]},
    )
    assert created.status_code == 201, created.text
    client = openai.OpenAI(
        base_url=devstack["OPENAI_BASE_URL"],
        api_key=created.json()["secret"],
        max_retries=0,
        default_headers=FORGED,
    )

    # When a request from loopback claims to be forwarded for 10.1.2.3
    with pytest.raises(openai.PermissionDeniedError) as refused:
        client.chat.completions.create(
            model="openai/gpt-4o-mini", messages=[{"role": "user", "content": "Hi"}]
        )

    # Then the key refuses it, and the audit trail names the real peer
    assert refused.value.status_code == 403
    assert refused.value.body["code"] == "ip_not_allowed"
    events = httpx.get(
        f"{devstack['TOLLGATE_URL']}/v1/audit",
        headers={"Authorization": f"Bearer {customer.admin_key}", **FORGED},
    ).json()["data"]
    key_created = [event for event in events if event["action"] == "key.created"]
    assert key_created and {event["source_ip"] for event in key_created} == {"127.0.0.1"}


def devstack_command(devstack, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "devstack", "--state-dir", devstack["STATE_DIR"], *args],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_the_printed_values_are_also_in_the_env_file_a_shell_can_source(devstack):
    exported = {}
    for line in Path(devstack["DEVSTACK_ENV_FILE"]).read_text().splitlines():
        export, assignment = shlex.split(line)
        name, _, value = assignment.partition("=")
        assert export == "export"
        exported[name] = value

    assert exported == {k: v for k, v in devstack.items() if k != "STATE_DIR"}


def test_function_logs_go_to_the_logs_folder_not_the_terminal(devstack):
    customer = new_customer(devstack, credit_usd="1.00")
    openai.OpenAI(
        base_url=devstack["OPENAI_BASE_URL"], api_key=customer.api_key, max_retries=0
    ).chat.completions.create(
        model="openai/gpt-4o-mini", messages=[{"role": "user", "content": "Hi"}]
    )

    lines = (Path(devstack["DEVSTACK_LOGS"]) / "functions.log").read_text().splitlines()
    assert any(json.loads(line).get("service") == "tollgate" for line in lines if line)


@pytest.mark.parametrize(
    ("account", "amount", "says"),
    [
        ("acct_does_not_exist", "5.00", "no account 'acct_does_not_exist'"),
        (None, "-5", "positive USD amount"),
        (None, "five", "positive USD amount"),
    ],
)
def test_credit_refuses_bad_input_in_one_line(devstack, account, amount, says):
    result = devstack_command(
        devstack, "credit", account or devstack["TOLLGATE_ACCOUNT_ID"], amount
    )

    assert result.returncode == 2
    assert says in result.stderr
    assert "Traceback" not in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1


def test_paying_for_another_account_makes_no_key_in_it(devstack):
    customer = new_customer(devstack, credit_usd=None)
    admin = {"Authorization": f"Bearer {customer.admin_key}"}
    keys_before = httpx.get(f"{devstack['TOLLGATE_URL']}/v1/keys", headers=admin).json()["data"]

    result = devstack_command(devstack, "pay", "--amount", "20", "--account", customer.account_id)

    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout)["balance_usd"] == "20.00"
    keys_after = httpx.get(f"{devstack['TOLLGATE_URL']}/v1/keys", headers=admin).json()["data"]
    assert keys_after == keys_before


def test_a_busy_port_says_which_one_and_how_to_pick_another(tmp_path):
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        result = subprocess.run(
            [sys.executable, "-m", "devstack", "--port", str(port), "--state-dir", str(tmp_path)],
            cwd=ROOT,
            env=clean_environment(),
            capture_output=True,
            text=True,
            timeout=120,
        )

    assert result.returncode == 2
    assert f"port {port} is already in use" in result.stderr
    assert f"make run PORT={port + 1}" in result.stderr
    assert "Traceback" not in result.stderr


def test_ctrl_c_stops_devstack_even_with_connections_open(tmp_path):
    process = subprocess.Popen(
        [sys.executable, "-m", "devstack", "--port", "0", "--state-dir", str(tmp_path)],
        cwd=ROOT,
        env=clean_environment(),
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    )
    try:
        contract = read_contract(process)
        # Given a keep-alive connection to the API and a stream still being answered
        with httpx.Client(timeout=30) as client:
            client.get(f"{contract['TOLLGATE_URL']}/v1/models")
            slow = {
                "model": "openai/gpt-4o-mini",
                "stream": True,
                "messages": [{"role": "user", "content": "[[mock:chunk_delay_ms=2000]] Hi"}],
            }
            auth = {"Authorization": f"Bearer {contract['TOLLGATE_API_KEY']}"}
            with client.stream(
                "POST", f"{contract['OPENAI_BASE_URL']}/chat/completions", json=slow, headers=auth
            ) as answer:
                next(answer.iter_raw())
                # When Ctrl-C arrives
                process.send_signal(signal.SIGINT)
                # Then devstack exits on its own, well before this generous bound
                assert process.wait(timeout=STOP_BOUND_SECONDS) == 0
    finally:
        if process.poll() is None:
            process.kill()


def test_a_proxy_warning_carries_the_proxys_name_and_its_own_request_id(devstack):
    # Given an event function (KeysFunction) has just handled a request in the same process
    customer = new_customer(devstack, credit_usd="1.00")
    httpx.get(
        f"{devstack['TOLLGATE_URL']}/v1/keys",
        headers={"Authorization": f"Bearer {customer.admin_key}"},
        timeout=60,
    )

    # When the proxy logs a warning (an upstream route fails)
    answer = httpx.post(
        f"{devstack['OPENAI_BASE_URL']}/chat/completions",
        headers={"Authorization": f"Bearer {customer.api_key}"},
        json={
            "model": "openai/gpt-4o-mini",
            "messages": [{"role": "user", "content": "[[mock:fault=500]] Hi"}],
        },
        timeout=60,
    )
    request_id = answer.headers["x-request-id"]

    # Then its line names the proxy and that request, not the keys function's
    log = (Path(devstack["DEVSTACK_LOGS"]) / "functions.log").read_text().splitlines()
    lines = [json.loads(line) for line in log if line.startswith("{") and request_id in line]
    warnings = [line for line in lines if line.get("level") == "WARNING"]
    assert warnings
    for line in warnings:
        assert line["function_name"] == "tollgate-local-ProxyFunction"
        assert line["correlation_id"] == request_id


def test_the_aws_emulator_logs_each_dynamodb_call_of_a_request_with_its_times(devstack):
    # Given a customer with a fresh key (its first use reads the key from DynamoDB)
    customer = new_customer(devstack, credit_usd="1.00")
    client = openai.OpenAI(
        base_url=devstack["OPENAI_BASE_URL"], api_key=customer.api_key, max_retries=0
    )

    # When they make a chat completion
    before = time.time()
    client.chat.completions.create(
        model="openai/gpt-4o-mini", messages=[{"role": "user", "content": "Hi"}]
    )
    after = time.time()

    # Then the emulator's request log holds its DynamoDB calls as they happened: the key's
    # GetItem and the hold's TransactWriteItems, each received, started and answered in turn
    log = Path(devstack["DEVSTACK_LOGS"]) / "dynamodb.jsonl"
    lines = [json.loads(line) for line in log.read_text().splitlines()]
    during = [line for line in lines if before <= line["received"] and line["answered"] <= after]
    assert {"GetItem", "TransactWriteItems"} <= {line["op"] for line in during}
    assert all(line["received"] <= line["started"] <= line["answered"] for line in lines)
