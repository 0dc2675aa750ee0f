"""The video jobs both mock providers run: a state machine driven by elapsed time.

A job is ``queued`` for the first fifth of its duration, then ``in_progress`` with its
progress rising with the elapsed time, then ends ``done``, ``failed`` (fault
``video_failed``) or ``filtered`` (fault ``moderation``). A done job's file (``mp4.mp4_video``
of the job's seconds) can be fetched until ``retention_ms`` after the end, then it is gone.
Jobs keep no prompt: only what the state machine needs.
"""

from __future__ import annotations

import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass

from devstack.upstreams.controls import Controls

DEFAULT_DURATION_MS = 1500
DEFAULT_RETENTION_MS = 2 * 24 * 3600 * 1000
_QUEUED_SHARE = 0.2
FAULTS = {"video_failed": "failed", "moderation": "filtered"}


@dataclass(frozen=True)
class Job:
    id: str
    model: str
    seconds: int
    size: str
    created_at: float  # time.time() of the creation
    duration_ms: int
    retention_ms: int
    outcome: str  # "done", "failed" or "filtered"

    @property
    def ends_at(self) -> float:
        return self.created_at + self.duration_ms / 1000

    @property
    def expires_at(self) -> float:
        return self.ends_at + self.retention_ms / 1000

    def state(self, now: float) -> str:
        """The state: "queued", "in_progress", or the outcome once the duration has elapsed."""
        elapsed_ms = (now - self.created_at) * 1000
        if elapsed_ms >= self.duration_ms:
            return self.outcome
        return "queued" if elapsed_ms < self.duration_ms * _QUEUED_SHARE else "in_progress"

    def progress(self, now: float) -> int:
        """0 while queued, rising to 99 while in progress, 100 once ended."""
        state = self.state(now)
        if state == "queued":
            return 0
        if state != "in_progress":
            return 100
        share = ((now - self.created_at) * 1000 / self.duration_ms - _QUEUED_SHARE) / (
            1 - _QUEUED_SHARE
        )
        return max(1, min(99, int(share * 100)))

    def file_available(self, now: float) -> bool:
        return self.state(now) == "done" and now < self.expires_at


class VideoJobs:
    """Jobs in memory by id, shared by the server thread and tests (hence the lock)."""

    def __init__(self, clock: Callable[[], float] = time.time) -> None:
        self.clock = clock
        self._jobs: dict[str, Job] = {}
        self._lock = threading.Lock()

    def create(
        self, *, prefix: str, model: str, seconds: int, size: str, controls: Controls
    ) -> Job:
        job = Job(
            id=prefix + uuid.uuid4().hex,
            model=model,
            seconds=seconds,
            size=size,
            created_at=self.clock(),
            duration_ms=DEFAULT_DURATION_MS if controls.video_ms is None else controls.video_ms,
            retention_ms=(
                DEFAULT_RETENTION_MS
                if controls.video_retention_ms is None
                else controls.video_retention_ms
            ),
            outcome=FAULTS.get(controls.fault or "", "done"),
        )
        with self._lock:
            self._jobs[job.id] = job
        return job

    def get(self, job_id: str) -> Job | None:
        with self._lock:
            return self._jobs.get(job_id)

    def delete(self, job_id: str) -> Job | None:
        with self._lock:
            return self._jobs.pop(job_id, None)
