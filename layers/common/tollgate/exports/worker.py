"""ExportFunction's job: one queued export becomes one ZIP in ExportBucket, or ``failed``.

The ZIP is written to local disk first and put in one PUT once complete, so a failure while
gathering leaves no object; a failure after the PUT deletes it. Either way the export says
``failed`` with a code the API explains, never the internal error (which is logged).
"""

from __future__ import annotations

import tempfile
from pathlib import Path

from tollgate import clock
from tollgate.errors import BadRequest
from tollgate.exports import queue
from tollgate.exports.bundle import write_bundle
from tollgate.observability import logger, metrics
from tollgate.settings import Settings
from tollgate.store import exports as store
from tollgate.store.models import AccountExport


def handle_message(body: str, settings: Settings) -> str:
    """Run the export a queue message names; what became of it (ready, failed, skipped)."""
    try:
        account_id, export_id = queue.parse_message(body)
    except BadRequest:
        # never valid, so never worth a retry: dropped, and counted
        logger.error("export message malformed")
        metrics.add_metric(name="ExportFailures", unit="Count", value=1)
        return "skipped"
    export = store.get(account_id, export_id)
    if export is None or not store.start(export, clock.utcnow()):
        logger.info("export finished or unknown", extra={"export_id": export_id})
        return "skipped"
    return run(export, settings)


def run(export: AccountExport, settings: Settings) -> str:
    key = store.object_key(export.account_id, export.export_id)
    objects = store.export_objects(settings)
    stored = False
    try:
        with tempfile.TemporaryDirectory(prefix="export-") as directory:
            bundle = write_bundle(
                Path(directory), export.account_id, export.export_id, clock.utcnow()
            )
            with bundle.path.open("rb") as body:
                objects.put(key, body, "application/zip")
            stored = True
        finished = store.finish_ready(
            export,
            key=key,
            size_bytes=bundle.size_bytes,
            record_counts=bundle.record_counts,
            now=clock.utcnow(),
        )
    except Exception:
        logger.exception("export failed", extra={"export_id": export.export_id})
        metrics.add_metric(name="ExportFailures", unit="Count", value=1)
        if stored:
            _delete_quietly(objects, key)
        store.finish_failed(export, "export_failed", clock.utcnow())
        return "failed"
    if not finished:  # another delivery of the message finished it first: its word stands
        logger.info("export finished meanwhile", extra={"export_id": export.export_id})
        return "skipped"
    logger.info("export ready", extra={"export_id": export.export_id, "size": bundle.size_bytes})
    return "ready"


def _delete_quietly(objects: store.ArchiveObjects, key: str) -> None:
    try:
        objects.delete([key])
    except Exception:  # the bucket's lifecycle removes it within a week
        logger.exception("export object not deleted")
