"""A ticket's files through TicketsFunction: the presigned upload and its policy, claiming an
upload in a reply (only what really arrived, only one's own), downloads by the account and
the operator, and the closed ticket's files tagged for the lifecycle rule."""

from __future__ import annotations

import base64
import json
from datetime import UTC, datetime

import boto3
import pytest
import requests

from tests.integration.conftest import event
from tests.support.environment import NAMES, OPERATOR_KEY
from tollgate import clock
from tollgate.errors import Conflict
from tollgate.settings import get_settings
from tollgate.store.models import Ticket
from tollgate.tickets import CUSTOMER, SUPPORT, attachments, service

NOW = datetime(2026, 11, 23, 12, 0, tzinfo=UTC)
FUNCTION = "TicketsFunction"
PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 64
BUCKET = NAMES.ref("TicketAttachmentsBucket")


@pytest.fixture(autouse=True)
def fixed_clock(monkeypatch):
    monkeypatch.setattr(clock, "utcnow", lambda: NOW)


def call(invoke, name, key, **options):
    return invoke(FUNCTION, event(name, key=key, **options))


def a_ticket(invoke, key) -> str:
    body = {"subject": "Receipt", "category": "billing", "body": "Here is the receipt."}
    opened = call(invoke, "tickets_open", key, body=body)
    assert opened.status == 201, opened.body
    return opened.body["id"]


def ask_upload(invoke, key, ticket_id, *, operator=False, **declared):
    body = {"filename": "receipt.png", "content_type": "image/png", "size_bytes": len(PNG)}
    name = "operator_tickets_attachment_upload" if operator else "tickets_attachment_upload"
    where = {"ticket_id": ticket_id}
    return call(invoke, name, key, path_parameters=where, body=body | declared)


def uploaded(invoke, key, ticket_id, data=PNG, content_type="image/png", **declared) -> str:
    """An upload asked for and done (as the browser's POST would store it, tagged)."""
    asked = ask_upload(invoke, key, ticket_id, content_type=content_type, **declared)
    assert asked.status == 201, asked.body
    s3 = boto3.client("s3", region_name=NAMES.region)
    s3.put_object(
        Bucket=BUCKET,
        Key=asked.body["upload"]["fields"]["key"],
        Body=data,
        ContentType=content_type,
        Tagging="upload=pending",
    )
    return asked.body["id"]


def reply(invoke, key, ticket_id, ids):
    body = {"body": "Attached.", "attachment_ids": ids}
    return call(invoke, "tickets_reply", key, path_parameters={"ticket_id": ticket_id}, body=body)


def download(invoke, key, ticket_id, attachment_id, *, operator=False):
    name = "operator_tickets_attachment_download" if operator else "tickets_attachment_download"
    where = {"ticket_id": ticket_id, "attachment_id": attachment_id}
    return call(invoke, name, key, path_parameters=where)


def tags(key: str) -> dict[str, str]:
    found = boto3.client("s3", region_name=NAMES.region).get_object_tagging(Bucket=BUCKET, Key=key)
    return {tag["Key"]: tag["Value"] for tag in found["TagSet"]}


def test_an_upload_is_a_presigned_post_fixing_key_type_and_size(invoke, new_account):
    customer = new_account()
    ticket_id = a_ticket(invoke, customer.admin_key)

    asked = ask_upload(invoke, customer.admin_key, ticket_id, filename="../../etc/re\x07ceipt.png")

    assert asked.status == 201, asked.body
    file, upload = asked.body, asked.body["upload"]
    assert (file["filename"], file["status"], file["size_bytes"]) == (
        "receipt.png",
        "pending",
        None,
    )
    key = f"tickets/{customer.account_id}/{ticket_id}/{file['id']}"
    assert upload["fields"]["key"] == key and upload["fields"]["Content-Type"] == "image/png"
    assert upload["expires_at"] == int(NOW.timestamp()) + 600
    policy = json.loads(base64.b64decode(upload["fields"]["policy"]))
    conditions = policy["conditions"]
    assert {"key": key} in conditions and {"bucket": BUCKET} in conditions
    assert {"Content-Type": "image/png"} in conditions
    assert ["content-length-range", 1, 5 * 1024 * 1024] in conditions
    tagging = upload["fields"]["tagging"]
    assert {"tagging": tagging} in conditions and "<Key>upload</Key><Value>pending<" in tagging

    refusals = [
        ask_upload(invoke, customer.admin_key, ticket_id, content_type="text/html"),
        ask_upload(invoke, customer.admin_key, ticket_id, size_bytes=5 * 1024 * 1024 + 1),
        ask_upload(invoke, customer.admin_key, ticket_id, filename="/\x00"),
    ]
    assert [r.status for r in refusals] == [400, 400, 400]
    more = [ask_upload(invoke, customer.admin_key, ticket_id).status for _ in range(10)]
    assert more == [201] * 9 + [409]  # ten uploads waiting for a reply at most
    call(invoke, "tickets_close", customer.admin_key, path_parameters={"ticket_id": ticket_id})
    closed = ask_upload(invoke, customer.admin_key, ticket_id)
    assert closed.status == 409 and closed.body["error"]["code"] == "ticket_closed"


def test_a_reply_carries_only_its_own_uploads_as_they_really_arrived(invoke, new_account):
    customer = new_account()
    ticket_id = a_ticket(invoke, customer.admin_key)
    other_ticket = a_ticket(invoke, customer.admin_key)
    good = uploaded(invoke, customer.admin_key, ticket_id)
    elsewhere = uploaded(invoke, customer.admin_key, other_ticket)
    fake = uploaded(invoke, customer.admin_key, ticket_id, data=b"<html>not a png</html>")
    retyped = uploaded(invoke, customer.admin_key, ticket_id, content_type="image/jpeg")
    boto3.client("s3", region_name=NAMES.region).put_object(
        Bucket=BUCKET,
        Key=f"tickets/{customer.account_id}/{ticket_id}/{retyped}",
        Body=b"\xff\xd8\xff\xe0",
        ContentType="text/plain",
    )
    never = ask_upload(invoke, customer.admin_key, ticket_id).body["id"]
    supports = uploaded(invoke, OPERATOR_KEY, ticket_id, operator=True)

    for refused_id, status in [
        (elsewhere, 404),
        (supports, 404),
        (fake, 400),
        (retyped, 400),
        (never, 400),
    ]:
        refused = reply(invoke, customer.admin_key, ticket_id, [good, refused_id])
        assert refused.status == status and refused_id in refused.body["error"]["message"]
    assert reply(invoke, customer.admin_key, ticket_id, ["a", "b", "c", "d"]).status == 400

    answered = reply(invoke, customer.admin_key, ticket_id, [good])
    assert answered.status == 201, answered.body
    [file] = answered.body["attachments"]
    assert (file["id"], file["status"], file["size_bytes"]) == (good, "attached", len(PNG))
    again = reply(invoke, customer.admin_key, ticket_id, [good])
    assert again.status == 400 and good in again.body["error"]["message"]


def test_downloads_reach_the_account_and_the_operator_and_no_one_else(invoke, new_account):
    customer, stranger = new_account(), new_account()
    ticket_id = a_ticket(invoke, customer.admin_key)
    file_id = uploaded(invoke, customer.admin_key, ticket_id)
    assert reply(invoke, customer.admin_key, ticket_id, [file_id]).status == 201

    mine = download(invoke, customer.admin_key, ticket_id, file_id)
    operators = download(invoke, OPERATOR_KEY, ticket_id, file_id, operator=True)

    assert mine.status == 302 and operators.status == 302
    fetched = requests.get(mine.headers["location"], timeout=60)
    assert fetched.status_code == 200 and fetched.content == PNG
    assert 'filename="receipt.png"' in fetched.headers["content-disposition"]
    assert "X-Amz-Expires=300" in mine.headers["location"]
    assert download(invoke, stranger.admin_key, ticket_id, file_id).status == 404

    # support's internal note carries a file: the operator downloads it, the customer cannot
    note_file = uploaded(invoke, OPERATOR_KEY, ticket_id, operator=True, filename="notes.png")
    note = service.Draft(
        author=SUPPORT,
        actor="operator",
        body="internal",
        status_after=lambda t: t.status,
        internal=True,
    )
    pick = attachments.picker([note_file], author=SUPPORT, settings=get_settings())
    service.post(customer.account_id, ticket_id, note, attachments=pick)
    assert download(invoke, OPERATOR_KEY, ticket_id, note_file, operator=True).status == 302
    hidden = download(invoke, customer.admin_key, ticket_id, note_file)
    assert hidden.status == 404 and hidden.body["error"]["code"] == "attachment_not_found"


def test_closing_tags_the_files_for_expiry_and_drops_unclaimed_uploads(invoke, new_account):
    customer = new_account()
    ticket_id = a_ticket(invoke, customer.admin_key)
    kept = uploaded(invoke, customer.admin_key, ticket_id, content_type="text/plain", data=b"hi")
    unclaimed = uploaded(invoke, customer.admin_key, ticket_id)
    prefix = f"tickets/{customer.account_id}/{ticket_id}/"
    assert tags(prefix + kept) == {"upload": "pending"}  # expires in two days if unclaimed
    assert reply(invoke, customer.admin_key, ticket_id, [kept]).status == 201
    assert tags(prefix + kept) == {"ticket": "open"}  # claimed: kept with its ticket
    assert tags(prefix + unclaimed) == {"upload": "pending"}
    where = {"ticket_id": ticket_id}

    assert call(invoke, "tickets_close", customer.admin_key, path_parameters=where).status == 200

    assert tags(prefix + kept) == {"ticket": "closed"}
    s3 = boto3.client("s3", region_name=NAMES.region)
    assert s3.head_object(Bucket=BUCKET, Key=prefix + kept)["ContentType"] == "text/plain"
    listed = s3.list_objects_v2(Bucket=BUCKET, Prefix=prefix).get("Contents", [])
    assert [item["Key"] for item in listed] == [prefix + kept]
    assert unclaimed not in [item["Key"] for item in listed]

    assert call(invoke, "tickets_reopen", customer.admin_key, path_parameters=where).status == 200
    assert tags(prefix + kept) == {"ticket": "open"}


def test_uploads_asked_for_meanwhile_count_against_the_tickets_limit(invoke, new_account):
    customer = new_account()
    ticket_id = a_ticket(invoke, customer.admin_key)
    as_read = service.read_ticket(customer.account_id, ticket_id)
    # other requests took the ticket's last uploads after this one read it
    service.read_ticket(customer.account_id, ticket_id).update(
        actions=[Ticket.uploads.set(attachments.MAX_UPLOADS)]
    )

    declared = attachments.Declared("late.png", "image/png", len(PNG))
    with pytest.raises(Conflict):
        attachments.request_upload(
            as_read, declared, author=CUSTOMER, actor="key:k", settings=get_settings()
        )

    assert ask_upload(invoke, customer.admin_key, ticket_id).status == 409
    assert service.attachments_of(service.read_ticket(customer.account_id, ticket_id)) == []
