"""An owner deletes the account: every key stops at once, an owner may change their mind for 30
days, then the daily purge leaves no name or email of the account's people anywhere while the
ledger still sums to the final balance."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import boto3
import pytest

from devstack.lambda_runtime import LambdaContext, load_handler
from tests.integration.conftest import RECORDER, event
from tests.support.environment import NAMES, OPERATOR_KEY, TEMPLATE
from tests.support.iam import denied
from tollgate import auth, billing, deletion, keys, ledger
from tollgate.errors import BadRequest, Conflict, Unauthenticated
from tollgate.settings import get_settings
from tollgate.store import archives as archive_store
from tollgate.store import members as member_store
from tollgate.store.deletion import due
from tollgate.store.keys import get_account

NOW = datetime(2026, 11, 30, 12, 0, tzinfo=UTC)
NAME = "Zyxwvut Analytics"
EMAIL = "alice.zyxwvut@example.com"
MEMBER = ("Bob Qwertzuiop", "bob.qwertzuiop@example.com")


@pytest.fixture
def doomed(invoke):
    """An account with people, keys, money moved, and an archived month."""
    created = invoke(
        "AccountFunction",
        event("account_create", key=OPERATOR_KEY, body={"email": EMAIL, "name": NAME}),
    )
    account_id = created.body["account"]["id"]
    admin_key = created.body["admin_key"]["secret"]
    for name, email, role in [("Alice Zyxwvut", EMAIL, "owner"), (*MEMBER, "billing")]:
        person = email.split("@")[0]
        member_store.member_item(
            account_id, person, email=email, name=name, role=role, joined_at=NOW
        ).save()
    keys.create_key(account_id, keys.NewKey(name="Alice Zyxwvut's laptop", role="inference"))
    ledger.credit(account_id, 5_000_000, kind="adjustment", reason="welcome credit", now=NOW)
    archive_month(account_id, "2026-07")
    return account_id, admin_key


def archive_month(account_id: str, month: str) -> None:
    objects = archive_store.archive_objects(get_settings())
    key = archive_store.batch_key(account_id, month)
    objects.put(key, b'{"request_id": "req_1"}\n', "application/gzip")
    objects.put(key, b'{"request_id": "req_2"}\n', "application/gzip")  # a second version
    archive_store.save_batch(
        account_id,
        month,
        object_key=key,
        manifest_key=archive_store.manifest_key(account_id, month),
        size_bytes=24,
        record_count=1,
        sha256="0" * 64,
        schema_version=1,
        created_at=NOW,
        expires_at=NOW + timedelta(days=730),
    )


def purge(at: datetime) -> dict:
    """PurgeFunction as EventBridge calls it at ``at``; its AWS calls must be in its policy."""
    function = TEMPLATE.functions()["PurgeFunction"]
    scheduled = {"source": "aws.events", "time": at.isoformat().replace("+00:00", "Z")}
    with RECORDER.recording() as calls:
        result = load_handler(function)(
            scheduled, LambdaContext(function_name="PurgeFunction", region=NAMES.region)
        )
    assert not denied(calls, function.policies, NAMES), "PurgeFunction lacks IAM for these"
    return result


def every_stored_text() -> str:
    """Every item of every table and every version of every object in every bucket."""
    dynamodb = boto3.client("dynamodb", region_name=NAMES.region)
    s3 = boto3.client("s3", region_name=NAMES.region)
    texts = []
    for table in dynamodb.list_tables()["TableNames"]:
        for page in dynamodb.get_paginator("scan").paginate(TableName=table):
            texts.append(json.dumps(page["Items"]))
    for bucket in s3.list_buckets()["Buckets"]:
        versions = s3.list_object_versions(Bucket=bucket["Name"]).get("Versions", [])
        for version in versions:
            body = s3.get_object(
                Bucket=bucket["Name"], Key=version["Key"], VersionId=version["VersionId"]
            )["Body"].read()
            texts.append(version["Key"] + body.decode(errors="replace"))
    return "\n".join(texts)


def personal_data_in(text: str) -> list[str]:
    words = [NAME, EMAIL, *MEMBER, "Alice Zyxwvut", "Zyxwvut", "Qwertzuiop"]
    return [word for word in words if word.lower() in text.lower()]


def test_the_name_must_be_typed_back_exactly(doomed):
    account_id, admin_key = doomed

    with pytest.raises(BadRequest) as refused:
        deletion.schedule_deletion(account_id, {"confirm": NAME.lower()}, now=NOW)

    assert refused.value.code == "confirmation_mismatch"
    assert get_account(account_id).status == "active"
    assert auth.authenticate(
        {"authorization": f"Bearer {admin_key}"}, role="admin", settings=get_settings()
    )


def test_scheduling_revokes_every_key_at_once(doomed):
    account_id, admin_key = doomed

    account = deletion.schedule_deletion(account_id, {"confirm": NAME}, now=NOW)

    assert account.status == "deletion_scheduled"
    assert account.purge_after == NOW + timedelta(days=30)
    with pytest.raises(Unauthenticated) as refused:
        auth.authenticate(
            {"authorization": f"Bearer {admin_key}"}, role="admin", settings=get_settings()
        )
    assert refused.value.code == "key_revoked"
    listed, _ = keys.list_keys(account_id, status="active", now=NOW)
    assert listed == []


def test_asking_twice_changes_nothing_more(doomed):
    account_id, _ = doomed
    first = deletion.schedule_deletion(account_id, {"confirm": NAME}, now=NOW)

    again = deletion.schedule_deletion(account_id, {}, now=NOW + timedelta(days=1))

    assert again.purge_after == first.purge_after
    assert [marker.account_id for marker in due(NOW + timedelta(days=31))] == [account_id]


def test_an_owner_restores_the_account_within_30_days_and_the_keys_stay_revoked(doomed):
    account_id, admin_key = doomed
    deletion.schedule_deletion(account_id, {"confirm": NAME}, now=NOW)

    restored = deletion.restore(account_id, now=NOW + timedelta(days=29))

    assert restored.status == "active" and restored.purge_after is None
    assert due(NOW + timedelta(days=365)) == []
    with pytest.raises(Unauthenticated):
        auth.authenticate(
            {"authorization": f"Bearer {admin_key}"}, role="admin", settings=get_settings()
        )


def test_restoring_an_account_not_scheduled_or_past_its_grace_is_a_conflict(doomed):
    account_id, _ = doomed
    with pytest.raises(Conflict):
        deletion.restore(account_id, now=NOW)
    deletion.schedule_deletion(account_id, {"confirm": NAME}, now=NOW)

    with pytest.raises(Conflict) as refused:
        deletion.restore(account_id, now=NOW + timedelta(days=30, seconds=1))

    assert refused.value.code == "purged"


def test_the_purge_waits_for_the_grace_to_end(doomed):
    account_id, _ = doomed
    deletion.schedule_deletion(account_id, {"confirm": NAME}, now=NOW)

    assert purge(NOW + timedelta(days=29)) == {"purged": 0}

    assert get_account(account_id).name == NAME


def test_31_days_later_no_name_or_email_is_left_and_the_ledger_still_adds_up(doomed, capsys):
    # given an account whose deletion was scheduled
    account_id, _ = doomed
    balance = billing.get_wallet(account_id).balance
    deletion.schedule_deletion(account_id, {"confirm": NAME}, now=NOW)
    assert personal_data_in(every_stored_text())  # the scan sees them before

    # when the daily purge runs 31 days later
    assert purge(NOW + timedelta(days=31)) == {"purged": 1}

    # then no table, object or log line holds a name or email of its people
    assert personal_data_in(every_stored_text()) == []
    assert personal_data_in(capsys.readouterr().out) == []
    # and the account is left as the ledger's owner, its money where it was
    account = get_account(account_id)
    assert account.status == "deleted"
    assert member_store.members_of(account_id) == []
    assert archive_store.list_batches(account_id) == []
    assert billing.get_wallet(account_id).balance == balance == 5_000_000
    # (the conftest checks after every test that each ledger sums to its wallet)


def test_a_second_run_finds_nothing_to_purge(doomed):
    account_id, _ = doomed
    deletion.schedule_deletion(account_id, {"confirm": NAME}, now=NOW)
    purge(NOW + timedelta(days=31))

    assert purge(NOW + timedelta(days=32)) == {"purged": 0}


def test_the_same_email_can_open_a_new_account_after_the_purge(doomed, invoke):
    account_id, _ = doomed
    deletion.schedule_deletion(account_id, {"confirm": NAME}, now=NOW)
    purge(NOW + timedelta(days=31))

    again = invoke(
        "AccountFunction",
        event("account_create", key=OPERATOR_KEY, body={"email": EMAIL, "name": NAME}),
    )

    assert again.status == 201
