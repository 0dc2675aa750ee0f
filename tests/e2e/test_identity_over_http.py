"""People over HTTP on devstack, with plain HTTP calls as curl makes them: the demo owner logs
in; a new email signs up, reads its code from the mail devstack sent, confirms, logs in and
makes an admin key with its session."""

from __future__ import annotations

import re
import time
import uuid

import httpx

from devstack import outbox
from tests.e2e.stack import HTTP_TIMEOUT_S

PASSWORD = "E2e-pass-4821"
MAIL_WAIT_S = 120  # a deadline, not a wait: the mailer polls its queue twice a second


def post(devstack, path: str, body: dict | None = None, token: str | None = None):
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    url = devstack["TOLLGATE_URL"] + path
    return httpx.post(url, json=body, headers=headers, timeout=HTTP_TIMEOUT_S)


def mailed_code(devstack, email: str) -> str:
    """The latest code mailed to ``email``, from moto's SES (what `devstack outbox` reads),
    once the mailer, fed by devstack's queue poller, has sent it."""
    deadline = time.monotonic() + MAIL_WAIT_S
    while True:
        mine = [m for m in outbox.sent_mails(devstack["AWS_ENDPOINT_URL"]) if m.to == email]
        if mine or time.monotonic() > deadline:
            return re.search(r"\b(\d{6})\b", mine[-1].text).group(1)
        time.sleep(0.5)


def test_the_demo_owner_logs_in_and_sees_the_demo_accounts_keys(devstack):
    login = {
        "email": devstack["TOLLGATE_CONSOLE_EMAIL"],
        "password": devstack["TOLLGATE_CONSOLE_PASSWORD"],
    }
    session = post(devstack, "/v1/auth/login", login)
    assert session.status_code == 200, session.text

    headers = {"Authorization": f"Bearer {session.json()['access_token']}"}
    keys = httpx.get(devstack["TOLLGATE_URL"] + "/v1/keys", headers=headers, timeout=HTTP_TIMEOUT_S)

    assert keys.status_code == 200, keys.text
    assert {k["role"] for k in keys.json()["data"]} == {"admin", "inference"}


def test_a_new_email_signs_up_confirms_logs_in_and_makes_an_admin_key(devstack):
    email = f"new-{uuid.uuid4().hex[:10]}@example.com"
    signup = {"email": email, "password": PASSWORD, "name": "New Person", "company": "E2E Ltd"}
    assert post(devstack, "/v1/auth/signup", signup).status_code == 202

    confirmed = post(
        devstack, "/v1/auth/confirm", {"email": email, "code": mailed_code(devstack, email)}
    )
    assert confirmed.status_code == 200, confirmed.text
    session = post(devstack, "/v1/auth/login", {"email": email, "password": PASSWORD})
    assert session.status_code == 200, session.text
    token = session.json()["access_token"]

    created = post(devstack, "/v1/keys", {"name": "ops", "role": "admin"}, token=token)

    assert created.status_code == 201, created.text
    admin = {"Authorization": f"Bearer {created.json()['secret']}"}
    wallet = httpx.get(
        devstack["TOLLGATE_URL"] + "/v1/wallet", headers=admin, timeout=HTTP_TIMEOUT_S
    )
    assert wallet.status_code == 200, wallet.text
    assert wallet.json()["account_id"] == confirmed.json()["account_id"]
    assert wallet.json()["balance_usd"] in ("0.00", "0")


def test_a_logged_out_session_is_refused(devstack):
    login = {
        "email": devstack["TOLLGATE_CONSOLE_EMAIL"],
        "password": devstack["TOLLGATE_CONSOLE_PASSWORD"],
    }
    token = post(devstack, "/v1/auth/login", login).json()["access_token"]

    assert post(devstack, "/v1/auth/logout", token=token).status_code == 200

    headers = {"Authorization": f"Bearer {token}"}
    keys = httpx.get(devstack["TOLLGATE_URL"] + "/v1/keys", headers=headers, timeout=HTTP_TIMEOUT_S)
    assert keys.status_code == 401
