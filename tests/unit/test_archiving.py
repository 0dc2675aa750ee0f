"""The archive job's pure parts: which days are due, which months are complete, the margin TTL
leaves it, the schedule's clock and the archive's line format."""

from __future__ import annotations

import gzip
import json
from datetime import UTC, date, datetime, timedelta

from tollgate import archiving, clock
from tollgate.store import layout
from tollgate.store.models import UsageRecord

SCHEDULED_EVENT = {
    "version": "0",
    "detail-type": "Scheduled Event",
    "source": "aws.events",
    "time": "2026-11-23T03:30:00Z",
    "detail": {},
}


def a_record(request_id: str = "req-1", **fields) -> UsageRecord:
    at = datetime(2026, 8, 1, 9, 15, 0, 123_456, tzinfo=UTC)
    return UsageRecord(
        "ACCOUNT#acct_1",
        layout.usage_sk(at, request_id),
        request_id=request_id,
        account_id="acct_1",
        key_id="key_1",
        model="openai/gpt-4o-mini",
        provider="openai",
        upstream_model="gpt-4o-mini-2024-07-18",
        endpoint="chat.completions",
        status_code=200,
        created_at=at,
        input_tokens=12,
        output_tokens=34,
        hold=50_000,
        charge=1_234,
        **fields,
    )


# ------------------------------------------------------------------------------ due days


def test_a_day_is_due_once_all_of_it_is_older_than_90_days():
    now = datetime(2026, 11, 23, 3, 30, tzinfo=UTC)

    assert archiving.cutoff_day(now) == date(2026, 8, 25)
    assert datetime(2026, 8, 25, tzinfo=UTC) <= now - timedelta(days=90)


def test_due_days_are_the_unarchived_ones_before_the_cutoff_oldest_first():
    archived = {date(2026, 8, 2)}

    due = archiving.days_due(date(2026, 8, 1), date(2026, 8, 5), archived)

    assert due == [date(2026, 8, 1), date(2026, 8, 3), date(2026, 8, 4)]


def test_a_first_run_starts_where_ttl_may_still_have_left_records():
    now = datetime(2026, 11, 23, 3, 30, tzinfo=UTC)

    assert archiving.default_start(now) == (now - timedelta(days=104)).date()


def test_ttl_leaves_at_least_ten_days_after_a_records_day_is_due_and_run():
    last_moment = datetime(2026, 8, 1, 23, 59, 59, 999_999, tzinfo=UTC)
    due = datetime(2026, 8, 2, tzinfo=UTC) + layout.USAGE_RETENTION
    first_run = due + timedelta(days=1)  # a daily schedule runs within a day of it

    ttl = last_moment + layout.USAGE_RETENTION + layout.USAGE_TTL_GRACE

    assert archiving.cutoff_day(first_run) > last_moment.date()
    assert ttl - first_run >= timedelta(days=10)


# ------------------------------------------------------------------------------ months


def test_a_month_is_complete_when_its_last_day_is_due_and_every_day_is_archived():
    july = set(archiving.days_between(date(2026, 7, 1), date(2026, 7, 31)))

    assert archiving.complete_months(date(2026, 7, 1), date(2026, 8, 1), july) == ["2026-07"]
    assert archiving.complete_months(date(2026, 7, 1), date(2026, 7, 31), july) == []


def test_a_month_with_a_day_missing_is_not_complete():
    july = set(archiving.days_between(date(2026, 7, 1), date(2026, 7, 31))) - {date(2026, 7, 19)}

    assert archiving.complete_months(date(2026, 7, 1), date(2026, 8, 10), july) == []


def test_the_start_months_days_before_the_start_are_not_awaited():
    from_the_20th = set(archiving.days_between(date(2026, 7, 20), date(2026, 8, 31)))

    complete = archiving.complete_months(date(2026, 7, 20), date(2026, 9, 1), from_the_20th)

    assert complete == ["2026-07", "2026-08"]


def test_february_ends_on_its_last_day():
    february = set(archiving.days_between(date(2028, 2, 1), date(2028, 2, 29)))

    assert archiving.complete_months(date(2028, 2, 1), date(2028, 3, 1), february) == ["2028-02"]


# ------------------------------------------------------------------------------ the clock


def test_the_run_time_is_the_scheduled_events_time():
    assert clock.scheduled_time(SCHEDULED_EVENT) == datetime(2026, 11, 23, 3, 30, tzinfo=UTC)


def test_without_an_event_time_the_run_time_is_now(monkeypatch):
    now = datetime(2027, 1, 2, 3, 4, tzinfo=UTC)
    monkeypatch.setattr(clock, "utcnow", lambda: now)

    assert clock.scheduled_time({}) == now


# ------------------------------------------------------------------------------ the format


def test_a_line_is_the_records_metadata_with_money_in_nanos_and_usd():
    line = archiving.record_line(a_record())

    assert line["created_at"] == "2026-08-01T09:15:00.123456+00:00"
    assert (line["charge_nanos"], line["charge_usd"]) == (1_234, "0.000001234")
    assert (line["hold_nanos"], line["hold_usd"]) == (50_000, "0.00005")
    assert not {"messages", "prompt", "content", "input", "output"} & set(line)


def test_the_same_records_always_make_the_same_bytes():
    records = [a_record("req-1"), a_record("req-2", stream=True)]

    first = archiving.gzipped(archiving.jsonl(records))
    again = archiving.gzipped(archiving.jsonl(records))

    assert first == again
    lines = gzip.decompress(first).decode().splitlines()
    assert [json.loads(line)["request_id"] for line in lines] == ["req-1", "req-2"]
