"""ArchiveFunction and the archive routes of UsageFunction, against moto, with an injected
clock: the scheduled event's ``time`` is the run's "now".

Usage is made through the proxy's own HotPath (hold, then settle, with a chosen
``created_at``), so each request leaves its usage record and its day's rollup exactly as in
production. Requests happen after 03:30, the schedule's time, so that at each run the records
younger than 90 days (what the hot API shows) and the archived days meet exactly: a record
made between midnight and the run's time on the cutoff day would be in neither until the
next run.
"""

from __future__ import annotations

import copy
import functools
import gzip
import hashlib
import json
from collections import Counter
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from types import SimpleNamespace
from urllib.parse import parse_qs, urlsplit

import boto3
import pytest
import requests
from boto3.dynamodb.conditions import Key
from moto.dynamodb import models as moto_dynamodb

from tests.integration.conftest import EVENTS, event, handle
from tests.support.environment import NAMES
from tests.support.lean_dynamodb import a_usage
from tollgate import archiving, keys, ledger
from tollgate.key_policy import KeyPolicy
from tollgate.observability import metrics
from tollgate.settings import get_settings
from tollgate.store import archives as store
from tollgate.store import layout
from tollgate.store.hotpath import Hold, HotPath

OPEN = KeyPolicy()
RUN_AT = time(3, 30)  # cron(30 3 * * ? *)
REQUEST_HOURS = (9, 17)
ARCHIVE_FIELDS = {
    "request_id",
    "created_at",
    "account_id",
    "key_id",
    "model",
    "requested_model",
    "provider",
    "upstream_model",
    "route",
    "endpoint",
    "stream",
    "status",
    "status_code",
    "error_type",
    "input_tokens",
    "output_tokens",
    "cached_tokens",
    "cache_write_tokens",
    "reasoning_tokens",
    "latency_ms",
    "upstream_latency_ms",
    "overhead_ms",
    "hold_nanos",
    "hold_usd",
    "charge_nanos",
    "charge_usd",
    "usage_estimated",
    "video_seconds",
}


# ------------------------------------------------------------------------------ the world


@dataclass
class Customer:
    account_id: str
    admin_key: str
    key_id: str


@pytest.fixture(autouse=True)
def no_leftover_metrics():
    """Metrics of a run outside a handler would otherwise be flushed by the next handler."""
    yield
    metrics.clear_metrics()


@pytest.fixture
def hotpath(hotpath, monkeypatch):
    # moto backs up each table a transaction touches with a deep copy, once per item, which
    # makes building months of usage quadratic; no transaction here is meant to fail.
    monkeypatch.setattr(moto_dynamodb, "copy", SimpleNamespace(deepcopy=_no_table_copies))
    return hotpath


def _no_table_copies(value, memo=None):
    return value if isinstance(value, moto_dynamodb.Table) else copy.deepcopy(value, memo)


@pytest.fixture
def new_customer(new_account):
    def build() -> Customer:
        account = new_account()
        ledger.credit(account.account_id, 10**12, kind="adjustment", reason="test credit")
        key = keys.create_key(account.account_id, keys.NewKey(name="ci", role="inference"))
        return Customer(account.account_id, account.admin_key, key.key.key_id)

    return build


def requests_on(
    hotpath: HotPath, customer: Customer, day: date, hours: tuple[int, ...] = REQUEST_HOURS
) -> dict[str, datetime]:
    """The customer's requests of one day, held and settled as the proxy does: their ids and
    times."""
    made = {}
    for hour in hours:
        at = datetime.combine(day, time(hour, 7, 30, 250_000), UTC)
        request_id = f"req-{customer.account_id[-6:]}-{day.isoformat()}-{hour:02d}"
        hold = Hold(
            request_id, customer.account_id, customer.key_id, "openai/gpt-4o-mini", 50_000, at,
            at + timedelta(minutes=6), endpoint="chat.completions",
        )  # fmt: skip
        hotpath.hold(hold, OPEN)
        hotpath.settle(
            hold,
            a_usage(
                hold,
                1_234 + hour,
                upstream_model="gpt-4o-mini-2024-07-18",
                latency_ms=420,
                upstream_latency_ms=400,
                overhead_ms=20,
            ),
            OPEN,
        )
        made[request_id] = at
    return made


def days(first: date, last: date) -> list[date]:
    return [first + timedelta(days=n) for n in range((last - first).days + 1)]


def at_run_time(day: date) -> datetime:
    return datetime.combine(day, RUN_AT, UTC)


def archive(now: datetime) -> dict:
    """One run of ArchiveFunction on the schedule's event fired at ``now`` (IAM-checked)."""
    scheduled = json.loads((EVENTS / "archive_scheduled.json").read_text())
    scheduled["time"] = now.isoformat().replace("+00:00", "Z")
    return handle("ArchiveFunction", scheduled)


# ------------------------------------------------------------------------------ what is stored


@functools.cache
def s3():
    """One client for the module: a new one each call read S3's service model again."""
    return boto3.client("s3", region_name=NAMES.region)


def bucket() -> str:
    return get_settings().archive_bucket


def objects(prefix: str = "") -> dict[str, bytes]:
    listed = s3().list_objects_v2(Bucket=bucket(), Prefix=prefix).get("Contents", [])
    return {o["Key"]: s3().get_object(Bucket=bucket(), Key=o["Key"])["Body"].read() for o in listed}


def object_versions() -> int:
    return len(s3().list_object_versions(Bucket=bucket()).get("Versions", []))


def lines_of(body: bytes) -> list[dict]:
    return [json.loads(line) for line in gzip.decompress(body).splitlines()]


_REQUEST_IDS: dict[str, list[str]] = {}  # by ETag: an object's request ids, read once


def archived_request_ids() -> Counter:
    """Every request id in the archive: daily copies in staging and monthly batches."""
    found: Counter = Counter()
    for listed in s3().list_objects_v2(Bucket=bucket()).get("Contents", []):
        if listed["Key"].endswith(".jsonl.gz"):
            if listed["ETag"] not in _REQUEST_IDS:
                body = s3().get_object(Bucket=bucket(), Key=listed["Key"])["Body"].read()
                _REQUEST_IDS[listed["ETag"]] = [line["request_id"] for line in lines_of(body)]
            found.update(_REQUEST_IDS[listed["ETag"]])
    return found


def hot_request_ids(made: dict[str, datetime], now: datetime) -> Counter:
    """The requests younger than 90 days: what the hot API shows of the usage records (the
    archive job never deletes one; TTL does, long after)."""
    return Counter(rid for rid, at in made.items() if at >= now - timedelta(days=90))


def metadata_table():
    return boto3.resource("dynamodb", region_name=NAMES.region).Table(get_settings().metadata_table)


def partition(pk: str, sk_from: str = "") -> list[dict]:
    """The items of one partition of MetadataTable, from a sort key on."""
    condition = Key("pk").eq(pk) & Key("sk").gte(sk_from) if sk_from else Key("pk").eq(pk)
    items, page = [], {"KeyConditionExpression": condition, "ConsistentRead": True}
    while True:
        answer = metadata_table().query(**page)
        items += answer["Items"]
        if "LastEvaluatedKey" not in answer:
            return items
        page["ExclusiveStartKey"] = answer["LastEvaluatedKey"]


def archive_state(customers: list[Customer]) -> tuple[dict[str, bytes], list[dict]]:
    """Everything the archive job writes: its objects, its markers and its batch items."""
    batches = [
        item
        for customer in customers
        for item in partition(layout.account_pk(customer.account_id), "ARCHIVE#")
        if item["sk"].startswith("ARCHIVE#")
    ]
    return objects(), partition("ARCHIVE") + batches


# ------------------------------------------------------------------------------ the job


def test_daily_runs_keep_every_record_exactly_once_in_hot_usage_or_the_archive(
    hotpath, new_customer
):
    a, b = new_customer(), new_customer()
    made: dict[str, datetime] = {}
    # one request a day each on the days the runs archive or come within a day of (June 1 to
    # July 3), and one a week after those up to the runs' last days: records that stay hot
    # throughout (one on each of those days too, 120 days in all, only added a minute of CI)
    weekly = [date(2026, 9, 28) - timedelta(weeks=n) for n in range(12)]
    for day in days(date(2026, 6, 1), date(2026, 7, 3)) + weekly:
        made |= requests_on(hotpath, a, day, (9,)) | requests_on(hotpath, b, day, (17,))
    missed = {date(2026, 9, 3), date(2026, 9, 4), date(2026, 9, 5), date(2026, 9, 6)}

    for day in days(date(2026, 8, 30), date(2026, 9, 30)):
        if day in missed:
            continue
        now = at_run_time(day)
        summary = archive(now)

        assert hot_request_ids(made, now) + archived_request_ids() == Counter(made.keys()), now
        assert summary["complete"] is True
        if day == date(2026, 9, 7):  # the first run after the missed ones catches up
            assert summary["days_archived"] == [f"2026-06-{n:02d}" for n in range(4, 9)]

    assert [key for key in objects() if "/2026-06/" in key] == sorted(
        f"archives/{customer.account_id}/2026-06/{name}"
        for customer in (a, b)
        for name in ("manifest.json", "usage-2026-06.jsonl.gz")
    )
    assert len(objects("staging/2026-07/")) == 2  # July 1 of each


def test_a_months_batch_holds_its_records_in_order_with_a_manifest_that_matches(
    hotpath, new_customer
):
    customer = new_customer()
    june = [rid for day in days(date(2026, 6, 28), date(2026, 6, 30))
            for rid in requests_on(hotpath, customer, day)]  # fmt: skip
    requests_on(hotpath, customer, date(2026, 7, 1))

    archive(at_run_time(date(2026, 9, 29)))  # June 30 is past 90 days: June is complete

    prefix = f"archives/{customer.account_id}/2026-06/"
    body = objects(prefix)[prefix + "usage-2026-06.jsonl.gz"]
    manifest = json.loads(objects(prefix)[prefix + "manifest.json"])
    lines = lines_of(body)
    assert [line["request_id"] for line in lines] == june
    assert all(set(line) == ARCHIVE_FIELDS for line in lines)
    assert lines[0] | {"request_id": None, "created_at": None} == {
        "request_id": None,
        "created_at": None,
        "account_id": customer.account_id,
        "key_id": customer.key_id,
        "model": "openai/gpt-4o-mini",
        "requested_model": "openai/gpt-4o-mini",
        "provider": "openai",
        "upstream_model": "gpt-4o-mini-2024-07-18",
        "route": 0,
        "endpoint": "chat.completions",
        "stream": False,
        "status": "settled",
        "status_code": 200,
        "error_type": None,
        "input_tokens": 12,
        "output_tokens": 34,
        "cached_tokens": 0,
        "cache_write_tokens": 0,
        "reasoning_tokens": 0,
        "latency_ms": 420,
        "upstream_latency_ms": 400,
        "overhead_ms": 20,
        "hold_nanos": 50_000,
        "hold_usd": "0.00005",
        "charge_nanos": 1_243,
        "charge_usd": "0.000001243",
        "usage_estimated": False,
        "video_seconds": None,
    }
    assert lines[0]["created_at"] == "2026-06-28T09:07:30.250000+00:00"
    assert manifest == {
        "schema_version": 3,
        "account_id": customer.account_id,
        "month": "2026-06",
        "record_count": 6,
        "sha256": hashlib.sha256(body).hexdigest(),
        "size_bytes": len(body),
        "object_key": prefix + "usage-2026-06.jsonl.gz",
        "created_at": "2026-09-29T03:30:00+00:00",
    }
    batch = store.get_batch(customer.account_id, "2026-06")
    assert (batch.record_count, batch.sha256, batch.size_bytes) == (
        6,
        manifest["sha256"],
        len(body),
    )
    assert objects("staging/2026-06/") == {}


def test_a_video_jobs_line_ends_with_the_seconds_delivered(hotpath, new_customer):
    # given a 4-second video job settled on June 30
    customer = new_customer()
    at = datetime.combine(date(2026, 6, 30), time(9, 7, 30), UTC)
    hold = Hold(
        f"req-{customer.account_id[-6:]}-video", customer.account_id, customer.key_id,
        "gemini/veo-3.0-generate-001", 2 * 10**9, at, at + timedelta(minutes=40),
        endpoint="videos",
    )  # fmt: skip
    hotpath.hold(hold, OPEN)
    video = a_usage(hold, 16 * 10**8, provider="gemini", output_tokens=0, video_seconds=4)
    hotpath.settle(hold, video, OPEN)

    # when June is batched
    archive(at_run_time(date(2026, 9, 29)))

    # then its line carries the seconds delivered, after every field the lines had before
    prefix = f"archives/{customer.account_id}/2026-06/"
    (line,) = lines_of(objects(prefix)[prefix + "usage-2026-06.jsonl.gz"])
    assert list(line)[-1] == "video_seconds" and line["video_seconds"] == 4
    assert (line["endpoint"], line["charge_usd"]) == ("videos", "1.60")


def test_a_rerun_writes_nothing(hotpath, new_customer):
    customer = new_customer()
    for day in days(date(2026, 6, 29), date(2026, 7, 2)):
        requests_on(hotpath, customer, day)
    now = at_run_time(date(2026, 9, 30))
    archive(now)
    before, versions = archive_state([customer]), object_versions()

    summary = archive(now)

    assert archive_state([customer]) == before
    assert object_versions() == versions
    assert (summary["days_archived"], summary["months_batched"]) == ([], [])


def test_a_run_that_failed_midway_is_finished_by_the_next(hotpath, new_customer, monkeypatch):
    a, b = new_customer(), new_customer()
    for customer in sorted((a, b), key=lambda c: c.account_id):
        requests_on(hotpath, customer, date(2026, 6, 30))
    now = at_run_time(date(2026, 9, 29))
    saved = store.save_batch

    def fail_on_the_second_batch(account_id, month, **fields):
        if store.get_batch(min(a.account_id, b.account_id), month) is not None:
            raise RuntimeError("the function timed out")
        return saved(account_id, month, **fields)

    monkeypatch.setattr(store, "save_batch", fail_on_the_second_batch)
    with pytest.raises(RuntimeError):
        archive(now)
    monkeypatch.setattr(store, "save_batch", saved)

    summary = archive(now)

    assert summary["months_batched"] == ["2026-06"] and summary["batches_written"] == 1
    for customer in (a, b):
        batch = store.get_batch(customer.account_id, "2026-06")
        assert [line["request_id"] for line in lines_of(objects()[batch.object_key])] == [
            f"req-{customer.account_id[-6:]}-2026-06-30-{hour:02d}" for hour in REQUEST_HOURS
        ]
    assert objects("staging/") == {}


def test_an_account_without_usage_in_a_month_gets_no_batch(hotpath, new_customer):
    busy, idle = new_customer(), new_customer()
    requests_on(hotpath, busy, date(2026, 6, 20))
    requests_on(hotpath, idle, date(2026, 7, 20))

    archive(at_run_time(date(2026, 9, 29)))

    assert store.get_batch(busy.account_id, "2026-06") is not None
    assert store.get_batch(idle.account_id, "2026-06") is None


def test_a_run_short_of_time_leaves_the_rest_to_the_next(aws):
    now = at_run_time(date(2026, 9, 29))
    seconds_left = iter([100.0, 90.0, 80.0, 40.0, 30.0])  # the reserve: half of the first

    short = archiving.run(now, get_settings(), seconds_left=lambda: next(seconds_left))
    rest = archiving.run(now, get_settings())

    assert short["days_archived"] == ["2026-06-17", "2026-06-18"]
    assert (short["days_pending"], short["complete"]) == (12, False)
    assert rest["days_archived"][0] == "2026-06-19" and rest["days_archived"][-1] == "2026-06-30"
    assert (rest["months_batched"], rest["complete"]) == (["2026-06"], True)


def test_a_first_run_starts_where_ttl_may_still_have_left_records(aws):
    now = at_run_time(date(2026, 9, 29))

    summary = archive(now)

    assert summary["start_day"] == "2026-06-17"  # 90 + 14 days earlier
    assert summary["days_archived"][0] == "2026-06-17"
    assert summary["days_archived"][-1] == "2026-06-30"
    assert summary["months_batched"] == ["2026-06"]


# ------------------------------------------------------------------------------ the routes


@pytest.fixture
def archived_june(hotpath, new_customer) -> Customer:
    customer = new_customer()
    requests_on(hotpath, customer, date(2026, 6, 30))
    archive(at_run_time(date(2026, 9, 29)))
    return customer


def test_the_owner_lists_its_archives_with_month_size_and_count(invoke, archived_june):
    answer = invoke("UsageFunction", event("archives_list", key=archived_june.admin_key))

    assert answer.status == 200
    batch = store.get_batch(archived_june.account_id, "2026-06")
    assert answer.body["data"] == [
        {
            "object": "archive",
            "month": "2026-06",
            "record_count": 2,
            "size_bytes": batch.size_bytes,
            "sha256": batch.sha256,
            "schema_version": 3,
            "created_at": int(at_run_time(date(2026, 9, 29)).timestamp()),
        }
    ]


def test_the_download_is_a_presigned_get_valid_five_minutes(invoke, archived_june):
    answer = invoke(
        "UsageFunction",
        event("archive_get", key=archived_june.admin_key, path_parameters={"month": "2026-06"}),
    )

    assert answer.status == 302
    link = urlsplit(answer.headers["location"])
    query = parse_qs(link.query)
    assert link.path.endswith(f"archives/{archived_june.account_id}/2026-06/usage-2026-06.jsonl.gz")
    assert query["X-Amz-Expires"] == ["300"]
    assert query["response-content-disposition"] == [
        'attachment; filename="tollgate-usage-2026-06.jsonl.gz"'
    ]
    download = requests.get(answer.headers["location"], timeout=10)
    assert download.status_code == 200
    assert len(lines_of(download.content)) == 2


def test_another_accounts_month_is_not_found(invoke, archived_june, new_customer):
    other = new_customer()

    answer = invoke(
        "UsageFunction",
        event("archive_get", key=other.admin_key, path_parameters={"month": "2026-06"}),
    )

    assert answer.status == 404
    assert answer.body["error"]["code"] == "archive_not_found"
    listed = invoke("UsageFunction", event("archives_list", key=other.admin_key))
    assert listed.body["data"] == []


def test_a_month_that_is_not_yyyy_mm_is_a_bad_request(invoke, archived_june):
    answer = invoke(
        "UsageFunction",
        event("archive_get", key=archived_june.admin_key, path_parameters={"month": "2026-6"}),
    )

    assert answer.status == 400
    assert answer.body["error"]["param"] == "month"
