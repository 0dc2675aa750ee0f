"""Video jobs on devstack with the official OpenAI SDK: held at creation, polled to completion,
downloaded as a playable MP4, charged exactly its usage record's charge; and a job nobody
polls, settled by `devstack invoke VideoJobsFunction`."""

from __future__ import annotations

import io
import json
import struct
import subprocess
import sys
import time
import zlib
from decimal import Decimal

import httpx
import openai
import pytest

from tests.e2e.conftest import ROOT
from tests.e2e.stack import COMMAND_TIMEOUT_S, HTTP_TIMEOUT_S, new_customer, table
from tests.support.mp4 import duration_seconds

pytestmark = [
    pytest.mark.e2e,
    # the SDK marks its Videos methods deprecated since OpenAI's own Videos API shut down
    pytest.mark.filterwarnings("ignore::DeprecationWarning"),
]

VEO = "gemini/veo-3.0-generate-001"


def wallet_usd(devstack, customer) -> dict[str, Decimal]:
    answer = httpx.get(
        f"{devstack['TOLLGATE_URL']}/v1/wallet",
        headers={"Authorization": f"Bearer {customer.admin_key}"},
        timeout=HTTP_TIMEOUT_S,
    ).json()
    return {name: Decimal(answer[f"{name}_usd"]) for name in ("balance", "held", "available")}


def test_a_veo_video_with_the_openai_sdk_is_held_polled_downloaded_and_charged(devstack):
    # given a customer with 5 USD and the official SDK
    customer = new_customer(devstack, credit_usd="5.00")
    client = openai.OpenAI(base_url=devstack["OPENAI_BASE_URL"], api_key=customer.api_key)

    # when they create a 4-second Veo video
    video = client.videos.create(
        model=VEO, prompt="A paper boat [[mock:video_ms=500]]", seconds="4", size="1280x720"
    )

    # then its hold is held
    assert video.status == "queued" and video.model == VEO
    assert wallet_usd(devstack, customer) == {
        "balance": Decimal("5.00"),
        "held": Decimal("1.60"),
        "available": Decimal("3.40"),
    }

    # when they poll it and download it
    done = client.videos.poll(video.id, poll_interval_ms=200)
    content = client.videos.download_content(done.id)

    # then it is a playable four-second MP4, charged exactly its usage record's charge
    assert done.status == "completed"
    assert duration_seconds(content.read()) == pytest.approx(4.0)
    record = httpx.get(
        f"{devstack['TOLLGATE_URL']}/v1/usage/{done.model_extra['request_id']}",
        headers={"Authorization": f"Bearer {customer.admin_key}"},
        timeout=HTTP_TIMEOUT_S,
    ).json()
    assert record["charge_usd"] == "1.60" and record["endpoint"] == "videos"
    assert wallet_usd(devstack, customer) == {
        "balance": Decimal("3.40"),
        "held": Decimal("0"),
        "available": Decimal("3.40"),
    }
    assert [v.id for v in client.videos.list()] == [done.id]


def test_an_openai_compatible_provider_takes_a_reference_image_as_the_sdk_uploads_it(devstack):
    customer = new_customer(devstack, credit_usd="5.00")
    client = openai.OpenAI(base_url=devstack["OPENAI_BASE_URL"], api_key=customer.api_key)
    png = one_pixel_png()

    video = client.videos.create(
        model="videolab/video-1",
        prompt="The logo, spinning [[mock:video_ms=300]]",
        seconds="4",
        size="1280x720",
        input_reference=("logo.png", io.BytesIO(png), "image/png"),
    )
    done = client.videos.poll(video.id, poll_interval_ms=200)

    assert done.status == "completed" and done.model_extra["cost"] == 0.4  # 4 s x 0.10
    thumbnail = client.videos.download_content(done.id, variant="thumbnail")
    assert thumbnail.response.headers["content-type"].startswith("image/")


def test_a_job_nobody_polls_is_settled_by_the_scheduled_function(devstack, tmp_path):
    customer = new_customer(devstack, credit_usd="5.00")
    created = httpx.post(
        f"{devstack['OPENAI_BASE_URL']}/videos",
        headers={"Authorization": f"Bearer {customer.api_key}"},
        json={"model": VEO, "prompt": "Unwatched [[mock:video_ms=100]]", "seconds": 4},
        timeout=HTTP_TIMEOUT_S,
    ).json()
    jobs = table(devstack, "METADATA_TABLE")
    item_key = {"pk": f"ACCOUNT#{customer.account_id}", "sk": f"VIDEO#{created['id']}"}

    deadline = time.monotonic() + 60
    while jobs.get_item(Key=item_key, ConsistentRead=True)["Item"]["status"] != "completed":
        assert time.monotonic() < deadline, "the scheduled function never settled the job"
        counts = invoke_video_jobs(devstack)
        assert counts["errors"] == 0

    assert wallet_usd(devstack, customer) == {
        "balance": Decimal("3.40"),
        "held": Decimal("0"),
        "available": Decimal("3.40"),
    }


def one_pixel_png() -> bytes:
    def chunk(kind: bytes, data: bytes) -> bytes:
        body = kind + data
        return struct.pack(">I", len(data)) + body + struct.pack(">I", zlib.crc32(body))

    header = struct.pack(">IIBBBBB", 1, 1, 8, 2, 0, 0, 0)  # 1x1, 8-bit RGB
    pixels = zlib.compress(b"\x00\xff\x80\x00")
    chunks = chunk(b"IHDR", header) + chunk(b"IDAT", pixels) + chunk(b"IEND", b"")
    return b"\x89PNG\r\n\x1a\n" + chunks


def invoke_video_jobs(devstack) -> dict[str, int]:
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "devstack",
            "--state-dir",
            devstack["STATE_DIR"],
            "invoke",
            "VideoJobsFunction",
            "--event",
            str(ROOT / "events" / "video_jobs_scheduled.json"),
            "--now",
            time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=COMMAND_TIMEOUT_S,
        check=True,
    )
    return json.loads(done.stdout)
