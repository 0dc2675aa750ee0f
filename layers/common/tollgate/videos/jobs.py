"""Video jobs: from the hold at creation to the one settle or release at the end.

A job is created by POST /v1/videos (``tollgate.proxy.videos``): the hold and the job's item
in one transaction, then the provider's create call. From then on nothing depends on the
client: ``advance`` polls the provider for one job and, when the provider is done, finishes it
(``VideoJobs.finish``: settle at seconds delivered x price, or release on failure). The
scheduled VideoJobsFunction advances every unfinished job each minute (``advance_running``);
a client's GET advances its own job early, at most once per poll interval however often and
however many clients ask (``refresh``). A job past its deadline is failed and released.

Content (the prompt, the reference image, the video) never touches storage: the job's item
holds metadata, and GET .../content streams the provider's bytes through.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from dataclasses import replace
from datetime import datetime, timedelta
from functools import partial
from typing import Any

from tollgate import pricing
from tollgate.catalog import Model
from tollgate.errors import Conflict, Gone, NotFound, UpstreamError
from tollgate.money import format_usd
from tollgate.observability import logger, metrics
from tollgate.providers import adapter_for
from tollgate.providers.base import ProviderError, UpstreamCall, VideoStatus
from tollgate.proxy.runtime import Runtime
from tollgate.proxy.threads import blocking
from tollgate.proxy.upstream import UpstreamResponse, UpstreamUnreachable
from tollgate.store.hotpath import UsageRecord
from tollgate.store.video_jobs import (
    COMPLETED,
    CREATING,
    FAILED,
    IN_PROGRESS,
    QUEUED,
    VideoJob,
    VideoJobs,
)

DEADLINE = timedelta(minutes=30)  # Veo takes seconds to minutes; a job past this is given up
HOLD_MARGIN = timedelta(minutes=10)  # the hold outlives the deadline: we fail it first
CREATE_GRACE = timedelta(seconds=360)  # the proxy's timeout and a margin
PARALLEL_POLLS = 16
REDIRECTS = frozenset({301, 302, 303, 307, 308})
RUN_BUDGET_SECONDS = 45.0  # the scheduled run stops starting polls then (its timeout is 60 s)

FAILURES = {
    "moderation_blocked": "The provider's safety filters blocked this video; nothing was charged.",
    "generation_failed": "The provider failed to generate this video; nothing was charged.",
    "deadline_exceeded": "The video was not ready within its deadline; nothing was charged.",
    "provider_lost": "The provider no longer knows this job; nothing was charged.",
    "creation_lost": "The job was never confirmed by the provider; nothing was charged.",
    "cancelled": "The job was cancelled before it completed; nothing was charged.",
}


def store(runtime: Runtime) -> VideoJobs:
    return VideoJobs(runtime.hotpath)


async def find(runtime: Runtime, account_id: str, job_id: str) -> VideoJob:
    """The account's job, as stored (another account's id, or a deleted job: 404)."""
    job = await blocking(store(runtime).get, account_id, job_id) if plausible_id(job_id) else None
    if job is None or job.deleted:
        raise NotFound(f"No video '{job_id}'.", code="video_not_found", param="video_id")
    return job


async def refresh(runtime: Runtime, job: VideoJob, now: datetime) -> VideoJob:
    """A client's look at its job: advanced when nobody had the provider asked about it in
    the last poll interval, else the job as stored. A key's rpm does not apply to reads, so
    without this a client polling in a tight loop would poll the provider as fast, on the
    operator's provider key."""
    if job.finished or job.operation is None:  # advance asks the provider nothing then
        return await advance(runtime, job, now)
    since = now - timedelta(seconds=runtime.settings.video_poll_interval_seconds)
    if not await blocking(store(runtime).claim_poll, job, now, since):
        return job
    return await advance(runtime, job, now)


async def advance(runtime: Runtime, job: VideoJob, now: datetime) -> VideoJob:
    """Ask the provider how ``job`` stands and act on it: progress recorded, or the job
    finished (settled when delivered, released when failed or past its deadline). A provider
    that does not answer leaves the job as it was, for the next poll."""
    if job.finished:
        return job
    if job.status == CREATING or job.operation is None:
        if now - job.created_at > CREATE_GRACE:
            return await fail(runtime, job, "creation_lost", now)
        return job
    status = await poll(runtime, job)
    if status is not None and status.state == COMPLETED:
        return await complete(runtime, job, status, now)  # delivered: late or not, it is paid
    if status is not None and status.state == FAILED:
        return await fail(runtime, job, status.error_code or "generation_failed", now)
    if now > job.deadline:
        await _cancel_upstream(runtime, job)
        return await fail(runtime, job, "deadline_exceeded", now)
    if status is None:
        return job
    moved = replace(
        job,
        status=IN_PROGRESS if status.state == IN_PROGRESS else job.status,
        progress=max(job.progress, min(status.progress or 0, 99)),
    )
    if (moved.status, moved.progress) != (job.status, job.progress):
        await blocking(store(runtime).progressed, moved)
    return moved


async def poll(runtime: Runtime, job: VideoJob) -> VideoStatus | None:
    """The provider's view of the job; a job the provider no longer knows (404) is failed
    status; None when the provider did not answer usably (tried again next time)."""
    model = _served(runtime, job)
    provider = runtime.catalog.provider_of(model)
    adapter = adapter_for(provider.kind)
    api_key = await blocking(runtime.provider_keys.for_provider, provider)
    assert job.operation is not None
    call = adapter.build_video_status(job.operation, provider=provider, api_key=api_key)
    try:
        response = await runtime.upstream.send(call)
        body = await response.read()
    except (UpstreamUnreachable, OSError) as error:
        logger.warning("video poll unanswered", extra={"job_id": job.job_id, "error": str(error)})
        return None
    if response.status == 404:
        return VideoStatus(FAILED, error_code="provider_lost")
    try:
        if response.status >= 400:
            raise adapter.error_from(response.status, body, response.headers)
        return adapter.parse_video_status(response.status, body)
    except ProviderError as error:
        logger.warning("video poll failed", extra={"job_id": job.job_id, "status": error.status})
        return None


async def complete(runtime: Runtime, job: VideoJob, status: VideoStatus, now: datetime) -> VideoJob:
    """Settle the delivered video: seconds delivered x the served model's price for the
    resolution, never more than the hold."""
    model = _served(runtime, job)
    delivered = min(status.seconds or job.seconds, job.seconds)  # never billed above the ask
    charge = min(pricing.video_cost(model, job.resolution, delivered), job.hold)
    done = replace(
        job,
        status=COMPLETED,
        progress=100,
        completed_at=now,
        charge=charge,
        delivered_seconds=delivered,
    )
    record = usage_record(done, model, status_code=200, status="settled")
    return await _finish(runtime, done, record, settle=True)


async def fail(runtime: Runtime, job: VideoJob, code: str, now: datetime) -> VideoJob:
    """Release the hold: nothing is charged for a video not delivered."""
    failed = replace(
        job,
        status=FAILED,
        completed_at=now,
        charge=0,
        error_code=code,
        error_message=FAILURES.get(code, FAILURES["generation_failed"]),
    )
    status = "cancelled" if code == "cancelled" else "error"
    record = usage_record(failed, _served(runtime, job), status_code=200, status=status)
    return await _finish(runtime, failed, record, settle=False)


async def refused(
    runtime: Runtime, job: VideoJob, *, status_code: int, code: str, now: datetime
) -> VideoJob:
    """The create call failed (the client is told the error): release the hold, recording the
    error as the API answered it."""
    failed = replace(
        job,
        status=FAILED,
        completed_at=now,
        charge=0,
        error_code=code,
        error_message="The provider refused or failed to start this video; nothing was charged.",
    )
    record = usage_record(failed, _served(runtime, job), status_code=status_code, status="error")
    return await _finish(runtime, failed, record, settle=False)


async def _finish(
    runtime: Runtime, job: VideoJob, record: UsageRecord, *, settle: bool
) -> VideoJob:
    outcome = await blocking(partial(store(runtime).finish, job, record, settle=settle))
    metrics.add_metric(name=f"VideoJobsFinished_{outcome}", unit="Count", value=1)
    if outcome == "applied":
        logger.info(
            "video job finished",
            extra={"job_id": job.job_id, "status": job.status, "charge": job.charge},
        )
        return job
    # someone else finished it (or the reaper took the hold): the stored job is the truth
    stored = await blocking(store(runtime).get, job.account_id, job.job_id)
    return stored or job


async def cancel(runtime: Runtime, job: VideoJob, now: datetime) -> VideoJob:
    """DELETE /v1/videos/{id}: an unfinished job is asked once more how it stands (a video
    the provider finished meanwhile is settled, as it is delivered), else cancelled upstream
    and released; the job then disappears from the account's list."""
    if not job.finished:
        job = await advance(runtime, job, now)
    if not job.finished:
        await _cancel_upstream(runtime, job)
        job = await fail(runtime, job, "cancelled", now)
    elif job.status == COMPLETED:
        await _cancel_upstream(runtime, job)  # the provider's copy goes too, where it can
    await blocking(store(runtime).mark_deleted, job, now)
    return job


async def content(runtime: Runtime, job: VideoJob, variant: str, now: datetime) -> UpstreamResponse:
    """The provider's answer carrying the file, to be streamed through as it arrives."""
    if job.status != COMPLETED:
        raise Conflict(
            f"The video '{job.job_id}' is not ready: its status is {public_status(job)}.",
            code="video_not_ready",
        )
    expires = expires_at(runtime, job)
    if expires is not None and now >= expires:
        raise _expired(job)
    status = await poll(runtime, job)
    if status is None:
        raise _unavailable()
    if status.state != COMPLETED:
        raise _expired(job)
    model = _served(runtime, job)
    provider = runtime.catalog.provider_of(model)
    adapter = adapter_for(provider.kind)
    api_key = await blocking(runtime.provider_keys.for_provider, provider)
    assert job.operation is not None
    try:
        call = adapter.build_video_content(
            job.operation, status, variant=variant, provider=provider, api_key=api_key
        )
    except ProviderError:
        raise _unavailable() from None
    if call is None:
        raise NotFound(
            f"{model.id} makes no '{variant}' for a video.",
            code="variant_not_found",
            param="variant",
        )
    try:
        response = await _follow_once(runtime, await runtime.upstream.send(call))
    except UpstreamUnreachable:
        raise _unavailable() from None
    if response.status in (404, 410):
        await response.read()
        raise _expired(job)
    if response.status >= 400:
        await response.read()
        raise _unavailable()
    return response


async def _follow_once(runtime: Runtime, response: UpstreamResponse) -> UpstreamResponse:
    """A provider may answer a download with a redirect to its storage (Google does): follow
    it once, over HTTPS only, without the provider's key."""
    location = response.headers.get("location", "")
    if response.status not in REDIRECTS or not location.startswith("https://"):
        return response
    await response.read()
    return await runtime.upstream.send(UpstreamCall("GET", location, {}, None, stream=True))


async def advance_running(runtime: Runtime, now: datetime) -> dict[str, int]:
    """VideoJobsFunction: advance every unfinished job (a few at a time), settling the
    finished and failing those past their deadline. Counts by what became of each job."""
    counts = {"advanced": 0, "completed": 0, "failed": 0, "errors": 0}
    found = await blocking(store(runtime).running)
    started = time.monotonic()
    gate = asyncio.Semaphore(PARALLEL_POLLS)

    async def one(account_id: str, job_id: str) -> None:
        async with gate:
            if time.monotonic() - started > RUN_BUDGET_SECONDS:
                return  # the next run, a minute from now, takes it
            try:
                job = await blocking(store(runtime).get, account_id, job_id)
                if job is None or job.finished:
                    return
                after = await advance(runtime, job, now)
            except Exception:
                logger.exception("video job not advanced", extra={"job_id": job_id})
                counts["errors"] += 1
                return
            counts[after.status if after.finished else "advanced"] += 1

    await asyncio.gather(*(one(account, job) for account, job in found))
    logger.info("video jobs", extra=counts)
    return counts


def usage_record(job: VideoJob, model: Model, *, status_code: int, status: str) -> UsageRecord:
    """The job's usage record: keyed by its creating request, at its creation time (where its
    hold is), latency from creation to the end."""
    ended = job.completed_at or job.created_at
    latency = max(0, int((ended - job.created_at).total_seconds() * 1000))
    return UsageRecord(
        request_id=job.request_id,
        account_id=job.account_id,
        key_id=job.key_id,
        model=model.id,
        requested_model=job.model,
        provider=model.provider,
        upstream_model=model.upstream_id,
        route=job.route,
        endpoint="videos",
        stream=False,
        status_code=status_code,
        status=status,
        created_at=job.created_at,
        error_type=job.error_code,
        latency_ms=latency,
        upstream_latency_ms=latency,
        hold=job.hold,
        charge=job.charge or 0,
        video_seconds=job.delivered_seconds,
    )


def public_status(job: VideoJob) -> str:
    return QUEUED if job.status == CREATING else job.status


def expires_at(runtime: Runtime, job: VideoJob) -> datetime | None:
    """When the provider's copy of a completed video is gone (our content route: 410)."""
    model = runtime.catalog.model(job.served_model or job.model)
    if job.completed_at is None or job.status != COMPLETED or model is None or not model.video:
        return None
    return job.completed_at + timedelta(hours=model.video.retention_hours)


def view(runtime: Runtime, job: VideoJob) -> dict[str, Any]:
    """The job as OpenAI's Video object, with the gateway's money on it: ``hold`` (USD held
    for it until it ends) and ``cost`` (what it was charged, once it ended)."""
    expires = expires_at(runtime, job)
    error = None
    if job.status == FAILED:
        error = {"code": job.error_code or "generation_failed", "message": job.error_message or ""}
    return {
        "id": job.job_id,
        "object": "video",
        "model": job.model,
        "status": public_status(job),
        "progress": job.progress,
        "created_at": int(job.created_at.timestamp()),
        "completed_at": int(job.completed_at.timestamp()) if job.completed_at else None,
        "expires_at": int(expires.timestamp()) if expires else None,
        "seconds": str(job.delivered_seconds or job.seconds),
        "size": job.size,
        "prompt": None,  # content: never kept
        "remixed_from_video_id": None,
        "error": error,
        "request_id": job.request_id,
        "hold": float(format_usd(job.hold)),
        "cost": float(format_usd(job.charge)) if job.finished and job.charge is not None else None,
    }


async def _cancel_upstream(runtime: Runtime, job: VideoJob) -> None:
    """Best effort: a provider that cannot cancel (Gemini) or does not answer is left be."""
    if job.operation is None:
        return
    model = _served(runtime, job)
    provider = runtime.catalog.provider_of(model)
    adapter = adapter_for(provider.kind)
    with contextlib.suppress(Exception):
        api_key = await blocking(runtime.provider_keys.for_provider, provider)
        call = adapter.build_video_cancel(job.operation, provider=provider, api_key=api_key)
        if call is not None:
            await (await runtime.upstream.send(call)).read()


def _served(runtime: Runtime, job: VideoJob) -> Model:
    """The catalog model that took the job (the asked one until a route took it)."""
    model = runtime.catalog.model(job.served_model or job.model)
    if model is None:  # removed from the catalog since: the job still ends, priced as held
        raise NotFound(f"The model '{job.served_model or job.model}' is no longer served.")
    return model


def plausible_id(job_id: str) -> bool:
    return job_id.startswith("video_") and len(job_id) <= 64 and job_id[6:].isalnum()


def _expired(job: VideoJob) -> Gone:
    return Gone(
        f"The video '{job.job_id}' is no longer available: the provider keeps a generated "
        "file for a limited time, and the gateway stores none.",
        code="video_expired",
    )


def _unavailable() -> UpstreamError:
    return UpstreamError("The provider could not serve the video right now; try again.")
