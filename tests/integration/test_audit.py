"""The audit trail: events appended by administrative actions, GET /v1/audit, the verifier."""

from __future__ import annotations

import itertools
import json
import threading
from datetime import timedelta

import boto3
import pytest
from botocore.exceptions import ClientError

from tests.integration.conftest import EVENTS, event, handle
from tollgate import audit, clock
from tollgate.settings import get_settings
from tollgate.store.audit import event_sk
from tollgate.store.layout import account_pk

# The request context of the event files in events/.
REQUEST_ID = "c6af9ac6-7b61-11e6-9a41-93e8deadbeef"
SOURCE_IP = "127.0.0.1"


@pytest.fixture
def list_audit(invoke):
    """GET /v1/audit with a key and query parameters."""

    def call(key: str, **query: str):
        return invoke("AuditFunction", event("audit_list", key=key, query=query))

    return call


@pytest.fixture
def audit_table():
    """The raw table, for what no function may do: edit or delete an event behind its back."""
    return boto3.client("dynamodb", region_name=get_settings().region), get_settings().audit_table


def record_key_events(account_id: str, count: int, **overrides):
    return [
        audit.record(
            account_id,
            actor=overrides.get("actor", "key:key_admin"),
            action=overrides.get("action", "key.updated"),
            target=overrides.get("target", f"key:key_{index}"),
            changes={"name": (f"name {index}", f"name {index + 1}")},
            now=overrides.get("now"),
        )
        for index in range(count)
    ]


def test_creating_an_account_records_account_created_by_the_operator(new_account, list_audit):
    # when the operator creates an account
    customer = new_account()

    # then its trail holds account.created, with the request's id and source IP
    answer = list_audit(customer.admin_key, action="account.created")
    assert answer.status == 200
    (created,) = answer.body["data"]
    assert created["object"] == "audit_event"
    assert created["sequence"] == 1
    assert created["actor"] == "operator"
    assert created["target"] == f"account:{customer.account_id}"
    assert created["request_id"] == REQUEST_ID
    assert created["source_ip"] == SOURCE_IP
    assert created["previous_digest"] == "0" * 64


def test_record_appends_events_that_chain_by_digest(new_account):
    customer = new_account()

    events = record_key_events(customer.account_id, 3)

    assert [e.sequence for e in events] == [2, 3, 4]
    assert events[1].previous_digest == events[0].digest
    assert events[2].previous_digest == events[1].digest
    assert audit.verify_chain(customer.account_id).ok


def test_concurrent_records_produce_a_gap_free_chain(new_account, atomic_requests):
    # given eight writers recording on the same account at once
    customer = new_account()
    errors: list[BaseException] = []
    start = threading.Barrier(8)

    def writer(number: int) -> None:
        try:
            start.wait()
            for index in range(3):
                audit.record(
                    customer.account_id,
                    actor=f"key:key_{number}",
                    action="key.updated",
                    target=f"key:key_{number}_{index}",
                )
        except BaseException as error:  # surfaced to the test below
            errors.append(error)

    threads = [threading.Thread(target=writer, args=(n,)) for n in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    # then every event was written once, with consecutive sequences, and the chain is intact
    assert errors == []
    report = audit.verify_chain(customer.account_id)
    assert report.ok, report.problems
    assert (report.events, report.first_sequence, report.last_sequence) == (25, 1, 25)


def test_the_trail_lists_newest_first(new_account, list_audit):
    customer = new_account()
    record_key_events(customer.account_id, 3)

    answer = list_audit(customer.admin_key)

    assert answer.status == 200
    assert answer.body["object"] == "list"
    assert [e["sequence"] for e in answer.body["data"]] == [4, 3, 2, 1]
    assert answer.body["has_more"] is False
    assert answer.body["next_cursor"] is None


def test_the_trail_paginates_with_a_cursor(new_account, list_audit):
    customer = new_account()
    record_key_events(customer.account_id, 4)

    first = list_audit(customer.admin_key, limit="2")
    second = list_audit(customer.admin_key, limit="2", cursor=first.body["next_cursor"])
    third = list_audit(customer.admin_key, limit="2", cursor=second.body["next_cursor"])

    assert [e["sequence"] for e in first.body["data"]] == [5, 4]
    assert first.body["has_more"] is True
    assert [e["sequence"] for e in second.body["data"]] == [3, 2]
    assert [e["sequence"] for e in third.body["data"]] == [1]
    assert third.body["has_more"] is False


def test_the_trail_filters_by_action_actor_and_target(new_account, list_audit):
    customer = new_account()
    record_key_events(customer.account_id, 2)
    record_key_events(customer.account_id, 1, action="key.revoked", target="key:key_gone")

    by_action = list_audit(customer.admin_key, action="key.updated")
    by_actor = list_audit(customer.admin_key, actor="operator")
    by_target = list_audit(customer.admin_key, target="key:key_gone")

    assert [e["sequence"] for e in by_action.body["data"]] == [3, 2]
    assert [e["action"] for e in by_actor.body["data"]] == ["account.created"]
    assert [e["action"] for e in by_target.body["data"]] == ["key.revoked"]


def test_the_trail_filters_by_time_in_iso_8601_or_unix_seconds(new_account, list_audit):
    customer = new_account()
    day = clock.utcnow().replace(microsecond=0) - timedelta(days=5)
    for offset in range(3):
        record_key_events(customer.account_id, 1, now=day + timedelta(days=offset))
    middle = day + timedelta(days=1)

    answer = list_audit(
        customer.admin_key,
        **{"from": middle.isoformat(), "to": str(int((middle + timedelta(hours=1)).timestamp()))},
    )

    assert answer.status == 200
    assert [e["created_at"] for e in answer.body["data"]] == [int(middle.timestamp())]


def test_a_malformed_time_filter_is_a_bad_request(new_account, list_audit):
    customer = new_account()

    answer = list_audit(customer.admin_key, **{"from": "last tuesday"})

    assert answer.status == 400
    assert answer.body["error"]["param"] == "from"


def test_an_inference_key_cannot_read_the_trail(invoke, new_account, list_audit):
    customer = new_account()
    created = invoke(
        "KeysFunction",
        event("keys_create", key=customer.admin_key, body={"name": "ci", "role": "inference"}),
    )
    assert created.status == 201, created.body

    answer = list_audit(created.body["secret"])

    assert answer.status == 403
    assert answer.body["error"]["code"] == "admin_key_required"


def test_the_trail_never_shows_another_accounts_events(new_account, list_audit):
    mine, theirs = new_account(), new_account()
    record_key_events(theirs.account_id, 3, target="key:theirs")

    answer = list_audit(mine.admin_key)
    foreign_cursor = list_audit(theirs.admin_key, limit="1").body["next_cursor"]
    with_their_cursor = list_audit(mine.admin_key, cursor=foreign_cursor)

    assert {e["account_id"] for e in answer.body["data"]} == {mine.account_id}
    assert [e["target"] for e in answer.body["data"]] == [f"account:{mine.account_id}"]
    assert with_their_cursor.status == 400


def test_expired_events_are_not_listed(new_account, list_audit):
    # given an event whose TTL has passed but that DynamoDB has not removed yet
    customer = new_account()
    record_key_events(customer.account_id, 1, now=clock.utcnow() - timedelta(days=91))

    answer = list_audit(customer.admin_key)

    assert [e["action"] for e in answer.body["data"]] == ["account.created"]


def test_the_verifier_reports_an_intact_chain(new_account):
    customer = new_account()
    record_key_events(customer.account_id, 3)

    report = audit.verify_chain(customer.account_id)

    assert report.ok
    assert report.problems == []
    assert report.events == 4


def test_the_verifier_detects_an_event_deleted_behind_its_back(new_account, audit_table):
    customer = new_account()
    record_key_events(customer.account_id, 3)
    client, table = audit_table

    client.delete_item(
        TableName=table,
        Key={"pk": {"S": account_pk(customer.account_id)}, "sk": {"S": event_sk(2)}},
    )
    report = audit.verify_chain(customer.account_id)

    assert not report.ok
    assert report.problems == ["sequence 2 missing before sequence 3: deleted (gap)"]


def test_the_verifier_detects_an_event_altered_behind_its_back(new_account, audit_table):
    customer = new_account()
    record_key_events(customer.account_id, 3)
    client, table = audit_table

    client.update_item(
        TableName=table,
        Key={"pk": {"S": account_pk(customer.account_id)}, "sk": {"S": event_sk(3)}},
        UpdateExpression="SET actor = :actor",
        ExpressionAttributeValues={":actor": {"S": "operator"}},
    )
    report = audit.verify_chain(customer.account_id)

    assert not report.ok
    assert len(report.problems) == 1
    assert report.problems[0].startswith("sequence 3: digest mismatch")


def test_stored_changes_never_hold_a_secret_or_a_digest(new_account, list_audit):
    customer = new_account()
    secret = "tg-" + "s" * 43
    audit.record(
        customer.account_id,
        actor="key:key_admin",
        action="key.rotated",
        target="key:key_1",
        changes={
            "secret": (None, secret),
            "digest": ("a" * 64, "b" * 64),
            "last_four": ("aaaa", "ssss"),
        },
    )

    (rotated,) = list_audit(customer.admin_key, action="key.rotated").body["data"]

    assert rotated["changes"] == {"last_four": {"before": "aaaa", "after": "ssss"}}


# ------------------------------------------------------------------------------ tampering
# What someone with the writers' role (PutItem and DeleteItem-free Query on AuditTable) or
# with direct table access may try. SHA-256 is public, so a forger recomputes digests.


@pytest.fixture
def checkpoint():
    """Runs the scheduled checkpoint job once, as EventBridge would, at ``now``."""

    def run(now=None) -> dict:
        scheduled = json.loads((EVENTS / "audit_checkpoint_scheduled.json").read_text())
        scheduled["time"] = (now or clock.utcnow()).strftime("%Y-%m-%dT%H:%M:%SZ")
        return handle("AuditCheckpointFunction", scheduled)

    return run


def overwrite(stored, **fields) -> None:
    """Rewrite a stored event with PutItem, its digest recomputed so it matches its content."""
    for name, value in fields.items():
        setattr(stored, name, value)
    stored.digest = audit.event_digest(stored)
    stored.save()


def relink(events, *, signing_key: bytes | None = None) -> None:
    """Re-chain every event after the first of ``events``, as a forger would (with the audit
    key only when the forger holds the writers' role)."""
    for previous, following in itertools.pairwise(events):
        following.previous_digest = previous.digest
        following.digest = audit.event_digest(following)
        if signing_key is not None:
            following.mac = audit.event_mac(following, signing_key)
        following.save()


def test_an_edit_of_the_newest_event_with_its_digest_recomputed_is_detected(new_account):
    # given a chain of four events
    customer = new_account()
    record_key_events(customer.account_id, 3)
    newest = chain(customer.account_id)[-1]

    # when someone without the audit key changes the newest event and recomputes its digest
    overwrite(newest, actor="operator")
    report = audit.verify_chain(customer.account_id)

    # then the verifier reports it
    assert not report.ok
    assert report.problems == [
        "sequence 4: HMAC mismatch: the event was rewritten by someone without the audit key"
    ]


def test_overwriting_an_event_and_relinking_the_rest_is_detected(new_account):
    # given a chain of five events
    customer = new_account()
    record_key_events(customer.account_id, 4)
    events = chain(customer.account_id)

    # when event 2 is replaced with PutItem and 3-5 re-linked to it, digests recomputed
    overwrite(events[1], target="key:somebody_else")
    relink(events[1:])
    report = audit.verify_chain(customer.account_id)

    # then every rewritten event is reported
    assert not report.ok
    assert [p.split(":")[0] for p in report.problems] == [
        "sequence 2",
        "sequence 3",
        "sequence 4",
        "sequence 5",
    ]
    assert all("HMAC mismatch" in p for p in report.problems)


def test_deleting_the_newest_events_after_a_checkpoint_is_detected(new_account, checkpoint):
    # given a chain of four events, checkpointed
    customer = new_account()
    record_key_events(customer.account_id, 3)
    checkpoint()

    # when the two newest events are deleted
    client, table = boto3.client("dynamodb", region_name=get_settings().region), get_settings()
    for sequence in (3, 4):
        client.delete_item(
            TableName=table.audit_table,
            Key={"pk": {"S": account_pk(customer.account_id)}, "sk": {"S": event_sk(sequence)}},
        )
    report = audit.verify_chain(customer.account_id)

    # then the verifier reports the truncation against the checkpoint
    assert not report.ok
    assert report.problems == [
        "sequences 3-4 missing after sequence 2: the checkpoint of sequence 4 says they "
        "were written (truncated)"
    ]


def test_a_writer_with_the_key_cannot_rechain_events_written_before_the_last_checkpoint(
    new_account, checkpoint
):
    # given a checkpointed chain of four events
    customer = new_account()
    record_key_events(customer.account_id, 3)
    checkpoint()
    events = chain(customer.account_id)

    # when a writer holding the audit key rewrites event 2 and re-chains and re-signs the rest
    key = audit_signing_key()
    events[1].target = "key:somebody_else"
    events[1].digest = audit.event_digest(events[1])
    events[1].mac = audit.event_mac(events[1], key)
    events[1].save()
    relink(events[1:], signing_key=key)
    report = audit.verify_chain(customer.account_id)

    # then the checkpoint gives it away
    assert not report.ok
    assert report.problems == [
        "sequence 4: digest differs from its checkpoint: the chain was rewritten after the "
        "checkpoint was taken"
    ]


def test_a_writer_with_the_key_can_append_after_the_last_checkpoint_undetected(
    new_account, checkpoint
):
    # The documented limit: what a writer holding the key signs after the last checkpoint
    # is indistinguishable from a real event.
    customer = new_account()
    checkpoint()
    head = chain(customer.account_id)[-1]
    forged = audit.build_event(
        customer.account_id,
        previous=head,
        actor="operator",
        action="key.created",
        target="key:forged",
        now=clock.utcnow(),
        signing_key=audit_signing_key(),
    )
    forged.save()

    assert audit.verify_chain(customer.account_id).ok


def test_the_checkpoint_job_writes_each_new_head_once(new_account, checkpoint):
    first, second = new_account(), new_account()
    record_key_events(first.account_id, 2)

    written = checkpoint()
    again = checkpoint()
    record_key_events(second.account_id, 1)
    after_a_new_event = checkpoint()

    assert written == {"accounts": 2, "checkpoints_written": 2}
    assert again == {"accounts": 2, "checkpoints_written": 0}
    assert after_a_new_event == {"accounts": 2, "checkpoints_written": 1}


def test_a_checkpoint_cannot_be_deleted_while_it_is_locked(new_account, checkpoint):
    customer = new_account()
    checkpoint()
    s3 = boto3.client("s3", region_name=get_settings().region)
    bucket = get_settings().audit_checkpoint_bucket
    (version,) = s3.list_object_versions(Bucket=bucket)["Versions"]

    with pytest.raises(ClientError) as refused:
        s3.delete_object(Bucket=bucket, Key=version["Key"], VersionId=version["VersionId"])

    assert refused.value.response["Error"]["Code"] == "AccessDenied"
    assert version["Key"] == f"checkpoints/{customer.account_id}/{1:012d}.json"


def test_the_verifier_fails_on_an_unknown_account(aws):
    report = audit.verify_chain("acct_doesnotexist")

    assert not report.ok
    assert report.problems == ["no account 'acct_doesnotexist' is known"]


def chain(account_id: str):
    from tollgate.store import audit as store

    return store.chain(account_id)


def audit_signing_key() -> bytes:
    from tollgate import secrets

    return secrets.audit_keys(get_settings())[0]
