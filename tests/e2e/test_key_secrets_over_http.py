"""Every secret of a key means the key as it stands now, over HTTP against devstack: a
revocation or a rotation without grace acts on the very next request, on management routes
and on every proxy route, even while the proxy's key cache holds the old secret."""

from __future__ import annotations

import httpx
import pytest

from tests.e2e.stack import new_customer

pytestmark = pytest.mark.e2e

CHAT = {"model": "openai/gpt-4o-mini", "messages": [{"role": "user", "content": "hi"}]}


def http(devstack, secret: str) -> httpx.Client:
    return httpx.Client(
        base_url=devstack["TOLLGATE_URL"],
        headers={"Authorization": f"Bearer {secret}"},
        timeout=30,
    )


def code(answer: httpx.Response) -> str:
    return answer.json()["error"]["code"]


def rotate(admin: httpx.Client, key_id: str, grace_seconds: int = 0) -> str:
    body = {"grace_seconds": grace_seconds} if grace_seconds else {}
    answer = admin.post(f"/v1/keys/{key_id}/rotate", json=body)
    assert answer.status_code == 200, answer.text
    return answer.json()["secret"]


def test_a_revoked_admin_key_is_refused_through_every_secret_it_had(devstack):
    customer = new_customer(devstack, credit_usd=None)
    with http(devstack, customer.admin_key) as admin:
        ops = admin.post("/v1/keys", json={"name": "ops", "role": "admin"}).json()
        second = rotate(admin, ops["id"], grace_seconds=600)
        third = rotate(admin, ops["id"], grace_seconds=600)
        assert admin.delete(f"/v1/keys/{ops['id']}").status_code == 200

    for secret in (ops["secret"], second, third):
        with http(devstack, secret) as old:
            listed = old.get("/v1/keys")
            created = old.post("/v1/keys", json={"name": "sneaky", "role": "admin"})
        assert (listed.status_code, code(listed)) == (401, "key_revoked")
        assert created.status_code == 401


def test_rotation_without_grace_refuses_the_cached_old_secret_at_once(devstack):
    customer = new_customer(devstack, credit_usd="1.00")
    with http(devstack, customer.admin_key) as admin:
        key_id = admin.get("/v1/keys", params={"role": "inference"}).json()["data"][0]["id"]
        with http(devstack, customer.api_key) as old:
            assert old.post("/v1/chat/completions", json=CHAT).status_code == 200
            assert old.get("/v1/models").status_code == 200

            new = rotate(admin, key_id)

            chat, models = old.post("/v1/chat/completions", json=CHAT), old.get("/v1/models")
    assert (chat.status_code, code(chat)) == (401, "key_rotated")
    assert (models.status_code, code(models)) == (401, "key_rotated")
    with http(devstack, new) as fresh:
        assert fresh.post("/v1/chat/completions", json=CHAT).status_code == 200


def test_revocation_refuses_the_model_list_at_once(devstack):
    customer = new_customer(devstack, credit_usd="1.00")
    with http(devstack, customer.admin_key) as admin:
        key_id = admin.get("/v1/keys", params={"role": "inference"}).json()["data"][0]["id"]
        with http(devstack, customer.api_key) as key:
            assert key.get("/v1/models").status_code == 200
            assert key.post("/v1/chat/completions", json=CHAT).status_code == 200

            admin.delete(f"/v1/keys/{key_id}")

            models, chat = key.get("/v1/models"), key.post("/v1/chat/completions", json=CHAT)
    assert (models.status_code, code(models)) == (401, "key_revoked")
    assert (chat.status_code, code(chat)) == (401, "key_revoked")
