"""One error, three wire formats."""

from __future__ import annotations

from tests.support.openapi import validate_openai
from tollgate.errors import (
    BadRequest,
    PaymentRequired,
    RateLimited,
    anthropic_body,
    management_body,
    openai_body,
)


def test_an_openai_error_body_matches_the_published_schema():
    body = openai_body(BadRequest("'model' is required.", param="model"))

    validate_openai("ErrorResponse", body)
    assert body["error"]["param"] == "model"


def test_an_anthropic_error_body_has_anthropics_shape():
    body = anthropic_body(PaymentRequired("Top up your wallet."))

    assert body == {
        "type": "error",
        "error": {"type": "billing_error", "message": "Top up your wallet."},
    }


def test_the_management_body_carries_the_request_id():
    body = management_body(BadRequest("bad", param="name"), "req-1")

    assert body["error"]["request_id"] == "req-1"
    assert body["error"]["param"] == "name"


def test_a_rate_limit_says_when_to_retry():
    assert RateLimited("slow down", retry_after_seconds=7).headers == {"Retry-After": "7"}
