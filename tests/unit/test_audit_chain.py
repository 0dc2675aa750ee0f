"""The audit chain's digest and its verification, on events built in memory."""

from __future__ import annotations

import hashlib
import hmac
from datetime import UTC, datetime, timedelta

import pytest

from tollgate import audit
from tollgate.errors import BadRequest

NOW = datetime(2026, 11, 23, 10, 0, tzinfo=UTC)
ACCOUNT = "acct_1"


def chain_of(count: int, *, start: datetime, step: timedelta = timedelta(hours=1)) -> list:
    events, previous = [], None
    for index in range(count):
        previous = audit.build_event(
            ACCOUNT,
            previous=previous,
            actor="key:key_admin",
            action="key.updated",
            target=f"key:key_{index}",
            changes=audit.normalize_changes({"name": (f"n{index}", f"n{index + 1}")}),
            now=start + index * step,
        )
        events.append(previous)
    return events


def test_the_digest_is_sha256_of_the_documented_canonical_json():
    # given the first event of an account, built at a known time
    event = audit.build_event(
        ACCOUNT,
        previous=None,
        actor="key:key_admin",
        action="key.updated",
        target="key:key_1",
        request_id="req-1",
        source_ip="203.0.113.7",
        changes=audit.normalize_changes({"name": ("old", "né")}),
        now=NOW,
    )
    # then the canonical form is sorted, compact, UTF-8 JSON of every field but the digest
    expected = (
        '{"account_id":"acct_1","action":"key.updated","actor":"key:key_admin",'
        '"changes":{"name":{"after":"né","before":"old"}},'
        '"created_at":"2026-11-23T10:00:00.000000+0000","previous_created_at":null,'
        f'"previous_digest":"{"0" * 64}","request_id":"req-1","sequence":1,'
        '"source_ip":"203.0.113.7","target":"key:key_1","ttl":1803204000}'
    ).encode()
    assert audit.canonical_json(event) == expected
    # and the digest is its hex SHA-256
    assert event.digest == hashlib.sha256(expected).hexdigest()
    assert event.sk == "EVENT#000000000001"
    assert event.pk == "ACCOUNT#acct_1"


def test_the_next_event_points_at_its_predecessor():
    first, second = chain_of(2, start=NOW)

    assert second.sequence == 2
    assert second.sk == "EVENT#000000000002"
    assert second.previous_digest == first.digest
    assert second.previous_created_at == first.created_at
    assert second.ttl == second.created_at + timedelta(days=90)


def test_absent_optional_fields_are_null_in_the_canonical_form():
    event = audit.build_event(ACCOUNT, previous=None, actor="a", action="b", target="c", now=NOW)

    document = audit.canonical_document(event)

    assert document["changes"] is None
    assert document["request_id"] is None
    assert document["source_ip"] is None


def test_changes_accept_tuples_or_before_after_dicts_alike():
    as_tuples = audit.normalize_changes({"rpm": (None, 60), "name": ("a", "b")})
    as_dicts = audit.normalize_changes(
        {"rpm": {"before": None, "after": 60}, "name": {"before": "a", "after": "b"}}
    )

    assert as_tuples == as_dicts
    assert as_dicts == {"rpm": {"before": None, "after": 60}, "name": {"before": "a", "after": "b"}}


def test_changes_never_carry_a_secret_a_digest_or_key_material():
    secret = "tg-" + "x" * 43
    changes = audit.normalize_changes(
        {
            "secret": (None, secret),
            "digest": ("a" * 64, "b" * 64),
            "previous_digest": (None, "c" * 64),
            "value": (None, secret),
            "tags": ({}, {"team": "ml", "secret_hash": "abc"}),
            "prefix": ("tg-abcd", "tg-efgh"),
        }
    )

    assert changes == {
        "tags": {"before": {}, "after": {"team": "ml"}},
        "prefix": {"before": "tg-abcd", "after": "tg-efgh"},
    }


def test_unchanged_fields_are_left_out_and_datetimes_become_iso_strings():
    changes = audit.normalize_changes(
        {"name": ("same", "same"), "expires_at": (None, datetime(2027, 1, 1, tzinfo=UTC))}
    )

    assert changes == {"expires_at": {"before": None, "after": "2027-01-01T00:00:00+00:00"}}
    assert audit.normalize_changes({"name": ("same", "same")}) is None


def test_an_intact_chain_verifies():
    events = chain_of(3, start=NOW)

    report = audit.check_chain(events, account_id=ACCOUNT, now=NOW + timedelta(days=1))

    assert report.ok
    assert report.problems == []
    assert (report.events, report.first_sequence, report.last_sequence) == (3, 1, 3)
    assert report.last_digest == events[-1].digest


def test_an_altered_field_is_reported_as_a_digest_mismatch_of_its_sequence():
    events = chain_of(3, start=NOW)
    events[1].actor = "operator"

    report = audit.check_chain(events, account_id=ACCOUNT, now=NOW + timedelta(days=1))

    assert not report.ok
    assert len(report.problems) == 1
    assert report.problems[0].startswith("sequence 2: digest mismatch")


def test_an_altered_ttl_is_reported_too():
    events = chain_of(2, start=NOW)
    events[0].ttl = events[0].ttl + timedelta(days=365)

    report = audit.check_chain(events, account_id=ACCOUNT, now=NOW + timedelta(days=1))

    assert [p.split(":")[0] for p in report.problems] == ["sequence 1"]


def test_a_deleted_middle_event_is_reported_as_missing():
    first, _, third = chain_of(3, start=NOW)

    report = audit.check_chain([first, third], account_id=ACCOUNT, now=NOW + timedelta(days=1))

    assert not report.ok
    assert report.problems == ["sequence 2 missing before sequence 3: deleted (gap)"]


def test_a_replaced_event_breaks_the_link_to_its_successor():
    events = chain_of(3, start=NOW)
    forged = audit.build_event(
        ACCOUNT, previous=events[0], actor="operator", action="key.revoked", target="x", now=NOW
    )

    report = audit.check_chain(
        [events[0], forged, events[2]], account_id=ACCOUNT, now=NOW + timedelta(days=1)
    )

    assert not report.ok
    assert report.problems == [
        "sequence 3: previous_digest does not match the digest of sequence 2: "
        "an event was replaced or altered"
    ]


def test_a_head_whose_predecessors_expired_is_not_an_error():
    # given events 1-7, one a day, the first 120 days ago; TTL removed sequences 1-4
    events = chain_of(7, start=NOW - timedelta(days=120), step=timedelta(days=1))

    report = audit.check_chain(events[4:], account_id=ACCOUNT, now=NOW)

    assert report.ok
    assert report.first_sequence == 5
    assert report.notes and report.notes[0].startswith("sequences 1-4 expired")


def test_a_recent_head_with_missing_predecessors_is_an_error():
    events = chain_of(5, start=NOW)

    report = audit.check_chain(events[2:], account_id=ACCOUNT, now=NOW + timedelta(days=1))

    assert not report.ok
    assert report.problems == ["sequences 1-2 missing before sequence 3: deleted (gap)"]


def test_a_recent_event_after_a_long_quiet_period_may_start_the_chain():
    # given an event 200 days ago (expired and removed) and one yesterday
    events = chain_of(2, start=NOW - timedelta(days=200), step=timedelta(days=199))

    report = audit.check_chain(events[1:], account_id=ACCOUNT, now=NOW)

    assert report.ok
    assert report.notes[0].startswith("sequence 1 expired")


def test_a_gap_between_recent_events_is_an_error_even_after_expired_ones():
    # given events 30 days apart: sequences 1-2 expired and were removed, and sequence 5,
    # written 31 days before the check, was deleted
    events = chain_of(6, start=NOW - timedelta(days=120), step=timedelta(days=30))
    kept = [events[2], events[3], events[5]]

    report = audit.check_chain(kept, account_id=ACCOUNT, now=NOW + timedelta(days=31))

    assert report.problems == ["sequence 5 missing before sequence 6: deleted (gap)"]
    assert report.notes[0].startswith("sequences 1-2 expired")


def test_an_event_of_another_account_in_the_chain_is_reported():
    events = chain_of(1, start=NOW)

    report = audit.check_chain(events, account_id="acct_2", now=NOW)

    assert not report.ok
    assert report.problems[0].startswith("sequence 1: belongs to account 'acct_1'")


def test_no_events_is_an_intact_empty_chain():
    report = audit.check_chain([], account_id=ACCOUNT, now=NOW)

    assert report.ok
    assert report.events == 0
    assert report.as_dict()["notes"] == ["no events are stored for this account"]


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("2026-11-23T10:00:00Z", NOW),
        ("2026-11-23T11:00:00+01:00", NOW),
        ("2026-11-23T10:00:00", NOW),
        ("1795428000", NOW),
    ],
)
def test_filter_times_are_iso_8601_or_unix_seconds(value, expected):
    assert audit.parse_time(value, "from") == expected


def test_a_malformed_filter_time_names_its_parameter():
    with pytest.raises(BadRequest) as refused:
        audit.parse_time("yesterday", "to")

    assert refused.value.param == "to"


# ------------------------------------------------------------------------------ signatures

KEY, OLD_KEY = b"k" * 32, b"o" * 32


def signed_chain(count: int, *, start: datetime, key: bytes = KEY) -> list:
    events, previous = [], None
    for index in range(count):
        previous = audit.build_event(
            ACCOUNT,
            previous=previous,
            actor="key:key_admin",
            action="key.updated",
            target=f"key:key_{index}",
            now=start + timedelta(hours=index),
            signing_key=key,
        )
        events.append(previous)
    return events


def checkpoint_of(event, *, key: bytes = KEY) -> audit.Checkpoint:
    return audit.Checkpoint(
        account_id=ACCOUNT,
        sequence=int(event.sequence),
        digest=event.digest,
        event_created_at=audit.canonical_document(event)["created_at"],
        checkpointed_at="2026-11-23T12:00:00.000000+0000",
    ).signed(key)


def test_the_hmac_is_hmac_sha256_of_the_canonical_json_by_the_audit_key():
    (event,) = signed_chain(1, start=NOW)

    assert event.mac == hmac.new(KEY, audit.canonical_json(event), hashlib.sha256).hexdigest()


def test_a_signed_chain_with_its_checkpoint_verifies_with_an_older_key_still_accepted():
    events = signed_chain(2, start=NOW, key=OLD_KEY)
    events += [
        audit.build_event(
            ACCOUNT,
            previous=events[-1],
            actor="operator",
            action="key.created",
            target="key:k",
            now=NOW + timedelta(hours=3),
            signing_key=KEY,
        )
    ]

    report = audit.check_chain(
        events,
        account_id=ACCOUNT,
        now=NOW + timedelta(days=1),
        keys=(KEY, OLD_KEY),
        checkpoints=[checkpoint_of(events[1])],
    )

    assert report.ok, report.problems
    assert report.notes == [
        "sequence 3 written after the last checkpoint: vouched for by HMAC only"
    ]


def test_unsigned_events_may_only_precede_the_first_signed_one():
    legacy = chain_of(2, start=NOW)
    signed = audit.build_event(
        ACCOUNT,
        previous=legacy[-1],
        actor="operator",
        action="key.created",
        target="key:k",
        now=NOW + timedelta(hours=3),
        signing_key=KEY,
    )
    unsigned_after = audit.build_event(
        ACCOUNT, previous=signed, actor="operator", action="x", target="y", now=NOW
    )
    now = NOW + timedelta(days=1)

    before = audit.check_chain([*legacy, signed], account_id=ACCOUNT, now=now, keys=(KEY,))
    after = audit.check_chain(
        [*legacy, signed, unsigned_after], account_id=ACCOUNT, now=now, keys=(KEY,)
    )

    assert before.ok, before.problems
    assert [p.split(":")[0] for p in after.problems] == ["sequence 4"]


def test_a_checkpoint_not_signed_with_the_audit_key_is_reported_as_forged():
    events = signed_chain(2, start=NOW)

    report = audit.check_chain(
        events,
        account_id=ACCOUNT,
        now=NOW + timedelta(days=1),
        keys=(KEY,),
        checkpoints=[checkpoint_of(events[1], key=b"not the key"), None],
    )

    assert report.problems == ["a checkpoint is not signed with the audit key (forged)"] * 2


def test_a_checkpoint_ahead_of_a_chain_whose_events_expired_is_not_an_error():
    events = signed_chain(3, start=NOW)
    long_after = NOW + timedelta(days=200)

    report = audit.check_chain(
        [],
        account_id=ACCOUNT,
        now=long_after,
        keys=(KEY,),
        checkpoints=[checkpoint_of(events[2])],
    )

    assert report.ok, report.problems
    assert "sequences 1-3 expired after the checkpoint of sequence 3" in report.notes


def test_a_checkpoint_round_trips_through_its_json_and_junk_is_not_one():
    checkpoint = checkpoint_of(signed_chain(1, start=NOW)[0])

    assert audit.Checkpoint.from_json(checkpoint.to_json()) == checkpoint
    assert audit.Checkpoint.from_json(b"[1, 2]") is None
    assert audit.Checkpoint.from_json(b"not json") is None
