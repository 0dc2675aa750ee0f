"""ExportFunction: takes queued account exports (an SQS event source, one message at a time)
and writes each one's ZIP of JSON and CSV files to ExportBucket."""

from typing import Any

from tollgate.exports import worker
from tollgate.instrumentation import instrumented
from tollgate.settings import get_settings

settings = get_settings()


@instrumented
def lambda_handler(event: dict[str, Any], context: Any) -> dict[str, list[Any]]:
    # A failure is recorded on the export itself (failed), so no message is handed back for
    # a retry (no batch item failures): a retry happens only when the invocation dies.
    outcomes = [worker.handle_message(record["body"], settings) for record in event["Records"]]
    return {"batchItemFailures": [], "outcomes": outcomes}
