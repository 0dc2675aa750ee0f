"""GET /v1/account and the account's export: POST /v1/account/exports queues it, ExportFunction
(called here with the SQS event its queue delivers) writes the ZIP, GET /v1/account/exports/{id}
shows it and links to it. The data is built through the real code paths: the proxy's hold and
settle, checkout's payments and the webhook's credit, the audit writer."""

from __future__ import annotations

import asyncio
import copy
import csv
import io
import json
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from types import SimpleNamespace
from typing import Any
from urllib.parse import parse_qs, urlsplit

import boto3
import pytest
import requests
from botocore.exceptions import ClientError
from moto.dynamodb import models as moto_dynamodb

from devstack.upstreams import RunningUpstreams, start_upstreams
from tests.integration.conftest import event, handle
from tests.support import mail
from tests.support.environment import NAMES
from tests.support.lean_dynamodb import a_usage
from tests.support.proxy_asgi import proxy_app
from tollgate import audit, billing, clock, keys, ledger
from tollgate.errors import InternalError
from tollgate.exports import contents, queue
from tollgate.key_policy import KeyPolicy
from tollgate.secret_keys import digest
from tollgate.settings import get_settings
from tollgate.store import audit as audit_store
from tollgate.store import exports as export_store
from tollgate.store import members as member_store
from tollgate.store import payments as payment_store
from tollgate.store.hotpath import Hold, HotPath
from tollgate.store.models import TicketAttachment
from tollgate.tickets import service as ticket_service

NOW = datetime(2026, 11, 23, 12, 0, tzinfo=UTC)
FUNCTION = "AccountSelfFunction"
UPSTREAM_KEYS = {"openai": "sk-mock-openai", "anthropic": "sk-ant-mock", "gemini": "AIza-mock"}
CANARY_PROMPT = "the export canary hums a secret tune 7f3a"
TICKET_CANARY = "a ticket's canary never leaves its thread 93be"
# The busy account's requests: enough for three of the usage query's 100-item pages, spread
# over 88 days (each day its ledger entry of charges). A thousand proved nothing more and cost
# two minutes of CI: each one is a hold and a settle on moto.
REQUESTS = 250


@pytest.fixture(autouse=True)
def fixed_clock(monkeypatch):
    monkeypatch.setattr(clock, "utcnow", lambda: NOW)


@dataclass
class Customer:
    account_id: str
    admin_key: str
    inference_key: str
    inference_key_id: str


@pytest.fixture
def new_customer(new_account):
    def build() -> Customer:
        account = new_account()
        ledger.credit(account.account_id, 10**12, kind="adjustment", reason="test credit")
        key = keys.create_key(account.account_id, keys.NewKey(name="ci", role="inference"))
        return Customer(account.account_id, account.admin_key, key.secret, key.key.key_id)

    return build


@pytest.fixture
def customer(new_customer) -> Customer:
    return new_customer()


def call(invoke, name: str, key: str, **details: Any):
    return invoke(FUNCTION, event(name, key=key, **details))


def start_export(invoke, customer: Customer):
    return call(invoke, "account_export_create", customer.admin_key)


def export_status(invoke, customer: Customer, export_id: str):
    return call(
        invoke,
        "account_export_get",
        customer.admin_key,
        path_parameters={"export_id": export_id},
    )


def deliver() -> list[str]:
    """What the queue's event source does: each message POST queued, received from the queue
    and handed to ExportFunction as an SQS event (IAM-checked), then deleted."""
    sqs = boto3.client("sqs", region_name=NAMES.region)
    url = get_settings().exports_queue_url
    outcomes: list[str] = []
    while True:
        received = sqs.receive_message(
            QueueUrl=url, MaxNumberOfMessages=10, AttributeNames=["All"]
        ).get("Messages", [])
        if not received:
            return outcomes
        for message in received:
            result = handle("ExportFunction", {"Records": [sqs_record(message)]})
            outcomes += result["outcomes"]
            sqs.delete_message(QueueUrl=url, ReceiptHandle=message["ReceiptHandle"])


def sqs_record(message: dict[str, Any]) -> dict[str, Any]:
    queue = get_settings().exports_queue_url or ""
    return {
        "messageId": message["MessageId"],
        "receiptHandle": message["ReceiptHandle"],
        "body": message["Body"],
        "attributes": message.get("Attributes", {}),
        "messageAttributes": {},
        "md5OfBody": message["MD5OfBody"],
        "eventSource": "aws:sqs",
        "eventSourceARN": f"arn:aws:sqs:{NAMES.region}:123456789012:{queue.rsplit('/', 1)[-1]}",
        "awsRegion": NAMES.region,
    }


def exported(invoke, customer: Customer) -> tuple[dict[str, Any], dict[str, bytes]]:
    """Start an export, run it, and download it: its final view and the ZIP's files."""
    started = start_export(invoke, customer)
    assert started.status == 202, started.body
    assert deliver() == ["ready"]
    ready = export_status(invoke, customer, started.body["id"])
    assert ready.status == 200 and ready.body["status"] == "ready", ready.body
    download = requests.get(ready.body["download_url"], timeout=60)
    assert download.status_code == 200
    with zipfile.ZipFile(io.BytesIO(download.content)) as archive:
        return ready.body, {name: archive.read(name) for name in archive.namelist()}


def records(files: dict[str, bytes], section: str) -> tuple[list[dict], list[dict]]:
    """A section's records: its JSON array and its CSV rows."""
    rows = list(csv.DictReader(io.StringIO(files[f"{section}.csv"].decode())))
    return json.loads(files[f"{section}.json"]), rows


def export_objects() -> list[str]:
    s3 = boto3.client("s3", region_name=NAMES.region)
    listed = s3.list_objects_v2(Bucket=get_settings().export_bucket).get("Contents", [])
    return [item["Key"] for item in listed]


# ------------------------------------------------------------------------------ data


def proxied(hotpath: HotPath, customer: Customer, request_id: str, at: datetime) -> None:
    hold = Hold(
        request_id, customer.account_id, customer.inference_key_id, "openai/gpt-4o-mini", 10**7,
        at, at + timedelta(minutes=6), endpoint="chat.completions",
    )  # fmt: skip
    hotpath.hold(hold, KeyPolicy())
    assert hotpath.settle(hold, a_usage(hold, 1_000), KeyPolicy())


def paid_topup(customer: Customer, session_id: str, usd: int) -> None:
    """A payment as checkout records it, then credited as the webhook does."""
    amount = usd * 10**9
    payment_store.create_open_payment(customer.account_id, session_id, amount, "usd", None, NOW)
    entry = ledger.new_entry(
        customer.account_id,
        amount,
        kind="topup",
        reason="Stripe top-up",
        reference=session_id,
        receipt_url=f"https://pay.stripe.com/receipts/{session_id}",
        now=NOW,
    )
    written = payment_store.credit_payment(
        payment_store.new_marker(f"evt_{session_id}", "checkout.session.completed", None, now=NOW),
        entry,
        session_id=session_id,
        currency="usd",
        payment_intent_id=f"pi_{session_id}",
        receipt_url=entry.receipt_url,
    )
    assert written is payment_store.Written.DONE


@pytest.fixture
def busy_customer(customer, hotpath, monkeypatch) -> tuple[Customer, set[str], set[str]]:
    """250 requests spread over the last 88 days (and one older than 90), 3 paid top-ups and
    20 audit events: the customer, the request ids and the session ids."""
    _fast_transactions(monkeypatch)
    request_ids = set()
    for n in range(REQUESTS):
        request_id = f"req_{n:04d}"
        proxied(hotpath, customer, request_id, NOW - timedelta(minutes=508 * n + 1))
        request_ids.add(request_id)
    proxied(hotpath, customer, "req_too_old", NOW - timedelta(days=91))
    sessions = {f"cs_test_{n}" for n in range(3)}
    for n, session_id in enumerate(sorted(sessions)):
        paid_topup(customer, session_id, 20 + n)
    for n in range(20):
        audit.record(
            customer.account_id,
            actor=f"key:{customer.inference_key_id}",
            action="key.updated",
            target=f"key:{customer.inference_key_id}",
            changes={"name": (f"name {n}", f"name {n + 1}")},
        )
    return customer, request_ids, sessions


def _fast_transactions(monkeypatch) -> None:
    # moto backs up each table a transaction touches with a deep copy, which makes a thousand
    # settles quadratic; none of them is meant to fail.
    def no_table_copies(value, memo=None):
        return value if isinstance(value, moto_dynamodb.Table) else copy.deepcopy(value, memo)

    monkeypatch.setattr(moto_dynamodb, "copy", SimpleNamespace(deepcopy=no_table_copies))


# ------------------------------------------------------------------------------ the profile


def test_the_account_reads_its_own_profile(invoke, customer):
    answer = call(invoke, "account_self_get", customer.admin_key)

    assert answer.status == 200
    assert answer.body == {
        "id": customer.account_id,
        "object": "account",
        "email": answer.body["email"],
        "name": "Customer",
        "status": "active",
        "created_at": int(NOW.timestamp()),
        "company": None,
        "language": None,
        "notifications": answer.body["notifications"],
        "low_balance_threshold_usd": None,
    }
    assert answer.body["email"].endswith("@example.com")
    assert all(answer.body["notifications"]["kinds"].values())


# ------------------------------------------------------------------------------ the export


def test_an_export_holds_exactly_the_accounts_records(invoke, busy_customer):
    customer, request_ids, sessions = busy_customer

    view, files = exported(invoke, customer)

    usage_json, usage_csv = records(files, "usage")
    assert len(usage_json) == len(usage_csv) == REQUESTS
    assert {r["request_id"] for r in usage_json} == {r["request_id"] for r in usage_csv}
    assert {r["request_id"] for r in usage_json} == request_ids  # not the one 91 days old
    payments_json, payments_csv = records(files, "payments")
    assert {p["id"] for p in payments_json} == {p["id"] for p in payments_csv} == sessions
    assert {p["receipt_url"] for p in payments_json} == {
        f"https://pay.stripe.com/receipts/{s}" for s in sessions
    }
    audit_json, audit_csv = records(files, "audit")
    *trail, link_issued = audit_store.chain(customer.account_id)
    assert link_issued.action == "account.export_link_issued"  # the GET that gave the link
    assert sorted(e["sequence"] for e in audit_json) == [int(e.sequence) for e in trail]
    assert [e.action for e in trail].count("key.updated") == 20
    assert {e.action for e in trail} == {
        "account.created",  # the operator's, when the account was made
        "key.updated",  # the twenty
        "account.export_requested",  # this export's own request
    }
    assert len(audit_csv) == len(trail)
    ledger_json, ledger_csv = records(files, "ledger")
    entries, _ = billing.ledger_export(customer.account_id)
    assert [e["id"] for e in ledger_json] == [r["id"] for r in ledger_csv]
    assert [e["id"] for e in ledger_json] == [row.entry.entry_id for row in entries]
    keys_json, keys_csv = records(files, "keys")
    assert {k["role"] for k in keys_json} == {"admin", "inference"}
    assert len(keys_csv) == 2
    account = json.loads(files["account.json"])
    assert account["profile"]["id"] == customer.account_id
    assert account["wallet"] == billing.wallet_view(billing.get_wallet(customer.account_id))
    manifest = json.loads(files["manifest.json"])
    assert manifest["files"]["usage.json"] == manifest["files"]["usage.csv"] == REQUESTS
    assert view["record_counts"] == {
        "members": 0,
        "keys": 2,
        "payments": 3,
        "ledger": len(entries),
        "usage": REQUESTS,
        "audit": len(trail),
        "tickets": 0,
    }


@pytest.fixture(scope="module")
def upstreams() -> Iterator[RunningUpstreams]:
    running = start_upstreams(UPSTREAM_KEYS, port=0)
    yield running
    running.stop()


def chat(app, secret: str, prompt: str) -> tuple[int, str]:
    """One chat completion through the proxy's ASGI app, as uvicorn hands it a request: its
    status and request id."""
    body = json.dumps(
        {"model": "openai/gpt-4o-mini", "messages": [{"role": "user", "content": prompt}]}
    ).encode()
    scope = {
        "type": "http",
        "method": "POST",
        "path": "/v1/chat/completions",
        "headers": [(b"authorization", f"Bearer {secret}".encode())],
        "client": ("203.0.113.7", 1234),
    }
    pending = [{"type": "http.request", "body": body, "more_body": False}]
    sent: list[dict[str, Any]] = []

    async def receive() -> dict[str, Any]:
        if pending:
            return pending.pop(0)
        await asyncio.Event().wait()
        raise AssertionError("unreachable")

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    asyncio.run(app(scope, receive, send))
    start = next(m for m in sent if m["type"] == "http.response.start")
    return start["status"], dict(start["headers"])[b"x-request-id"].decode()


def test_an_export_holds_no_key_secret_and_no_request_content(
    invoke, customer, hotpath, upstreams, tmp_path: Path, capsys
):
    app = proxy_app(upstreams, UPSTREAM_KEYS, tmp_path, hotpath=hotpath)
    status, request_id = chat(app, customer.inference_key, CANARY_PROMPT)
    assert status == 200
    # a ticket about that request holds its metadata, never its prompt
    mail.verify_sender()
    ticket = open_ticket(invoke, customer, TICKET_CANARY, request_ids=[request_id])
    assert [r["request_id"] for r in ticket["context"]["requests"]] == [request_id]
    reply = call_tickets(
        invoke, "tickets_reply", customer, {"ticket_id": ticket["id"]}, {"body": TICKET_CANARY}
    )
    assert reply.status == 201, reply.body
    metadata = json.dumps(scan("MetadataTable"))
    assert CANARY_PROMPT not in metadata and TICKET_CANARY in metadata
    rotated = invoke(
        "KeysFunction",
        event(
            "keys_rotate",
            key=customer.admin_key,
            path_parameters={"key_id": customer.inference_key_id},
            body={"grace_seconds": 3600},
        ),
    )
    assert rotated.status == 200, rotated.body

    _, files = exported(invoke, customer)

    secrets = [customer.admin_key, customer.inference_key, rotated.body["secret"]]
    canaries = [CANARY_PROMPT, *secrets, *(digest(secret) for secret in secrets)]
    for name, content in files.items():
        for canary in canaries:
            assert canary.encode() not in content, (name, canary[:12])
    usage_json, _ = records(files, "usage")
    assert len(usage_json) == 1  # the request is there, its words are not
    tickets_json, _ = records(files, "tickets")
    assert TICKET_CANARY in tickets_json[0]["subject"]  # the customer's words are theirs
    # and the ticket's words reach no log line, metric, audit event or mail
    queued = json.dumps(mail.queued())
    mail.run_mailer(handle)
    logged = capsys.readouterr()
    audited = json.dumps(scan("AuditTable"))
    for text in (logged.out, logged.err, audited, queued, *mail.raw_messages()):
        assert TICKET_CANARY not in text


def scan(table: str) -> list[dict[str, Any]]:
    dynamodb = boto3.client("dynamodb", region_name=NAMES.region)
    pages = dynamodb.get_paginator("scan").paginate(TableName=NAMES.ref(table))
    return [item for page in pages for item in page["Items"]]


def call_tickets(invoke, name: str, customer: Customer, where: dict, body: Any = None):
    return invoke(
        "TicketsFunction", event(name, key=customer.admin_key, path_parameters=where, body=body)
    )


def open_ticket(invoke, customer: Customer, words: str, **context: list[str]) -> dict[str, Any]:
    body = {"subject": f"About {words}", "category": "billing", "body": words, **context}
    opened = invoke("TicketsFunction", event("tickets_open", key=customer.admin_key, body=body))
    assert opened.status == 201, opened.body
    return opened.body


def test_an_export_holds_the_tickets_as_the_customer_sees_them(invoke, customer, hotpath):
    # given a ticket about a request and a payment that support answered with a file and an
    # internal note
    proxied(hotpath, customer, "req_disputed", NOW - timedelta(minutes=5))
    paid_topup(customer, "cs_late", 20)
    ticket = open_ticket(
        invoke, customer, "Charged twice?", request_ids=["req_disputed"], payment_ids=["cs_late"]
    )
    note = "INTERNAL: refund within policy"
    support_posts(ticket["id"], customer, note, internal=True)
    support_posts(ticket["id"], customer, "Refunded; see the statement.", file=True)

    # when the account is exported
    view, files = exported(invoke, customer)

    # then the ticket is there with its context and the thread the customer sees, files as
    # metadata
    tickets_json, tickets_csv = records(files, "tickets")
    (exported_ticket,) = tickets_json
    assert exported_ticket["id"] == ticket["id"] and exported_ticket["subject"] == ticket["subject"]
    context = exported_ticket["context"]
    assert [r["request_id"] for r in context["requests"]] == ["req_disputed"]
    assert [p["payment_id"] for p in context["payments"]] == ["cs_late"]
    thread = exported_ticket["thread"]
    assert [m["author"] for m in thread] == ["customer", "support"]
    assert thread[1]["author_name"] == "Sam" and "actor" not in thread[1]
    (attachment,) = thread[1]["attachments"]
    assert (attachment["filename"], attachment["content_type"], attachment["size_bytes"]) == (
        "statement.pdf",
        "application/pdf",
        2048,
    )
    (row,) = tickets_csv
    assert (row["id"], row["request_ids"], row["payment_ids"]) == (
        ticket["id"],
        "req_disputed",
        "cs_late",
    )
    assert view["record_counts"]["tickets"] == 1
    assert note.encode() not in b"".join(files.values())
    assert b"operator" not in files["tickets.json"] + files["tickets.csv"]  # nor who wrote it


def support_posts(ticket_id: str, customer: Customer, body: str, **options: bool) -> None:
    """Support's reply (or internal ``note``) as the operator's routes post it, with a PDF
    uploaded to the ticket when ``file``."""
    attached = []
    if options.get("file"):
        attached = [
            TicketAttachment(
                f"ACCOUNT#{customer.account_id}",
                f"TICKETFILE#{ticket_id}#att_pdf",
                attachment_id="att_pdf",
                ticket_id=ticket_id,
                account_id=customer.account_id,
                filename="statement.pdf",
                content_type="application/pdf",
                size_bytes=2048,
                uploaded_by="operator",
                author="support",
                created_at=NOW,
            )
        ]
        attached[0].save()
    draft = ticket_service.Draft(
        author="support",
        actor="operator",
        body=body,
        status_after=lambda ticket: "waiting_on_customer",
        internal=options.get("internal", False),
        author_name="Sam",
    )
    ticket_service.post(customer.account_id, ticket_id, draft, attachments=lambda _: attached)


def test_an_export_holds_the_accounts_members(invoke, customer):
    # given an account with two members
    for person, role in [("p-ada", "owner"), ("p-bob", "billing")]:
        member_store.member_item(
            customer.account_id,
            person,
            email=f"{person}@example.com",
            name=person.title(),
            role=role,
            joined_at=clock.utcnow(),
        ).save()

    # when it is exported
    view, files = exported(invoke, customer)

    # then both files list them with their roles
    members_json, members_csv = records(files, "members")
    assert {(m["person_id"], m["role"]) for m in members_json} == {
        ("p-ada", "owner"),
        ("p-bob", "billing"),
    }
    assert {m["email"] for m in members_csv} == {"p-ada@example.com", "p-bob@example.com"}
    assert view["record_counts"]["members"] == 2


def test_an_export_is_started_pending_and_audited(invoke, customer):
    answer = start_export(invoke, customer)

    assert answer.status == 202
    assert answer.body["object"] == "account_export"
    assert answer.body["status"] == "pending"
    assert answer.body["download_url"] is None
    assert answer.body["expires_at"] == int((NOW + timedelta(days=7)).timestamp())
    (newest,) = audit.list_events(customer.account_id, limit=1)[0]
    assert (newest.action, newest.target) == (
        "account.export_requested",
        f"export:{answer.body['id']}",
    )


def test_the_download_link_is_a_presigned_get_valid_five_minutes(invoke, customer):
    started = start_export(invoke, customer)
    deliver()

    answer = export_status(invoke, customer, started.body["id"])

    link = urlsplit(answer.body["download_url"])
    query = parse_qs(link.query)
    assert link.path.endswith(f"exports/{customer.account_id}/{started.body['id']}.zip")
    assert query["X-Amz-Expires"] == ["300"]
    assert answer.body["download_expires_at"] == int(NOW.timestamp()) + 300
    assert query["response-content-disposition"][0].startswith("attachment;")
    (newest,) = audit.list_events(customer.account_id, limit=1)[0]
    assert newest.action == "account.export_link_issued"


def test_another_accounts_export_is_not_found(invoke, customer, new_customer):
    started = start_export(invoke, customer)
    deliver()
    other = new_customer()

    answer = export_status(invoke, other, started.body["id"])

    assert answer.status == 404
    assert answer.body["error"]["code"] == "export_not_found"


@pytest.mark.parametrize("export_id", ["exp_nothing", "exp_' OR '1'='1", "exp_" + "0" * 24])
def test_an_unknown_export_id_is_not_found(invoke, customer, export_id):
    answer = export_status(invoke, customer, export_id)

    assert answer.status == 404
    assert answer.body["error"]["code"] == "export_not_found"


@pytest.mark.parametrize(
    ("name", "details"),
    [
        ("account_self_get", {}),
        ("account_export_create", {}),
        ("account_export_get", {"path_parameters": {"export_id": "exp_" + "0" * 24}}),
    ],
)
def test_an_inference_key_is_refused(invoke, customer, name, details):
    answer = call(invoke, name, customer.inference_key, **details)

    assert answer.status == 403
    assert answer.body["error"]["code"] == "admin_key_required"


def test_a_second_export_while_one_is_under_way_is_a_conflict(invoke, customer):
    first = start_export(invoke, customer)

    second = start_export(invoke, customer)

    assert second.status == 409
    assert second.body["error"]["code"] == "export_in_progress"
    deliver()
    assert start_export(invoke, customer).status == 202  # once the first is ready
    assert first.body["id"]


def test_an_export_takes_no_fields(invoke, customer):
    answer = call(invoke, "account_export_create", customer.admin_key, body={"sections": ["x"]})

    assert answer.status == 400
    assert answer.body["error"]["param"] == "sections"


def test_a_failed_export_says_failed_and_leaves_no_object(invoke, customer, monkeypatch):
    def broken(account_id, now):
        yield from ()
        raise InternalError("the ledger could not be read")

    sections = tuple(
        contents.Section(s.name, s.columns, broken) if s.name == "ledger" else s
        for s in contents.SECTIONS
    )
    monkeypatch.setattr("tollgate.exports.bundle.SECTIONS", sections)
    started = start_export(invoke, customer)

    assert deliver() == ["failed"]

    answer = export_status(invoke, customer, started.body["id"])
    assert answer.body["status"] == "failed"
    assert answer.body["failure"]["code"] == "export_failed"
    assert "ledger" not in json.dumps(answer.body)  # nothing of the internals
    assert answer.body["download_url"] is None
    assert export_objects() == []


def test_an_export_that_cannot_be_marked_ready_deletes_its_object(invoke, customer, monkeypatch):
    def unavailable(*args, **kwargs):
        raise InternalError("The request could not be completed; try again.")

    monkeypatch.setattr(export_store, "finish_ready", unavailable)
    started = start_export(invoke, customer)

    assert deliver() == ["failed"]

    assert export_status(invoke, customer, started.body["id"]).body["status"] == "failed"
    assert export_objects() == []


def test_an_export_that_cannot_be_queued_is_a_500_and_shows_failed(invoke, customer, monkeypatch):
    class RefusingQueue:
        def send_message(self, **_):
            raise ClientError({"Error": {"Code": "ServiceUnavailable"}}, "SendMessage")

    working = queue._client
    monkeypatch.setattr(queue, "_client", lambda settings: RefusingQueue())

    answer = start_export(invoke, customer)

    assert answer.status == 500
    (export,) = export_store.of_account(customer.account_id)
    shown = export_status(invoke, customer, export.export_id).body
    assert (shown["status"], shown["failure"]["code"]) == ("failed", "export_not_queued")
    monkeypatch.setattr(queue, "_client", working)
    assert start_export(invoke, customer).status == 202  # nothing left under way


def test_a_redelivered_message_of_a_ready_export_changes_nothing(invoke, customer):
    started = start_export(invoke, customer)
    message = json.dumps({"account_id": customer.account_id, "export_id": started.body["id"]})
    deliver()
    before = export_store.get(customer.account_id, started.body["id"])

    again = handle("ExportFunction", {"Records": [{"body": message}]})

    assert again == {"batchItemFailures": [], "outcomes": ["skipped"]}
    after = export_store.get(customer.account_id, started.body["id"])
    assert (after.status, after.updated_at) == ("ready", before.updated_at)


@pytest.mark.parametrize("body", ["not json", "{}", '{"account_id": "acct_x"}', "[]"])
def test_a_malformed_message_is_dropped(aws, body):
    assert handle("ExportFunction", {"Records": [{"body": body}]}) == {
        "batchItemFailures": [],
        "outcomes": ["skipped"],
    }


def test_an_export_is_gone_after_seven_days(invoke, customer, monkeypatch):
    started = start_export(invoke, customer)
    deliver()
    monkeypatch.setattr(clock, "utcnow", lambda: NOW + timedelta(days=7))

    answer = export_status(invoke, customer, started.body["id"])

    assert answer.status == 404


def test_an_export_whose_worker_died_shows_failed_and_frees_the_way(invoke, customer, monkeypatch):
    started = start_export(invoke, customer)  # never delivered: the worker died
    monkeypatch.setattr(clock, "utcnow", lambda: NOW + timedelta(hours=6))

    answer = export_status(invoke, customer, started.body["id"])

    assert answer.body["status"] == "failed"
    assert answer.body["failure"]["code"] == "export_timed_out"
    assert start_export(invoke, customer).status == 202


# ------------------------------------------------------------------------------ deployment


def test_devstack_deploys_the_export_queue_and_bucket_from_the_template(aws):
    sqs = boto3.client("sqs", region_name=NAMES.region)
    queue = sqs.get_queue_attributes(
        QueueUrl=get_settings().exports_queue_url, AttributeNames=["All"]
    )["Attributes"]
    s3 = boto3.client("s3", region_name=NAMES.region)
    bucket = get_settings().export_bucket

    assert queue["VisibilityTimeout"] == "5400"
    assert json.loads(queue["RedrivePolicy"]) == {
        "deadLetterTargetArn": NAMES.attributes[("ExportsDeadLetterQueue", "Arn")],
        "maxReceiveCount": 3,
    }
    (rule,) = s3.get_bucket_lifecycle_configuration(Bucket=bucket)["Rules"]
    assert (rule["Filter"], rule["Expiration"]) == ({"Prefix": "exports/"}, {"Days": 7})
    block = s3.get_public_access_block(Bucket=bucket)["PublicAccessBlockConfiguration"]
    assert all(block.values())
