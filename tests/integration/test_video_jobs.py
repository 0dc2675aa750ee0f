"""Video jobs through the proxy's ASGI app, against moto and the mock upstreams: a hold at
creation, one settle (or release) at the end whoever sees it first, nothing of the prompt or
the video stored, and every refusal in OpenAI's error shape."""

from __future__ import annotations

import asyncio
import time
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any

import httpx
import pytest

from devstack.upstreams import RunningUpstreams
from tests.support.mp4 import duration_seconds
from tests.support.openapi import validate_openai
from tests.support.proxy_asgi import Exchange, call
from tests.support.proxy_world import Customer, charges_in_ledger, usage_records, wallet
from tollgate import clock, keys
from tollgate.money import parse_usd
from tollgate.proxy.app import ProxyApp
from tollgate.settings import get_settings
from tollgate.store.video_jobs import VideoJobs
from tollgate.videos import jobs

VEO = "gemini/veo-3.0-generate-001"
VIDEOS = "/v1/videos"
QUICK = "[[mock:video_ms=200]]"
SLOW = "[[mock:video_ms=600000]]"
FOUR_SECONDS_OF_VEO = parse_usd("1.60")  # 4 s x 0.40 USD at 720p
POLL_INTERVAL = get_settings().video_poll_interval_seconds


class GatewayClock:
    """The gateway's "now" (``tollgate.clock``), moved by the test rather than slept on."""

    def __init__(self, start: datetime) -> None:
        self.now = start

    def __call__(self) -> datetime:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += timedelta(seconds=seconds)


@pytest.fixture
def gateway_clock(monkeypatch) -> GatewayClock:
    frozen = GatewayClock(clock.utcnow())
    monkeypatch.setattr(clock, "utcnow", frozen)
    return frozen


def create(app: ProxyApp, key: str, prompt: str = f"A paper boat {QUICK}", **fields: Any):
    body = {"model": VEO, "prompt": prompt, "seconds": "4", "size": "1280x720", **fields}
    return asyncio.run(call(app, VIDEOS, body, key=key))


def get(app: ProxyApp, key: str, path: str, method: str = "GET") -> Exchange:
    return asyncio.run(call(app, path, None, key=key, method=method))


def until_finished(
    app: ProxyApp, key: str, video_id: str, gateway_clock: GatewayClock
) -> dict[str, Any]:
    """Poll as a client does, one poll interval apart on the gateway's clock (so each GET
    asks the provider), until the job ends."""
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        gateway_clock.advance(POLL_INTERVAL)
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


def status_polls(app: ProxyApp, upstreams: RunningUpstreams, buyer: Customer, video_id: str) -> int:
    """How often the provider was asked how the job stands."""
    job = VideoJobs(app.runtime.hotpath).get(buyer.account_id, video_id)
    assert job is not None and job.operation is not None
    return upstreams.app.count("gemini", f"/v1beta/{job.operation}")


# ------------------------------------------------------------------------- held, then settled


def test_a_video_is_held_at_creation_settled_at_completion_and_downloaded(
    app, customer, gateway_clock
):
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
    done = until_finished(app, buyer.api_key, video["id"], gateway_clock)

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


def test_a_client_polling_in_a_tight_loop_has_the_provider_asked_once_per_interval(
    app, upstreams, customer, gateway_clock
):
    # given a job the provider takes a second and a half to make
    buyer = customer()
    video_id = create(app, buyer.api_key, "A lighthouse at dusk").json()["id"]
    path = f"{VIDEOS}/{video_id}"

    # when its client polls it 20 times in a burst
    burst = [get(app, buyer.api_key, path).json()["status"] for _ in range(20)]

    # then the provider was asked once: the other answers are the job as stored
    assert status_polls(app, upstreams, buyer, video_id) == 1
    assert set(burst) <= {"queued", "in_progress"}

    # when the provider is done, the client's next GET within the interval asks nobody
    until_provider_done(app, buyer, video_id)
    asked = status_polls(app, upstreams, buyer, video_id)
    assert get(app, buyer.api_key, path).json()["status"] in ("queued", "in_progress")
    assert status_polls(app, upstreams, buyer, video_id) == asked

    # but once the interval has passed, the next GET asks again and sees it completed
    gateway_clock.advance(POLL_INTERVAL)
    video = get(app, buyer.api_key, path).json()
    assert video["status"] == "completed" and Decimal(str(video["cost"])) == Decimal("1.60")
    assert status_polls(app, upstreams, buyer, video_id) == asked + 1


def test_downloads_count_in_the_keys_rate_window_and_a_refused_one_asks_no_provider(
    app, upstreams, customer, gateway_clock
):
    # given a key allowed 2 requests a minute whose job is done, at the start of a minute
    # (its creation counted in an earlier one; the polls, reads, count in none)
    buyer = customer(rate_limit={"rpm": 2})
    video_id = create(app, buyer.api_key).json()["id"]
    until_finished(app, buyer.api_key, video_id, gateway_clock)
    now = gateway_clock.now
    gateway_clock.advance(60 - now.second - now.microsecond / 1e6)
    content = f"{VIDEOS}/{video_id}/content"

    # when it downloads the video three times within that minute
    downloads = [get(app, buyer.api_key, content) for _ in range(3)]

    # then the first two stream and the third is refused without asking the provider
    assert [answer.status for answer in downloads[:2]] == [200, 200]
    asked = status_polls(app, upstreams, buyer, video_id)
    refused = get(app, buyer.api_key, content)
    assert downloads[2].status == 429 and refused.status == 429
    assert downloads[2].json()["error"]["code"] == "rate_limit_exceeded"
    assert status_polls(app, upstreams, buyer, video_id) == asked

    # and a minute later it downloads again
    gateway_clock.advance(60)
    assert get(app, buyer.api_key, content).status == 200


def test_twenty_pollers_racing_the_scheduled_function_settle_one_job_once(
    app, upstreams, customer, gateway_clock
):
    # given a job the provider has finished but nobody has asked about yet
    buyer = customer()
    balance_before, _ = wallet(buyer.account_id)
    video_id = create(app, buyer.api_key).json()["id"]
    until_provider_done(app, buyer, video_id)
    asked = status_polls(app, upstreams, buyer, video_id)

    # when 20 clients poll it at once while the scheduled function runs
    async def race() -> list[Any]:
        polls = (call(app, f"{VIDEOS}/{video_id}", None, key=buyer.api_key, method="GET")
                 for _ in range(20))  # fmt: skip
        return await asyncio.gather(*polls, jobs.advance_running(app.runtime, clock.utcnow()))

    answers = asyncio.run(race())

    # then the provider was asked by one poller and the scheduled function at most: the poller
    # that asked saw it completed, the others answered from the job as stored
    statuses = [answer.json()["status"] for answer in answers[:-1]]
    assert "completed" in statuses and set(statuses) <= {"queued", "completed"}
    assert status_polls(app, upstreams, buyer, video_id) - asked <= 2
    # and it was charged exactly once, which every later look shows
    assert get(app, buyer.api_key, f"{VIDEOS}/{video_id}").json()["status"] == "completed"
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
def test_a_failed_or_filtered_video_releases_its_hold(app, customer, gateway_clock, marker, code):
    buyer = customer()
    balance_before, _ = wallet(buyer.account_id)

    created = create(app, buyer.api_key, f"A storm {QUICK} {marker}")
    video = until_finished(app, buyer.api_key, created.json()["id"], gateway_clock)

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
    chat_only = customer(allowed_endpoints=["chat.completions"])

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


def test_an_openai_compatible_provider_runs_the_same_job_with_a_thumbnail(
    app, customer, gateway_clock
):
    buyer = customer()
    created = create(app, buyer.api_key, model="videolab/video-1", seconds="8", size="1920x1080")
    assert Decimal(created.headers["x-tollgate-hold"]) == Decimal("2.40")  # 8 s x 0.30 at 1080p

    video = until_finished(app, buyer.api_key, created.json()["id"], gateway_clock)

    assert video["status"] == "completed" and Decimal(str(video["cost"])) == Decimal("2.40")
    video_file = get(app, buyer.api_key, f"{VIDEOS}/{video['id']}/content")
    assert duration_seconds(video_file.body) == pytest.approx(8.0)
    thumbnail = get(app, buyer.api_key, f"{VIDEOS}/{video['id']}/content?variant=thumbnail")
    assert thumbnail.status == 200 and thumbnail.headers["content-type"].startswith("image/")


def test_a_file_the_provider_no_longer_keeps_is_410_video_expired(app, customer, gateway_clock):
    buyer = customer()
    prompt = f"Ephemeral {QUICK} [[mock:video_retention_ms=1]]"
    created = create(app, buyer.api_key, prompt)
    video = until_finished(app, buyer.api_key, created.json()["id"], gateway_clock)

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
    capped = customer(spend_cap={"amount_usd": "1.00", "period": "day"})

    refused = create(app, capped.api_key)

    assert refused.status == 402
    assert refused.json()["error"]["code"] == "key_spend_cap_reached"
