"""Video jobs through the proxy's ASGI app, against moto and the mock upstreams: a hold at
creation, one settle (or release) at the end whoever sees it first, nothing of the prompt or
the video stored, and every refusal in OpenAI's error shape."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Iterator
from datetime import timedelta
from decimal import Decimal
from typing import Any

import boto3
import httpx
import pytest
from boto3.dynamodb.conditions import Key

from devstack.upstreams import RunningUpstreams, start_upstreams
from tests.integration.test_proxy_money import Customer, charges_in_ledger, wallet
from tests.support.environment import NAMES
from tests.support.mp4 import duration_seconds
from tests.support.openapi import validate_openai
from tests.support.proxy_asgi import Exchange, call, proxy_app
from tollgate import clock, keys, ledger
from tollgate.key_policy import KeyPolicy, SpendCap
from tollgate.money import parse_usd
from tollgate.proxy.app import ProxyApp
from tollgate.store.video_jobs import VideoJobs
from tollgate.videos import jobs

PROVIDER_KEYS = {"openai": "mock-openai", "anthropic": "mock-anthropic", "gemini": "mock-gemini"}
VEO = "gemini/veo-3.0-generate-001"
VIDEOS = "/v1/videos"
QUICK = "[[mock:video_ms=200]]"
SLOW = "[[mock:video_ms=600000]]"
FOUR_SECONDS_OF_VEO = parse_usd("1.60")  # 4 s x 0.40 USD at 720p


@pytest.fixture(scope="module")
def upstreams() -> Iterator[RunningUpstreams]:
    running = start_upstreams(PROVIDER_KEYS)
    yield running
    running.stop()


@pytest.fixture
def app(aws, atomic_requests, upstreams, tmp_path) -> ProxyApp:
    return proxy_app(upstreams, PROVIDER_KEYS, tmp_path)


@pytest.fixture
def customer(new_account) -> Callable[..., Customer]:
    def build(credit: int = 10**10, **policy: Any) -> Customer:
        account = new_account()
        if credit:
            ledger.credit(account.account_id, credit, kind="adjustment", reason="test credit")
        new = keys.NewKey(name="ci", role="inference", policy=KeyPolicy(**policy))
        key = keys.create_key(account.account_id, new)
        return Customer(account.account_id, account.admin_key, key.secret)

    return build


def create(app: ProxyApp, key: str, prompt: str = f"A paper boat {QUICK}", **fields: Any):
    body = {"model": VEO, "prompt": prompt, "seconds": "4", "size": "1280x720", **fields}
    return asyncio.run(call(app, VIDEOS, body, key=key))


def get(app: ProxyApp, key: str, path: str, method: str = "GET") -> Exchange:
    return asyncio.run(call(app, path, None, key=key, method=method))


def until_finished(app: ProxyApp, key: str, video_id: str) -> dict[str, Any]:
    """Poll as a client does (each GET asks the provider) until the job ends."""
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        video = get(app, key, f"{VIDEOS}/{video_id}").json()
        if video["status"] in ("completed", "failed"):
            return video
    raise AssertionError(f"{video_id} did not finish")


def until_provider_done(app: ProxyApp, customer: Customer, video_id: str) -> None:
    """Wait for the provider to finish the job without asking the gateway (which would)."""
    job = VideoJobs(app.runtime.hotpath).get(customer.account_id, video_id)
    assert job is not None and job.operation is not None
    base = app.runtime.catalog.provider_of(app.runtime.catalog.models[VEO]).base_url
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        operation = httpx.get(
            f"{base}/v1beta/{job.operation}", headers={"x-goog-api-key": "mock-gemini"}
        ).json()
        if operation.get("done"):
            return
    raise AssertionError("the provider did not finish")


def usage_records(account_id: str) -> list[dict[str, Any]]:
    table = boto3.resource("dynamodb", region_name=NAMES.region).Table(NAMES.ref("MetadataTable"))
    return table.query(
        KeyConditionExpression=Key("pk").eq(f"ACCOUNT#{account_id}")
        & Key("sk").begins_with("USAGE#"),
        ConsistentRead=True,
    )["Items"]


# ------------------------------------------------------------------------- held, then settled


def test_a_video_is_held_at_creation_settled_at_completion_and_downloaded(app, customer):
    # given a customer with 10 USD
    buyer = customer()
    balance_before, _ = wallet(buyer.account_id)

    # when they ask for 4 seconds of Veo at 720p
    created = create(app, buyer.api_key)

    # then the job is queued under our id, and exactly 4 s x 0.40 USD is held
    assert created.status == 200, created.body
    video = created.json()
    assert video["id"].startswith("video_") and video["status"] == "queued"
    validate_openai("VideoResource", video)
    assert Decimal(created.headers["x-tollgate-hold"]) == Decimal("1.60")
    assert wallet(buyer.account_id) == (balance_before - FOUR_SECONDS_OF_VEO, FOUR_SECONDS_OF_VEO)

    # when they poll it to completion
    done = until_finished(app, buyer.api_key, video["id"])

    # then it is charged once, the usage record's charge, and nothing stays held
    assert done["status"] == "completed" and done["progress"] == 100
    validate_openai("VideoResource", done)
    assert Decimal(str(done["cost"])) == Decimal("1.60")
    (record,) = usage_records(buyer.account_id)
    assert record["endpoint"] == "videos" and record["status"] == "settled"
    assert int(record["charge"]) == FOUR_SECONDS_OF_VEO and int(record["video_seconds"]) == 4
    assert wallet(buyer.account_id) == (balance_before - FOUR_SECONDS_OF_VEO, 0)
    assert charges_in_ledger(buyer.account_id) == FOUR_SECONDS_OF_VEO

    # and the MP4 streams through, four seconds long
    content = get(app, buyer.api_key, f"{VIDEOS}/{video['id']}/content")
    assert content.status == 200 and content.headers["content-type"] == "video/mp4"
    assert duration_seconds(content.body) == pytest.approx(4.0)
    assert (
        get(app, buyer.api_key, f"{VIDEOS}/{video['id']}/content?variant=thumbnail").status == 404
    )


def test_twenty_pollers_racing_the_scheduled_function_settle_one_job_once(app, customer):
    # given a job the provider has finished but nobody has asked about yet
    buyer = customer()
    balance_before, _ = wallet(buyer.account_id)
    video_id = create(app, buyer.api_key).json()["id"]
    until_provider_done(app, buyer, video_id)

    # when 20 clients poll it while the scheduled function runs
    async def race() -> list[Any]:
        polls = [call(app, f"{VIDEOS}/{video_id}", None, key=buyer.api_key, method="GET")]
        return await asyncio.gather(
            *(polls * 20), jobs.advance_running(app.runtime, clock.utcnow())
        )

    answers = asyncio.run(race())

    # then every poller sees it completed, and it was charged exactly once
    assert {answer.json()["status"] for answer in answers[:-1]} == {"completed"}
    assert len(usage_records(buyer.account_id)) == 1
    assert charges_in_ledger(buyer.account_id) == FOUR_SECONDS_OF_VEO
    assert wallet(buyer.account_id) == (balance_before - FOUR_SECONDS_OF_VEO, 0)


def test_nobody_polls_and_a_revoked_key_still_pays_but_cannot_look(app, customer):
    # given a job whose key is revoked while the provider works on it
    buyer = customer()
    balance_before, _ = wallet(buyer.account_id)
    video_id = create(app, buyer.api_key).json()["id"]
    key_id = app.runtime.authenticate(buyer.api_key, fresh=True).key_id
    keys.revoke_key(buyer.account_id, key_id)
    until_provider_done(app, buyer, video_id)

    # when the scheduled function runs
    counts = asyncio.run(jobs.advance_running(app.runtime, clock.utcnow()))

    # then the job is settled, the money moved, and the revoked key reads nothing
    assert counts["completed"] >= 1
    assert wallet(buyer.account_id) == (balance_before - FOUR_SECONDS_OF_VEO, 0)
    assert get(app, buyer.api_key, f"{VIDEOS}/{video_id}").status == 401


# ---------------------------------------------------------------------------- released


@pytest.mark.parametrize(
    ("marker", "code"),
    [
        ("[[mock:fault=video_failed]]", "generation_failed"),
        ("[[mock:fault=moderation]]", "moderation_blocked"),
    ],
)
def test_a_failed_or_filtered_video_releases_its_hold(app, customer, marker, code):
    buyer = customer()
    balance_before, _ = wallet(buyer.account_id)

    video = until_finished(
        app, buyer.api_key, create(app, buyer.api_key, f"A storm {QUICK} {marker}").json()["id"]
    )

    assert video["status"] == "failed" and video["error"]["code"] == code
    assert video["cost"] == 0
    assert wallet(buyer.account_id) == (balance_before, 0)
    (record,) = usage_records(buyer.account_id)
    assert record["status"] == "error" and record["error_type"] == code


def test_a_cancelled_job_releases_its_hold_and_leaves_the_list(app, customer):
    buyer = customer()
    balance_before, _ = wallet(buyer.account_id)
    video_id = create(app, buyer.api_key, f"A long take {SLOW}").json()["id"]

    deleted = get(app, buyer.api_key, f"{VIDEOS}/{video_id}", method="DELETE")
    validate_openai("DeletedVideoResource", deleted.json())

    assert deleted.json() | {} == {
        "id": video_id,
        "object": "video.deleted",
        "deleted": True,
        "status": "failed",
        "cost": 0.0,
    }
    assert wallet(buyer.account_id) == (balance_before, 0)
    (record,) = usage_records(buyer.account_id)
    assert record["status"] == "cancelled" and int(record["charge"]) == 0
    assert get(app, buyer.api_key, f"{VIDEOS}/{video_id}").status == 404
    assert get(app, buyer.api_key, VIDEOS).json()["data"] == []


def test_a_job_past_its_deadline_is_failed_and_released_by_the_scheduled_function(app, customer):
    buyer = customer()
    balance_before, _ = wallet(buyer.account_id)
    video_id = create(app, buyer.api_key, f"A slow dawn {SLOW}").json()["id"]

    later = clock.utcnow() + jobs.DEADLINE + timedelta(minutes=1)
    asyncio.run(jobs.advance_running(app.runtime, later))

    video = get(app, buyer.api_key, f"{VIDEOS}/{video_id}").json()
    assert video["status"] == "failed" and video["error"]["code"] == "deadline_exceeded"
    assert wallet(buyer.account_id) == (balance_before, 0)


def test_a_wallet_that_affords_one_hold_gets_402_on_the_second_concurrent_create(app, customer):
    buyer = customer(credit=FOUR_SECONDS_OF_VEO)

    async def both() -> list[Exchange]:
        body = {"model": VEO, "prompt": f"Twins {SLOW}", "seconds": "4", "size": "1280x720"}
        return await asyncio.gather(*(call(app, VIDEOS, body, key=buyer.api_key) for _ in range(2)))

    statuses = sorted(answer.status for answer in asyncio.run(both()))

    assert statuses == [200, 402]


# ---------------------------------------------------------------------------- what is refused


@pytest.mark.parametrize(
    ("fields", "param"),
    [
        ({"seconds": "5"}, "seconds"),
        ({"size": "1024x1792"}, "size"),
        ({"prompt": ""}, "prompt"),
        ({"input_reference": {"image_url": "https://example.com/cat.png"}}, "input_reference"),
        ({"style": "noir"}, "style"),
        ({"model": "openai/gpt-4o-mini"}, "model"),
    ],
)
def test_a_bad_request_is_a_400_naming_the_field_and_holds_nothing(app, customer, fields, param):
    buyer = customer()
    balance_before, _ = wallet(buyer.account_id)

    refused = create(app, buyer.api_key, **fields)

    assert refused.status == 400, refused.body
    assert refused.json()["error"]["param"] == param
    assert wallet(buyer.account_id) == (balance_before, 0)


def test_another_accounts_job_and_a_key_without_videos_get_nothing(app, customer):
    owner, stranger = customer(), customer()
    video_id = create(app, owner.api_key, f"Mine {SLOW}").json()["id"]
    chat_only = customer(allowed_endpoints=("chat.completions",))

    assert get(app, stranger.api_key, f"{VIDEOS}/{video_id}").status == 404
    assert get(app, stranger.api_key, f"{VIDEOS}/{video_id}/content").status == 404
    assert get(app, stranger.api_key, f"{VIDEOS}/../keys").status == 404
    assert get(app, stranger.api_key, f"{VIDEOS}/{video_id}", method="DELETE").status == 404
    assert get(app, stranger.api_key, VIDEOS).json()["data"] == []
    assert create(app, chat_only.api_key).status == 403
    assert get(app, owner.api_key, f"{VIDEOS}/{video_id}").json()["status"] in (
        "queued",
        "in_progress",
    )


def test_an_openai_compatible_provider_runs_the_same_job_with_a_thumbnail(app, customer):
    buyer = customer()
    created = create(app, buyer.api_key, model="videolab/video-1", seconds="8", size="1920x1080")
    assert Decimal(created.headers["x-tollgate-hold"]) == Decimal("2.40")  # 8 s x 0.30 at 1080p

    video = until_finished(app, buyer.api_key, created.json()["id"])

    assert video["status"] == "completed" and Decimal(str(video["cost"])) == Decimal("2.40")
    video_file = get(app, buyer.api_key, f"{VIDEOS}/{video['id']}/content")
    assert duration_seconds(video_file.body) == pytest.approx(8.0)
    thumbnail = get(app, buyer.api_key, f"{VIDEOS}/{video['id']}/content?variant=thumbnail")
    assert thumbnail.status == 200 and thumbnail.headers["content-type"].startswith("image/")


def test_a_file_the_provider_no_longer_keeps_is_410_video_expired(app, customer):
    buyer = customer()
    prompt = f"Ephemeral {QUICK} [[mock:video_retention_ms=1]]"
    video = until_finished(app, buyer.api_key, create(app, buyer.api_key, prompt).json()["id"])

    gone = get(app, buyer.api_key, f"{VIDEOS}/{video['id']}/content")

    assert gone.status == 410 and gone.json()["error"]["code"] == "video_expired"


def test_the_list_pages_newest_first_with_a_cursor(app, customer):
    buyer = customer()
    made = [create(app, buyer.api_key, f"Take {n} {SLOW}").json()["id"] for n in range(3)]

    first = get(app, buyer.api_key, f"{VIDEOS}?limit=2").json()
    second = get(app, buyer.api_key, f"{VIDEOS}?limit=2&after={first['last_id']}").json()

    validate_openai("VideoListResource", first)
    assert [v["id"] for v in first["data"]] == made[::-1][:2] and first["has_more"] is True
    assert [v["id"] for v in second["data"]] == made[:1] and second["has_more"] is False


def test_a_keys_spend_cap_applies_at_creation(app, customer):
    capped = customer(spend_cap=SpendCap(parse_usd("1.00"), "day"))

    refused = create(app, capped.api_key)

    assert refused.status == 402
    assert refused.json()["error"]["code"] == "key_spend_cap_reached"
