"""MailerFunction: the notifications queue's messages, rendered and sent through SES."""

from typing import Any

from tollgate.instrumentation import instrumented
from tollgate.notifications import mailer
from tollgate.settings import get_settings

settings = get_settings()


@instrumented
def lambda_handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    return mailer.handle_batch(event, settings)
