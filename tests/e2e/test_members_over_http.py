"""An account admin invites people over HTTP: the invitation's token is shown once, a new one
to the same email replaces it, a revoked one is gone, and an API key cannot accept one."""

from __future__ import annotations

import uuid

import httpx
import pytest

from tests.e2e.stack import HTTP_TIMEOUT_S

pytestmark = pytest.mark.e2e


def new_account_admin(devstack) -> httpx.Client:
    """The admin key of a new account of its own (the demo account's members stay as they are)."""
    operator_key = devstack["TOLLGATE_OPERATOR_KEY"]
    with httpx.Client(base_url=devstack["TOLLGATE_URL"], timeout=HTTP_TIMEOUT_S) as http:
        email = f"members-{uuid.uuid4().hex[:8]}@example.com"
        created = http.post(
            "/operator/accounts",
            json={"email": email, "name": "Members Ltd"},
            headers={"Authorization": f"Bearer {operator_key}"},
        )
    assert created.status_code == 201, created.text
    admin_key = created.json()["admin_key"]["secret"]
    return httpx.Client(
        base_url=devstack["TOLLGATE_URL"],
        headers={"Authorization": f"Bearer {admin_key}"},
        timeout=HTTP_TIMEOUT_S,
    )


def test_an_admin_invites_replaces_and_revokes_an_invitation(devstack):
    with new_account_admin(devstack) as admin:
        first = admin.post(
            "/v1/members/invitations", json={"email": "ana@example.com", "role": "billing"}
        )
        second = admin.post(
            "/v1/members/invitations", json={"email": "ANA@example.com", "role": "viewer"}
        )
        listed = admin.get("/v1/members/invitations").json()["data"]
        revoked = admin.delete(f"/v1/members/invitations/{second.json()['id']}")
        after = admin.get("/v1/members/invitations").json()["data"]

    assert first.status_code == second.status_code == 201
    assert second.json()["token"].startswith("tgi-")
    assert [(i["id"], i["role"]) for i in listed] == [(second.json()["id"], "viewer")]
    assert second.json()["token"] not in str(listed)
    assert revoked.status_code == 200 and after == []


def test_an_api_key_cannot_accept_an_invitation_nor_make_an_owner(devstack):
    with new_account_admin(devstack) as admin:
        token = admin.post(
            "/v1/members/invitations", json={"email": "ana@example.com", "role": "developer"}
        ).json()["token"]
        accepted = admin.post("/v1/members/invitations/accept", json={"token": token})
        owner = admin.post(
            "/v1/members/invitations", json={"email": "boss@example.com", "role": "owner"}
        )
        accounts = admin.get("/v1/me/accounts")

    assert accepted.status_code == 403 and accepted.json()["error"]["code"] == "person_required"
    assert owner.status_code == 403 and owner.json()["error"]["code"] == "owner_required"
    assert accounts.status_code == 403
