"""On devstack, a customer attaches a screenshot to a ticket through the presigned POST its
browser would send; the account and the operator download it, another account cannot, and
S3's upload policy refuses a file over 5 MB or of another type."""

from __future__ import annotations

import httpx
import pytest
import requests

from tests.e2e.stack import HTTP_TIMEOUT_S, new_customer

pytestmark = pytest.mark.e2e

PNG = b"\x89PNG\r\n\x1a\n" + bytes(range(256)) * 4
MB5 = 5 * 1024 * 1024


def client(devstack, key: str) -> httpx.Client:
    return httpx.Client(
        base_url=devstack["TOLLGATE_URL"],
        headers={"Authorization": f"Bearer {key}"},
        timeout=HTTP_TIMEOUT_S,
    )


def post_file(upload: dict, data: bytes, **field_changes: str) -> requests.Response:
    """The browser's form: the fields as given (or changed), then the file."""
    fields = upload["fields"] | field_changes
    return requests.post(
        upload["url"], data=fields, files={"file": ("shot.png", data)}, timeout=HTTP_TIMEOUT_S
    )


def test_an_attachment_goes_up_by_policy_and_down_to_the_account_and_operator_only(devstack):
    customer = new_customer(devstack, credit_usd=None)
    stranger = new_customer(devstack, credit_usd=None)
    api, operator = (
        client(devstack, customer.admin_key),
        client(devstack, devstack["TOLLGATE_OPERATOR_KEY"]),
    )
    opened = api.post(
        "/v1/tickets",
        json={"subject": "Error page", "category": "technical", "body": "See the screenshot."},
    )
    ticket = opened.json()["id"]

    def ask(size: int) -> dict:
        declared = {"filename": "shot.png", "content_type": "image/png", "size_bytes": size}
        answer = api.post(f"/v1/tickets/{ticket}/attachments", json=declared)
        assert answer.status_code == 201, answer.text
        return answer.json()

    # the upload policy refuses a file one byte over 5 MB, and one sent as another type
    too_large = post_file(ask(MB5)["upload"], b"\x89PNG" + b"\x00" * (MB5 - 3))
    assert too_large.status_code == 400 and "<Code>EntityTooLarge</Code>" in too_large.text
    retyped = post_file(ask(len(PNG))["upload"], PNG, **{"Content-Type": "text/plain"})
    assert retyped.status_code == 403 and "Policy Condition failed" in retyped.text

    # an allowed PNG goes up and is attached to a reply
    file = ask(len(PNG))
    assert post_file(file["upload"], PNG).status_code == 204
    replied = api.post(
        f"/v1/tickets/{ticket}/messages",
        json={"body": "Here it is.", "attachment_ids": [file["id"]]},
    )
    assert replied.status_code == 201, replied.text
    assert replied.json()["attachments"][0]["size_bytes"] == len(PNG)

    # the account and the operator download it; another account gets a 404
    where = f"/tickets/{ticket}/attachments/{file['id']}"
    for caller, path in ((api, "/v1" + where), (operator, "/operator" + where)):
        link = caller.get(path, follow_redirects=False)
        assert link.status_code == 302, link.text
        download = requests.get(link.headers["location"], timeout=HTTP_TIMEOUT_S)
        assert download.status_code == 200 and download.content == PNG
        assert download.headers["content-type"] == "image/png"
    assert client(devstack, stranger.admin_key).get("/v1" + where).status_code == 404
