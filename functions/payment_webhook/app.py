"""PaymentWebhookFunction: Stripe's signed events at POST /webhooks/stripe (no API key: the
Stripe-Signature header authenticates the request)."""

import json
from typing import Any

from tollgate import payments
from tollgate.errors import InternalError, TollgateError, management_body
from tollgate.instrumentation import instrumented
from tollgate.observability import logger, metrics
from tollgate.settings import get_settings

settings = get_settings()


def respond(status: int, body: Any, request_id: str | None) -> dict[str, Any]:
    return {
        "statusCode": status,
        "headers": {"Content-Type": "application/json", "x-request-id": request_id or ""},
        "body": json.dumps(body, separators=(",", ":")),
    }


@instrumented
def lambda_handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    request_id = (event.get("requestContext") or {}).get("requestId")
    try:
        result = payments.handle_webhook(
            payments.raw_body(event),
            payments.signature_header(event),
            settings=settings,
            request_id=request_id,
        )
    except TollgateError as error:
        logger.info("webhook refused", extra={"status": error.status, "code": error.code})
        metrics.add_metric(
            name="WebhookRejected" if error.status < 500 else "WebhookFailures",
            unit="Count",
            value=1,
        )
        return respond(error.status, management_body(error, request_id), request_id)
    except Exception:
        logger.exception("webhook failed")
        metrics.add_metric(name="WebhookFailures", unit="Count", value=1)
        failure = InternalError("The event was not processed; it will be retried.")
        return respond(failure.status, management_body(failure, request_id), request_id)
    return respond(200, result.view(), request_id)
