"""Video jobs in MetadataTable, over the lean AWS client (the proxy's and VideoJobsFunction's).

pk ``ACCOUNT#<id>``, sk ``VIDEO#<job id>``: metadata only (model, seconds, size, status,
progress, times, hold, charge, the provider's operation id, when a client's GET last had the
provider asked: ``polled_at``), never the prompt or the video.
An unfinished job is also in the by_request_and_day index's ``VIDEOS#RUNNING`` partition,
sorted by deadline, which is how VideoJobsFunction finds every job to advance; finishing a job
removes it from there.

A job finishes once: its item's status moves from unfinished to ``completed`` or ``failed``
in the very transaction that settles or releases its hold (``finish``), on condition that it
is still unfinished and the hold still there. Of two that race to finish it (the scheduled
function and a client's poll), one applies and the other writes nothing.
"""

from __future__ import annotations

import contextlib
import uuid
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any

from tollgate.aws import AwsError
from tollgate.aws.dynamodb_json import deserialize_item, serialize, serialize_item
from tollgate.errors import InternalError
from tollgate.store import layout
from tollgate.store.hotpath import Hold, HotPath, OutcomeUnknown, UsageRecord

CREATING, QUEUED, IN_PROGRESS = "creating", "queued", "in_progress"
COMPLETED, FAILED = "completed", "failed"
UNFINISHED = (CREATING, QUEUED, IN_PROGRESS)
JOB_RETENTION = layout.USAGE_RETENTION + layout.USAGE_TTL_GRACE


@dataclass(frozen=True, slots=True)
class VideoJob:
    """A video job's metadata as stored: never its prompt or its video."""

    job_id: str
    account_id: str
    key_id: str
    request_id: str  # the creating request's: its hold and its usage record are keyed by it
    model: str  # as the client asked
    seconds: int
    size: str
    resolution: str
    status: str
    created_at: datetime
    deadline: datetime
    hold: int
    hold_expires_at: datetime
    spend_period: str | None = None
    served_model: str | None = None  # the route that took the job
    route: int = 0
    operation: str | None = None  # the provider's id of the job
    progress: int = 0
    completed_at: datetime | None = None
    charge: int | None = None
    delivered_seconds: int | None = None
    error_code: str | None = None
    error_message: str | None = None
    deleted: bool = False

    @property
    def finished(self) -> bool:
        return self.status not in UNFINISHED

    def as_hold(self) -> Hold:
        """The hold the job took, as the settle and the release find it."""
        return Hold(
            request_id=self.request_id,
            account_id=self.account_id,
            key_id=self.key_id,
            model=self.model,
            amount=self.hold,
            created_at=self.created_at,
            expires_at=self.hold_expires_at,
            endpoint="videos",
            spend_period=self.spend_period,
        )


class JobFinished(Exception):
    """Another caller finished the job first."""


class VideoJobs:
    def __init__(self, hotpath: HotPath) -> None:
        self.hotpath = hotpath
        self.table = hotpath.tables.metadata

    def new_item(self, job: VideoJob) -> dict[str, Any]:
        """The job's Put, for the hold's transaction (``HotPath.hold(also=...)``)."""
        return {
            "Put": {
                "TableName": self.table,
                "Item": serialize_item(_item(job)),
                "ConditionExpression": "attribute_not_exists(pk)",
            }
        }

    def get(self, account_id: str, job_id: str) -> VideoJob | None:
        answer = self.hotpath.call(
            "GetItem",
            {
                "TableName": self.table,
                "Key": _key(account_id, job_id),
                "ConsistentRead": True,
            },
        )
        return _job(deserialize_item(answer["Item"])) if "Item" in answer else None

    def page(
        self, account_id: str, *, after: str | None, limit: int, newest_first: bool
    ) -> tuple[list[VideoJob], bool]:
        """A page of the account's jobs (deleted ones left out) and whether more follow."""
        query: dict[str, Any] = {
            "TableName": self.table,
            "KeyConditionExpression": "pk = :pk AND begins_with(sk, :videos)",
            "FilterExpression": "attribute_not_exists(deleted_at)",
            "ExpressionAttributeValues": {
                ":pk": serialize(layout.account_pk(account_id)),
                ":videos": serialize("VIDEO#"),
            },
            "ScanIndexForward": not newest_first,
            "ConsistentRead": True,
        }
        if after is not None:
            query["ExclusiveStartKey"] = _key(account_id, after)
        jobs: list[VideoJob] = []
        while True:
            query["Limit"] = limit + 1 - len(jobs)
            answer = self.hotpath.call("Query", query)
            jobs += [_job(deserialize_item(item)) for item in answer.get("Items", [])]
            if len(jobs) > limit or "LastEvaluatedKey" not in answer:
                return jobs[:limit], len(jobs) > limit
            query["ExclusiveStartKey"] = answer["LastEvaluatedKey"]

    def running(self, page_size: int = 100) -> list[tuple[str, str]]:
        """(account id, job id) of every unfinished job, nearest deadline first. The index is
        eventually consistent: a job just finished may still be listed (its item says so)."""
        query: dict[str, Any] = {
            "TableName": self.table,
            "IndexName": "by_request_and_day",
            "KeyConditionExpression": "gsi1pk = :running",
            "ExpressionAttributeValues": {":running": serialize(layout.VIDEOS_RUNNING)},
            "Limit": page_size,
        }
        found: list[tuple[str, str]] = []
        while True:
            answer = self.hotpath.call("Query", query)
            for item in answer.get("Items", []):
                keys = deserialize_item(item)
                account = keys["pk"].removeprefix("ACCOUNT#")
                found.append((account, keys["sk"].removeprefix("VIDEO#")))
            if "LastEvaluatedKey" not in answer:
                return found
            query["ExclusiveStartKey"] = answer["LastEvaluatedKey"]

    def started(self, job: VideoJob) -> None:
        """The provider accepted the job: its operation id and the route that took it."""
        self._update(
            job,
            "SET #status = :queued, operation = :operation, served_model = :served, route = :route",
            {
                ":queued": QUEUED,
                ":operation": job.operation,
                ":served": job.served_model,
                ":route": job.route,
                ":creating": CREATING,
            },
            "#status = :creating",
        )

    def progressed(self, job: VideoJob) -> None:
        """A poll's news of an unfinished job (status and progress); nothing once finished."""
        with contextlib.suppress(JobFinished):
            self._update(
                job,
                "SET #status = :status, progress = :progress",
                {
                    ":status": job.status,
                    ":progress": job.progress,
                    ":queued": QUEUED,
                    ":in_progress": IN_PROGRESS,
                },
                "#status IN (:queued, :in_progress)",
            )

    def claim_poll(self, job: VideoJob, at: datetime, since: datetime) -> bool:
        """May the caller ask the provider about the unfinished ``job`` now? Yes when nobody
        has since ``since``: the job's ``polled_at`` then moves to ``at``, in one conditional
        write, so of callers racing within an interval one is told yes and the others answer
        from the stored job."""
        update = {
            "TableName": self.table,
            "Key": _key(job.account_id, job.job_id),
            "UpdateExpression": "SET polled_at = :at",
            "ConditionExpression": "#status IN (:queued, :in_progress) AND "
            "(attribute_not_exists(polled_at) OR polled_at <= :since)",
            "ExpressionAttributeNames": {"#status": "status"},
            "ExpressionAttributeValues": {
                ":at": serialize(layout.timestamp(at)),
                ":since": serialize(layout.timestamp(since)),
                ":queued": serialize(QUEUED),
                ":in_progress": serialize(IN_PROGRESS),
            },
        }
        try:
            self.hotpath.dynamodb.call("UpdateItem", update)
        except AwsError as error:
            if error.code == "ConditionalCheckFailedException":
                return False
            raise InternalError("The request could not be completed; try again.") from error
        return True

    def mark_deleted(self, job: VideoJob, at: datetime) -> None:
        self._update(job, "SET deleted_at = :at", {":at": layout.timestamp(at)}, None)

    def finish(self, job: VideoJob, usage: UsageRecord, *, settle: bool) -> str:
        """Move the unfinished ``job`` (as it should now stand: completed or failed, its charge
        and times set) to its end and, in the same transaction, settle its hold at
        ``usage.charge`` (``settle``) or release it with ``usage`` as the record. Returns
        ``applied``, ``finished`` (another caller finished it first: nothing written) or
        ``hold_gone`` (the reaper released the hold past its expiry: the job is failed,
        nothing charged, the reaper's record stands)."""
        hold = job.as_hold()
        if settle:
            money = self.hotpath.settle_items(hold, usage, spend_period=job.spend_period, tpm=False)
        else:
            money = self.hotpath.release_items(hold, usage)
        items = [self._finishing(job), *money]
        token = f"video:{job.job_id}:{uuid.uuid4().hex}"  # racers must not share a token
        try:
            self.hotpath.transact(token, items, {0: JobFinished(), 1: _HoldGone()})
        except JobFinished:
            return "applied" if self.hotpath.recorded(usage) is True else "finished"
        except _HoldGone:
            self._fail_without_hold(job)
            return "hold_gone"
        except OutcomeUnknown:
            if self.hotpath.recorded(usage) is True:
                return "applied"
            raise
        return "applied"

    def _finishing(self, job: VideoJob) -> dict[str, Any]:
        values: dict[str, Any] = {
            ":status": job.status,
            ":progress": job.progress,
            ":at": layout.timestamp(job.completed_at or job.created_at),
            ":charge": job.charge or 0,
            ":creating": CREATING,
            ":queued": QUEUED,
            ":in_progress": IN_PROGRESS,
        }
        update = "SET #status = :status, progress = :progress, completed_at = :at, charge = :charge"
        for name in ("delivered_seconds", "error_code", "error_message"):
            if getattr(job, name) is not None:
                update += f", {name} = :{name}"
                values[f":{name}"] = getattr(job, name)
        return {
            "Update": {
                "TableName": self.table,
                "Key": _key(job.account_id, job.job_id),
                "UpdateExpression": update + " REMOVE gsi1pk, gsi1sk",
                "ConditionExpression": "#status IN (:creating, :queued, :in_progress)",
                "ExpressionAttributeNames": {"#status": "status"},
                "ExpressionAttributeValues": {k: serialize(v) for k, v in values.items()},
            }
        }

    def _fail_without_hold(self, job: VideoJob) -> None:
        failed = replace(
            job,
            status=FAILED,
            charge=0,
            error_code="expired",
            error_message="The job outlived its hold and was given up; nothing was charged.",
        )
        with contextlib.suppress(JobFinished):
            self.hotpath.transact(
                f"video-expired:{job.job_id}", [self._finishing(failed)], {0: JobFinished()}
            )

    def _update(
        self, job: VideoJob, expression: str, values: dict[str, Any], condition: str | None
    ) -> None:
        update: dict[str, Any] = {
            "TableName": self.table,
            "Key": _key(job.account_id, job.job_id),
            "UpdateExpression": expression,
            "ExpressionAttributeValues": {k: serialize(v) for k, v in values.items()},
        }
        if "#status" in expression or (condition and "#status" in condition):
            update["ExpressionAttributeNames"] = {"#status": "status"}
        if condition:
            update["ConditionExpression"] = condition
        self.hotpath.transact(
            f"video-update:{uuid.uuid4().hex}", [{"Update": update}], {0: JobFinished()}
        )


class _HoldGone(Exception):
    """The job's hold is no longer there."""


def _key(account_id: str, job_id: str) -> dict[str, Any]:
    return {
        "pk": {"S": layout.account_pk(account_id)},
        "sk": {"S": layout.video_sk(job_id)},
    }


def _item(job: VideoJob) -> dict[str, Any]:
    item: dict[str, Any] = {
        "pk": layout.account_pk(job.account_id),
        "sk": layout.video_sk(job.job_id),
        "job_id": job.job_id,
        "account_id": job.account_id,
        "key_id": job.key_id,
        "request_id": job.request_id,
        "model": job.model,
        "seconds": job.seconds,
        "size": job.size,
        "resolution": job.resolution,
        "status": job.status,
        "progress": job.progress,
        "created_at": layout.timestamp(job.created_at),
        "deadline": layout.timestamp(job.deadline),
        "hold": job.hold,
        "hold_expires_at": layout.timestamp(job.hold_expires_at),
        "gsi1pk": layout.VIDEOS_RUNNING,
        "gsi1sk": f"{layout.timestamp(job.deadline)}#{job.job_id}",
        "ttl": int((job.created_at + JOB_RETENTION).timestamp()),
    }
    if job.spend_period is not None:
        item["spend_period"] = job.spend_period
    return item


def _job(item: dict[str, Any]) -> VideoJob:
    def at(name: str) -> datetime | None:
        return layout.parse_timestamp(item.get(name))

    return VideoJob(
        job_id=item["job_id"],
        account_id=item["account_id"],
        key_id=item["key_id"],
        request_id=item["request_id"],
        model=item["model"],
        seconds=int(item["seconds"]),
        size=item["size"],
        resolution=item["resolution"],
        status=item["status"],
        created_at=layout.parse_required_timestamp(item["created_at"]),
        deadline=layout.parse_required_timestamp(item["deadline"]),
        hold=int(item["hold"]),
        hold_expires_at=layout.parse_required_timestamp(item["hold_expires_at"]),
        spend_period=item.get("spend_period"),
        served_model=item.get("served_model"),
        route=int(item.get("route") or 0),
        operation=item.get("operation"),
        progress=int(item.get("progress") or 0),
        completed_at=at("completed_at"),
        charge=int(item["charge"]) if item.get("charge") is not None else None,
        delivered_seconds=int(item["delivered_seconds"])
        if item.get("delivered_seconds") is not None
        else None,
        error_code=item.get("error_code"),
        error_message=item.get("error_message"),
        deleted=item.get("deleted_at") is not None,
    )
