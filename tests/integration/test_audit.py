"""The audit trail: events appended by administrative actions, GET /v1/audit, the verifier."""

from __future__ import annotations

import threading
from datetime import timedelta

import boto3
import pytest

from tests.integration.conftest import event
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
        return invoke("AccountFunction", event("audit_list", key=key, query=query))

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
