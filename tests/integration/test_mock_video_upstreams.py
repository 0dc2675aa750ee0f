"""The mock upstreams' video jobs, driven over HTTP: Gemini's Veo long-running operations with
httpx, OpenAI's Videos API with the openai SDK itself (multipart, as it sends it)."""

from __future__ import annotations

import time
import warnings
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import openai
import pytest

from devstack.up import write_local_catalog
from devstack.upstreams import RunningUpstreams, start_upstreams
from tests.support.mp4 import duration_seconds
from tollgate.catalog import load_catalog

KEYS = {"openai": "sk-mock-openai", "anthropic": "sk-ant-mock", "gemini": "AIza-mock-gemini"}
VEO = "veo-3.0-generate-001"
FAST = "[[mock:video_ms=200]]"
DEADLINE_S = 30
RUNNING = ("queued", "in_progress")


@pytest.fixture(scope="module")
def upstreams() -> Iterator[RunningUpstreams]:
    running = start_upstreams(KEYS, port=0)
    yield running
    running.stop()


@pytest.fixture(scope="module")
def gemini(upstreams: RunningUpstreams) -> Iterator[httpx.Client]:
    headers = {"x-goog-api-key": KEYS["gemini"]}
    with httpx.Client(base_url=upstreams.base_urls["gemini"], headers=headers) as client:
        yield client


@pytest.fixture(scope="module")
def oai(upstreams: RunningUpstreams) -> openai.OpenAI:
    return openai.OpenAI(
        base_url=upstreams.base_urls["openai"], api_key=KEYS["openai"], max_retries=0
    )


@pytest.fixture(autouse=True)
def _sdk_videos_are_deprecated() -> Iterator[None]:
    # The SDK marks its videos methods deprecated (OpenAI's own Videos API shut down).
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        yield


def poll(fetch: Callable[[], Any], finished: Callable[[Any], bool]) -> list[Any]:
    """Every answer of ``fetch`` until one is ``finished`` (within DEADLINE_S)."""
    seen = [fetch()]
    deadline = time.monotonic() + DEADLINE_S
    while not finished(seen[-1]):
        assert time.monotonic() < deadline, f"still running: {seen[-1]}"
        time.sleep(0.02)
        seen.append(fetch())
    return seen


def veo_create(gemini: httpx.Client, prompt: str, seconds: int = 4) -> str:
    body = {
        "instances": [{"prompt": prompt}],
        "parameters": {"aspectRatio": "16:9", "durationSeconds": seconds, "sampleCount": 1},
    }
    created = gemini.post(f"/v1beta/models/{VEO}:predictLongRunning", json=body)
    assert created.status_code == 200, created.text
    return str(created.json()["name"])


def veo_wait(gemini: httpx.Client, name: str) -> list[dict[str, Any]]:
    return poll(lambda: gemini.get(f"/v1beta/{name}").json(), lambda op: op["done"])


# -- Gemini (Veo) -----------------------------------------------------------------------


def test_gemini_veo_operation_runs_to_a_downloadable_mp4_of_the_requested_length(gemini, upstreams):
    # given a Veo job for a 6-second clip
    name = veo_create(gemini, f"A lighthouse at dusk {FAST}", seconds=6)
    assert name.startswith(f"models/{VEO}/operations/")

    # when it is polled until done
    operations = veo_wait(gemini, name)

    # then it ran with progress, then finished with a video on the mock's own host
    running = [op for op in operations if not op["done"]]
    assert all(0 <= op["metadata"]["progressPercent"] < 100 for op in running)
    samples = operations[-1]["response"]["generateVideoResponse"]["generatedSamples"]
    uri = samples[0]["video"]["uri"]
    assert uri.startswith(upstreams.base_urls["gemini"] + "/v1beta/files/")
    video = gemini.get(uri)
    assert video.status_code == 200 and video.headers["content-type"] == "video/mp4"
    assert duration_seconds(video.content) == 6
    assert upstreams.app.count_model("gemini", VEO) >= 1


@pytest.mark.parametrize(
    ("marker", "check"),
    [
        ("moderation", lambda op: op["response"]["generateVideoResponse"]["raiMediaFilteredCount"]),
        ("video_failed", lambda op: op["error"]["code"] == 13 and op["error"]["message"]),
    ],
)
def test_gemini_veo_markers_end_the_operation_filtered_or_failed(gemini, marker, check):
    name = veo_create(gemini, f"A storm [[mock:fault={marker},video_ms=100]]")

    done = veo_wait(gemini, name)[-1]

    assert check(done)
    assert "generatedSamples" not in str(done)


def test_gemini_veo_file_is_gone_after_the_retention(gemini):
    # given a job whose file is kept 0 ms after it is done
    name = veo_create(gemini, "A short life [[mock:video_ms=100,video_retention_ms=0]]")
    done = veo_wait(gemini, name)[-1]

    # when its video is fetched
    uri = done["response"]["generateVideoResponse"]["generatedSamples"][0]["video"]["uri"]
    gone = gemini.get(uri)

    # then it is a 404 in Gemini's error shape
    assert gone.status_code == 404 and gone.json()["error"]["status"] == "NOT_FOUND"


def test_gemini_veo_needs_the_key_and_knows_only_its_operations(gemini, upstreams):
    name = veo_create(gemini, f"A key test {FAST}")
    base = upstreams.base_urls["gemini"]
    wrong = {"x-goog-api-key": "AIza-wrong"}

    assert httpx.get(f"{base}/v1beta/{name}", headers=wrong).status_code == 401
    assert httpx.post(f"{base}/v1beta/models/{VEO}:predictLongRunning", json={}).status_code == 401
    unknown = gemini.get(f"/v1beta/models/{VEO}/operations/nope")
    assert unknown.status_code == 404 and unknown.json()["error"]["code"] == 404
    no_prompt = gemini.post(f"/v1beta/models/{VEO}:predictLongRunning", json={"instances": []})
    assert no_prompt.status_code == 400


# -- OpenAI Videos API ------------------------------------------------------------------


def test_openai_video_created_with_the_sdk_runs_to_content_then_is_deleted(oai, upstreams):
    # given a video created by the SDK, multipart with a reference image
    created = oai.videos.create(
        prompt=f"A paper boat {FAST}",
        model="sora-2",
        seconds="8",
        size="1280x720",
        input_reference=("reference.png", b"\x89PNG\r\n\x1a\nnot really", "image/png"),
    )
    assert created.id.startswith("video_") and created.status == "queued"
    assert (created.seconds, created.size, created.prompt) == ("8", "1280x720", None)

    # when it is retrieved until completed
    videos = poll(lambda: oai.videos.retrieve(created.id), lambda v: v.status == "completed")

    # then its content is an 8-second MP4 and it has a PNG thumbnail
    assert videos[-1].progress == 100 and videos[-1].error is None
    assert duration_seconds(oai.videos.download_content(created.id).read()) == 8
    thumbnail = oai.videos.download_content(created.id, variant="thumbnail").read()
    assert thumbnail.startswith(b"\x89PNG")

    # and once deleted it is gone
    deleted = oai.videos.delete(created.id)
    assert deleted.deleted and deleted.object == "video.deleted"
    with pytest.raises(openai.NotFoundError):
        oai.videos.retrieve(created.id)
    assert upstreams.app.count_model("openai", "sora-2") == 1


def test_openai_video_moderation_marker_fails_the_job_with_its_code(oai):
    created = oai.videos.create(prompt="A storm [[mock:fault=moderation,video_ms=100]]")

    ended = poll(lambda: oai.videos.retrieve(created.id), lambda v: v.status not in RUNNING)[-1]

    assert ended.status == "failed"
    assert ended.error is not None and ended.error.code == "moderation_blocked"
    with pytest.raises(openai.NotFoundError):
        oai.videos.download_content(created.id)


@pytest.mark.parametrize(
    ("headers", "body", "status", "param"),
    [
        ({}, {"json": {"model": "sora-2"}}, 400, "prompt"),
        ({}, {"json": {"prompt": "x", "seconds": "four"}}, 400, "seconds"),
        (
            {"content-type": "multipart/form-data; boundary=x"},
            {"content": b"not multipart"},
            400,
            None,
        ),
        ({"authorization": "Bearer sk-wrong"}, {"json": {"prompt": "x"}}, 401, None),
    ],
)
def test_openai_video_bad_requests_get_openais_error_shape(upstreams, headers, body, status, param):
    answer = httpx.post(
        upstreams.base_urls["openai"] + "/videos",
        headers={"authorization": f"Bearer {KEYS['openai']}", **headers},
        **body,
    )

    assert answer.status_code == status
    assert answer.json()["error"]["param"] == param and answer.json()["error"]["message"]


def test_devstack_videolab_provider_is_a_keyless_openai_compatible_video_server(
    upstreams, tmp_path: Path
):
    # given devstack's local catalog on the mock upstreams
    catalog_path = tmp_path / "catalog.yaml"
    write_local_catalog(catalog_path, upstreams.base_urls)
    catalog = load_catalog(catalog_path)
    model = catalog.model("videolab/video-1")
    provider = catalog.providers[model.provider]
    assert (provider.kind, provider.secret) == ("openai_compatible", None)

    # when a video is created there without any key
    created = httpx.post(
        f"{provider.base_url}/videos",
        json={"model": model.upstream_id, "prompt": "A keyless clip", "seconds": "4"},
    )

    # then the mock serves it
    assert created.status_code == 200 and created.json()["status"] == "queued"
    assert upstreams.app.count_model("openai_compatible", "video-1") == 1
