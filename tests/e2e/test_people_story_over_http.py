"""Issue 12's first acceptance line, over HTTP on devstack as curl walks it: a new email signs
up, reads its verification code with `python -m devstack outbox`, confirms, logs in and makes
an admin key with its session; a second person signs up the same way, the key invites their
email as `billing`, and they accept the invitation and, acting on the inviting account, start
a checkout and read the ledger but are refused a key. The README's "People and permissions"
tells the same story in curl (tests/e2e/test_readme.py runs it)."""

from __future__ import annotations

import re
import subprocess
import sys
import time
import uuid

import httpx
import pytest

from tests.e2e.conftest import ROOT
from tests.e2e.stack import COMMAND_TIMEOUT_S, HTTP_TIMEOUT_S

pytestmark = pytest.mark.e2e

PASSWORD = "Correct-horse-9"
MAIL_WAIT_S = 120  # a deadline, not a wait: the mailer polls its queue twice a second
CODE = re.compile(r"verification code is (\d{6})")
INVITATION_LINK = re.compile(r"(\S+)#token=(tgi-[A-Za-z0-9_-]+)")


def outbox(devstack, email: str) -> str:
    """What `python -m devstack outbox --to EMAIL --last 1` prints."""
    command = ["outbox", "--to", email, "--last", "1"]
    done = subprocess.run(
        [sys.executable, "-m", "devstack", "--state-dir", devstack["STATE_DIR"], *command],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=COMMAND_TIMEOUT_S,
        check=True,
    )
    return done.stdout


def mailed(devstack, email: str, pattern: re.Pattern[str]) -> re.Match[str] | None:
    """``pattern`` in the latest mail to ``email``, once it arrived (mail may be queued)."""
    deadline = time.monotonic() + MAIL_WAIT_S
    while True:
        found = pattern.search(outbox(devstack, email))
        if found or time.monotonic() > deadline:
            return found
        time.sleep(0.5)


def join(api: httpx.Client, devstack, email: str, name: str) -> tuple[str, str]:
    """Sign up, confirm with the code read from the outbox, log in: (account id, session)."""
    signed_up = api.post(
        "/v1/auth/signup", json={"email": email, "password": PASSWORD, "name": name}
    )
    assert signed_up.status_code == 202, signed_up.text
    code = mailed(devstack, email, CODE)
    assert code is not None, outbox(devstack, email)

    confirmed = api.post("/v1/auth/confirm", json={"email": email, "code": code.group(1)})
    assert confirmed.status_code == 200, confirmed.text
    logged_in = api.post("/v1/auth/login", json={"email": email, "password": PASSWORD})
    assert logged_in.status_code == 200, logged_in.text
    return confirmed.json()["account_id"], logged_in.json()["access_token"]


@pytest.fixture
def api(devstack):
    with httpx.Client(base_url=devstack["TOLLGATE_URL"], timeout=HTTP_TIMEOUT_S) as client:
        yield client


def test_an_owner_signs_up_invites_a_billing_member_who_pays_and_reads_but_makes_no_key(
    devstack, api
):
    tag = uuid.uuid4().hex[:10]
    owner_email, billing_email = f"owner-{tag}@example.com", f"billing-{tag}@example.com"

    # Given a new email signed up, confirmed with the mailed code and logged in: an owner
    account_id, owner = join(api, devstack, owner_email, "Olga")
    as_owner = {"Authorization": f"Bearer {owner}"}
    profile = api.get("/v1/account", headers=as_owner)
    assert profile.status_code == 200 and profile.json()["id"] == account_id, profile.text

    # And a second person who signed up the same way
    own_account, billing = join(api, devstack, billing_email, "Bill")
    assert own_account != account_id

    # When the owner's session makes an admin key, and the key invites that person's email
    created = api.post("/v1/keys", json={"name": "ops", "role": "admin"}, headers=as_owner)
    assert created.status_code == 201, created.text
    assert created.json()["role"] == "admin"
    as_key = {"Authorization": f"Bearer {created.json()['secret']}"}
    invited = api.post(
        "/v1/members/invitations", json={"email": billing_email, "role": "billing"}, headers=as_key
    )
    assert invited.status_code == 201, invited.text
    assert invited.json()["role"] == "billing"

    # And that person finds the invitation's link in their mail and accepts it
    token = invitation_token(devstack, billing_email, invited.json())
    as_billing = {"Authorization": f"Bearer {billing}"}
    accepted = api.post("/v1/members/invitations/accept", json={"token": token}, headers=as_billing)
    assert accepted.status_code == 201, accepted.text
    assert accepted.json()["role"] == "billing" and accepted.json()["email"] == billing_email

    # Then, on the inviting account, the billing member starts a checkout and reads the ledger
    on_account = {**as_billing, "X-Tollgate-Account": account_id}
    checkout = api.post("/v1/wallet/checkout", json={"amount_usd": "20.00"}, headers=on_account)
    assert checkout.status_code in (200, 201), checkout.text
    assert checkout.json()["url"].startswith("http")
    ledger = api.get("/v1/wallet/ledger", headers=on_account)
    assert ledger.status_code == 200, ledger.text
    assert ledger.json()["object"] == "list"

    # But is refused a key, and no key was made
    refused = api.post("/v1/keys", json={"role": "inference"}, headers=on_account)
    assert refused.status_code == 403, refused.text
    assert refused.json()["error"]["code"] == "permission_denied"
    keys = api.get("/v1/keys", headers=as_owner).json()["data"]
    assert sorted(k["role"] for k in keys) == ["admin"]

    # And the members list shows both people with their roles
    people = api.get("/v1/members", headers=as_owner).json()["data"]
    assert sorted((m["email"], m["role"]) for m in people) == [
        (billing_email, "billing"),
        (owner_email, "owner"),
    ]


def invitation_token(devstack, email: str, invitation: dict) -> str:
    """The token the invited person holds: from the mailed link once invitations are mailed
    (the same link the inviter's answer showed once), else from that answer."""
    link = mailed(devstack, email, INVITATION_LINK)
    assert link is not None, outbox(devstack, email)
    assert link.group(0) == invitation["link"] and link.group(2) == invitation["token"]
    return link.group(2)
