"""/v1/videos: OpenAI's Videos API over the video jobs (``tollgate.videos.jobs``).

POST takes the hold and writes the job in one transaction, then asks the provider to start
(with retries and fallback, as every route); the answer is the queued job. GET of one job
asks the provider how it stands, at most once per poll interval per job (and may finish it:
settle or release); the list only reads.
DELETE cancels an unfinished job (nothing charged) or removes a finished one. GET .../content
streams the provider's file through, stored nowhere.

A key sees the account's jobs of models it may use; anything else is 404.
"""

from __future__ import annotations

import secrets
from dataclasses import replace
from functools import partial
from typing import Any

from tollgate import clock, key_policy, pricing
from tollgate.catalog import Model
from tollgate.errors import BadRequest, NotFound, TollgateError
from tollgate.proxy.http import Request, Send, send_chunk, send_json, start
from tollgate.proxy.pipeline import ProxyCall
from tollgate.proxy.runtime import Runtime
from tollgate.proxy.threads import blocking
from tollgate.store.hotpath import KeyRecord, OutcomeUnknown
from tollgate.store.video_jobs import CREATING, QUEUED, JobFinished, VideoJob
from tollgate.videos import jobs
from tollgate.videos.request import VideoCreate, parse_body, video_request

DEFAULT_PAGE, MAX_PAGE = 20, 100
VARIANTS = ("video", "thumbnail", "spritesheet")


async def create(runtime: Runtime, request: Request, key: KeyRecord, send: Send) -> None:
    body = parse_body(request.headers.get("content-type", ""), await request.body())
    await VideoCreateCall(runtime, request, key, {}).run(send, body)


async def retrieve(runtime: Runtime, request: Request, key: KeyRecord, send: Send) -> None:
    job = await _job(runtime, request, key)
    job = await jobs.refresh(runtime, job, clock.utcnow())
    await send_json(send, 200, jobs.view(runtime, job), _headers(request))


async def list_jobs(runtime: Runtime, request: Request, key: KeyRecord, send: Send) -> None:
    limit = _limit(request.query.get("limit"))
    order = request.query.get("order", "desc")
    if order not in ("asc", "desc"):
        raise BadRequest("'order' must be 'asc' or 'desc'.", param="order")
    after = request.query.get("after")
    if after is not None and not jobs.plausible_id(after):
        raise BadRequest(f"'after' is not a video id: {after!r}.", param="after")
    page, more = await blocking(
        partial(
            jobs.store(runtime).page,
            key.account_id,
            after=after,
            limit=limit,
            newest_first=order == "desc",
        )
    )
    data = [
        jobs.view(runtime, job) for job in page if key_policy.allows_model(key.policy, job.model)
    ]
    body = {
        "object": "list",
        "data": data,
        "first_id": page[0].job_id if page else None,
        "last_id": page[-1].job_id if page else None,
        "has_more": more,
    }
    await send_json(send, 200, body, _headers(request))


async def delete(runtime: Runtime, request: Request, key: KeyRecord, send: Send) -> None:
    job = await jobs.cancel(runtime, await _job(runtime, request, key), clock.utcnow())
    body = {
        "id": job.job_id,
        "object": "video.deleted",
        "deleted": True,
        "status": jobs.public_status(job),
        "cost": jobs.view(runtime, job)["cost"],
    }
    await send_json(send, 200, body, _headers(request))


async def download(runtime: Runtime, request: Request, key: KeyRecord, send: Send) -> None:
    variant = request.query.get("variant", "video")
    if variant not in VARIANTS:
        raise BadRequest(f"'variant' must be one of {', '.join(VARIANTS)}.", param="variant")
    job = await _job(runtime, request, key)
    # a download asks the provider (how the job stands, then the file): it counts in an rpm
    # key's window like any request that asks a provider, though it takes no hold
    await blocking(runtime.hotpath.count_request, key.key_id, key.policy, clock.utcnow())
    upstream = await jobs.content(runtime, job, variant, clock.utcnow())
    headers = {
        "content-type": upstream.headers.get("content-type", "application/octet-stream"),
        **_headers(request),
    }
    if "content-length" in upstream.headers:
        headers["content-length"] = upstream.headers["content-length"]
    try:
        await start(send, 200, headers)
        async for chunk in upstream.chunks():  # through, never to disk or memory whole
            await send_chunk(send, chunk)
        await send_chunk(send, b"", more=False)
    finally:
        upstream.close()


class VideoCreateCall(ProxyCall):
    endpoint = "videos"
    record_endpoint = "videos"

    async def run(self, send: Send, create: VideoCreate) -> None:
        model = self.model_for(create.model)
        video = video_request(create, model)
        routes = [m for m in self.routes(model) if _makes(m, video.size, video.seconds)]
        amount = max(
            pricing.video_cost(m, _resolution(m, video.size), video.seconds) for m in routes
        )
        job = self._new_job(model, video.seconds, video.size, video.resolution, amount)
        store = jobs.store(self.runtime)
        try:
            await blocking(
                partial(
                    self.runtime.hotpath.hold,
                    job.as_hold(),
                    self.key.policy,
                    self.key,
                    also=(store.new_item(job),),
                )
            )
        except OutcomeUnknown:  # the hold and the job may be written: end the job, if so
            if await blocking(store.get, job.account_id, job.job_id) is not None:
                await jobs.refused(
                    self.runtime, job, status_code=500, code="internal_error", now=clock.utcnow()
                )
            raise
        try:
            chosen, adapter, response = await self.open_upstream(
                routes,
                lambda adapter, m, provider, api_key: adapter.build_video_create(
                    replace(video, resolution=_resolution(m, video.size)),
                    model=m,
                    provider=provider,
                    api_key=api_key,
                ),
            )
            operation = await self.read_answer(response, adapter.parse_video_created)
        except TollgateError as error:
            await self._refused(job, error.status, error.code)
            raise
        except BaseException:
            await self._refused(job, 500, "internal_error")
            raise
        started = replace(
            job,
            status=QUEUED,
            operation=operation,
            served_model=chosen.id,
            route=self.outcome.route,
        )
        try:
            await blocking(store.started, started)
        except JobFinished:  # failed meanwhile (it took the scheduled function minutes)
            started = await jobs.find(self.runtime, job.account_id, job.job_id)
        headers = {**self.headers(hold=job.as_hold())}
        await send_json(send, 200, jobs.view(self.runtime, started), headers)

    def _new_job(
        self, model: Model, seconds: int, size: str, resolution: str, amount: int
    ) -> VideoJob:
        now = clock.utcnow()
        cap = self.key.policy.spend_cap
        return VideoJob(
            job_id=new_job_id(now),
            account_id=self.key.account_id,
            key_id=self.key.key_id,
            request_id=self.request.request_id,
            model=model.id,
            seconds=seconds,
            size=size,
            resolution=resolution,
            status=CREATING,
            created_at=now,
            deadline=now + jobs.DEADLINE,
            hold=amount,
            hold_expires_at=now + jobs.DEADLINE + jobs.HOLD_MARGIN,
            spend_period=key_policy.spend_period(cap, now) if cap is not None else None,
        )

    async def _refused(self, job: VideoJob, status_code: int, code: str) -> None:
        self.settled = True
        await jobs.refused(
            self.runtime, job, status_code=status_code, code=code, now=clock.utcnow()
        )


def new_job_id(now: Any) -> str:
    """``video_`` + the creation time in milliseconds (so ids sort by creation, which is the
    list's order and its cursor) + 80 random bits."""
    return f"video_{int(now.timestamp() * 1000):012x}{secrets.token_hex(10)}"


async def _job(runtime: Runtime, request: Request, key: KeyRecord) -> VideoJob:
    job = await jobs.find(runtime, key.account_id, request.path_params["video_id"])
    if not key_policy.allows_model(key.policy, job.model):
        raise NotFound(f"No video '{job.job_id}'.", code="video_not_found", param="video_id")
    return job


def _makes(model: Model, size: str, seconds: int) -> bool:
    return model.video is not None and size in model.video.sizes and seconds in model.video.seconds


def _resolution(model: Model, size: str) -> str:
    assert model.video is not None
    return model.video.sizes[size]


def _limit(raw: str | None) -> int:
    if raw is None:
        return DEFAULT_PAGE
    if not raw.isdigit() or not 1 <= int(raw) <= MAX_PAGE:
        raise BadRequest(f"'limit' must be between 1 and {MAX_PAGE}.", param="limit")
    return int(raw)


def _headers(request: Request) -> dict[str, str]:
    return {"x-request-id": request.request_id, "x-tollgate-cost": "0.00"}
