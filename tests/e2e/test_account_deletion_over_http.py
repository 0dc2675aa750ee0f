"""An account's end over HTTP on devstack: a new owner signs up and deletes the account with
its name typed back; its keys are refused at once on the proxy and on management routes; the
purge, run 31 days later with `python -m devstack invoke PurgeFunction --now ...`, leaves the
operator's view of the account without its name or email."""

from __future__ import annotations

import json
import subprocess
import sys
import uuid
from datetime import UTC, datetime, timedelta

import httpx

from tests.e2e.stack import COMMAND_TIMEOUT_S, HTTP_TIMEOUT_S, ROOT, credit
from tests.e2e.test_identity_over_http import PASSWORD, mailed_code, post


def signed_up_owner(devstack, email: str, company: str) -> tuple[str, str]:
    """A new sign-up, confirmed from its mail and logged in: its account and session token."""
    body = {"email": email, "password": PASSWORD, "name": "Erin Deletes", "company": company}
    assert post(devstack, "/v1/auth/signup", body).status_code == 202
    code = mailed_code(devstack, email)
    confirmed = post(devstack, "/v1/auth/confirm", {"email": email, "code": code})
    assert confirmed.status_code == 200, confirmed.text
    session = post(devstack, "/v1/auth/login", {"email": email, "password": PASSWORD})
    assert session.status_code == 200, session.text
    return confirmed.json()["account_id"], session.json()["access_token"]


def call(devstack, method: str, path: str, token: str, body: dict | None = None):
    return httpx.request(
        method,
        devstack["TOLLGATE_URL"] + path,
        json=body,
        headers={"Authorization": f"Bearer {token}"},
        timeout=HTTP_TIMEOUT_S,
    )


def purge_at(devstack, now: datetime) -> dict:
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "devstack",
            "--state-dir",
            devstack["STATE_DIR"],
            "invoke",
            "PurgeFunction",
            "--event",
            str(ROOT / "events" / "purge_scheduled.json"),
            "--now",
            now.strftime("%Y-%m-%dT%H:%M:%SZ"),
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=COMMAND_TIMEOUT_S,
        check=True,
    )
    return json.loads(done.stdout)


def test_an_owner_deletes_the_account_its_keys_stop_and_the_purge_forgets_its_people(devstack):
    # given a signed-up owner with an admin key and a funded inference key
    email = f"erin-{uuid.uuid4().hex[:10]}@example.com"
    company = f"Doomed {uuid.uuid4().hex[:6]} Ltd"
    account_id, token = signed_up_owner(devstack, email, company)
    admin = call(devstack, "POST", "/v1/keys", token, {"name": "ops", "role": "admin"})
    inference = call(devstack, "POST", "/v1/keys", token, {"name": "app", "role": "inference"})
    assert admin.status_code == 201 and inference.status_code == 201
    credit(devstack, account_id, "5.00")
    chat = {"model": "openai/gpt-4o-mini", "messages": [{"role": "user", "content": "hi"}]}
    served = call(devstack, "POST", "/v1/chat/completions", inference.json()["secret"], chat)
    assert served.status_code == 200, served.text

    # when the owner deletes the account with its name typed back
    deleted = call(devstack, "DELETE", "/v1/account", token, {"confirm": company})

    # then its keys answer 401 at once, on the proxy and on a management route
    assert deleted.status_code == 202, deleted.text
    assert deleted.json()["status"] == "deletion_scheduled"
    proxied = call(devstack, "POST", "/v1/chat/completions", inference.json()["secret"], chat)
    assert proxied.status_code == 401, proxied.text
    listed = call(devstack, "GET", "/v1/keys", admin.json()["secret"])
    assert listed.status_code == 401, listed.text

    # and when the daily purge runs 31 days later, the account keeps no name or email
    later = datetime.now(UTC) + timedelta(days=31)
    assert purge_at(devstack, later)["purged"] >= 1
    operator = {"Authorization": f"Bearer {devstack['TOLLGATE_OPERATOR_KEY']}"}
    shown = httpx.get(
        f"{devstack['TOLLGATE_URL']}/operator/accounts/{account_id}",
        headers=operator,
        timeout=HTTP_TIMEOUT_S,
    )
    assert shown.status_code == 200, shown.text
    assert shown.json()["status"] == "deleted"
    text = shown.text.lower()
    assert email not in text and company.lower() not in text and "erin" not in text
    # and the owner's login is gone with it
    assert (
        post(devstack, "/v1/auth/login", {"email": email, "password": PASSWORD}).status_code == 401
    )
