"""Mail end to end on devstack: an action over HTTP queues its notification, devstack hands the
queue to MailerFunction as Lambda would, and `python -m devstack outbox` shows the mail."""

from __future__ import annotations

import subprocess
import sys
import time
import uuid

import httpx
import pytest

from tests.e2e.conftest import ROOT
from tests.e2e.stack import COMMAND_TIMEOUT_S, HTTP_TIMEOUT_S

pytestmark = pytest.mark.e2e
MAIL_WAIT_S = 120  # a deadline, not a wait: the mailer polls its queue twice a second


def devstack_command(devstack, *arguments: str) -> str:
    done = subprocess.run(
        [sys.executable, "-m", "devstack", "--state-dir", devstack["STATE_DIR"], *arguments],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=COMMAND_TIMEOUT_S,
        check=True,
    )
    return done.stdout


def outbox_until(devstack, email: str, *expected: str) -> str:
    """The outbox's mails to ``email`` once they show every ``expected`` text."""
    deadline = time.monotonic() + MAIL_WAIT_S
    while True:
        shown = devstack_command(devstack, "outbox", "--to", email, "--last", "10")
        if all(text in shown for text in expected) or time.monotonic() > deadline:
            return shown
        time.sleep(0.5)


def test_a_created_key_and_a_top_up_are_mailed_to_the_owner(devstack):
    # Given a new account, made by the operator over HTTP
    url = devstack["TOLLGATE_URL"]
    email = f"owner-{uuid.uuid4().hex[:10]}@example.com"
    operator = {"Authorization": f"Bearer {devstack['TOLLGATE_OPERATOR_KEY']}"}
    created = httpx.post(
        f"{url}/operator/accounts",
        json={"email": email, "name": "Mail E2E"},
        headers=operator,
        timeout=HTTP_TIMEOUT_S,
    )
    assert created.status_code == 201, created.text
    account_id = created.json()["account"]["id"]
    admin_key = created.json()["admin_key"]["secret"]

    # When its admin creates a key and the account is topped up through Stripe Checkout
    key = httpx.post(
        f"{url}/v1/keys",
        json={"name": "mailed-key", "role": "inference"},
        headers={"Authorization": f"Bearer {admin_key}"},
        timeout=HTTP_TIMEOUT_S,
    )
    assert key.status_code == 201, key.text
    devstack_command(devstack, "pay", "--amount", "20", "--account", account_id)

    # Then the outbox shows both mails to the owner: the key by id, the payment with its
    # receipt link, and never a secret
    shown = outbox_until(devstack, email, key.json()["id"], "Payment received: 20.00 USD")
    assert f"To: {email}" in shown
    assert key.json()["id"] in shown and "mailed-key" in shown
    assert "Payment received: 20.00 USD" in shown and "Receipt: http" in shown
    assert key.json()["secret"] not in shown and admin_key not in shown
