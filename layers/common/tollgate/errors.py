"""One error hierarchy, mapped to a status and a body once per wire format.

Raise these anywhere; the OpenAI, Anthropic and management API adapters turn them into
responses through the three ``*_body`` functions below and nowhere else.
"""

from __future__ import annotations

from typing import Any


class TollgateError(Exception):
    status = 500
    type = "api_error"
    anthropic_type = "api_error"
    code = "internal_error"

    def __init__(
        self,
        message: str,
        *,
        code: str | None = None,
        param: str | None = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        if code is not None:
            self.code = code
        self.param = param
        self.headers = dict(headers or {})


class BadRequest(TollgateError):
    status = 400
    type = "invalid_request_error"
    anthropic_type = "invalid_request_error"
    code = "invalid_request"


class Unauthenticated(TollgateError):
    status = 401
    type = "authentication_error"
    anthropic_type = "authentication_error"
    code = "invalid_api_key"


class PaymentRequired(TollgateError):
    status = 402
    type = "insufficient_quota"
    anthropic_type = "billing_error"
    code = "insufficient_balance"


class Forbidden(TollgateError):
    status = 403
    type = "permission_error"
    anthropic_type = "permission_error"
    code = "forbidden"


class AccountSuspended(Forbidden):
    """The operator suspended the account: its keys serve no request and its management
    routes only read, until the operator reinstates it."""

    code = "account_suspended"


class NotFound(TollgateError):
    status = 404
    type = "not_found_error"
    anthropic_type = "not_found_error"
    code = "not_found"


class Conflict(TollgateError):
    status = 409
    type = "invalid_request_error"
    anthropic_type = "invalid_request_error"
    code = "conflict"


class Gone(TollgateError):
    status = 410
    type = "invalid_request_error"
    anthropic_type = "not_found_error"
    code = "gone"


class PayloadTooLarge(TollgateError):
    status = 413
    type = "invalid_request_error"
    anthropic_type = "request_too_large"
    code = "request_too_large"


class RateLimited(TollgateError):
    status = 429
    type = "rate_limit_error"
    anthropic_type = "rate_limit_error"
    code = "rate_limit_exceeded"

    def __init__(self, message: str, *, retry_after_seconds: int, **kwargs: Any) -> None:
        super().__init__(message, **kwargs)
        self.headers["Retry-After"] = str(max(1, retry_after_seconds))


class UpstreamError(TollgateError):
    status = 502
    type = "api_error"
    anthropic_type = "api_error"
    code = "upstream_error"


class UpstreamTimeout(TollgateError):
    status = 504
    type = "api_error"
    anthropic_type = "timeout_error"
    code = "upstream_timeout"


class InternalError(TollgateError):
    """Anything unexpected: the message is generic on purpose, details go to the log."""


def openai_body(error: TollgateError) -> dict[str, Any]:
    return {
        "error": {
            "message": error.message,
            "type": error.type,
            "param": error.param,
            "code": error.code,
        }
    }


def anthropic_body(error: TollgateError) -> dict[str, Any]:
    return {"type": "error", "error": {"type": error.anthropic_type, "message": error.message}}


def management_body(error: TollgateError, request_id: str | None) -> dict[str, Any]:
    return {
        "error": {
            "type": error.type,
            "code": error.code,
            "message": error.message,
            "param": error.param,
            "request_id": request_id,
        }
    }
