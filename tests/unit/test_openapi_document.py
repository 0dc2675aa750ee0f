"""The management API's OpenAPI document: valid, complete, and naming the fields the handlers
take (its answers are held to the handlers by the integration suite's check_exchange)."""

from __future__ import annotations

import pytest
from openapi_spec_validator import validate

from tollgate.key_policy import POLICY_FIELDS
from tollgate.openapi.document import described_routes, document, operations


def test_the_document_is_valid_openapi_3_1():
    given = document()

    validate(given)  # raises on the first fault

    assert given["openapi"].startswith("3.1")


def test_every_management_route_is_described_and_every_description_is_a_route():
    routes, described = set(described_routes()), set(operations())

    assert sorted(routes - described) == [], "routes without a description"
    assert sorted(described - routes) == [], "descriptions of no route"


@pytest.mark.parametrize(
    ("method", "path", "accepted"),
    [
        ("POST", "/v1/keys", {"name", "role", *POLICY_FIELDS}),
        ("PATCH", "/v1/keys/{key_id}", {"name", *POLICY_FIELDS}),
    ],
)
def test_a_request_body_names_exactly_the_fields_its_handler_accepts(method, path, accepted):
    described = document()["paths"][path][method.lower()]

    body = described["requestBody"]["content"]["application/json"]["schema"]

    assert set(body["properties"]) == accepted
    assert body["additionalProperties"] is False
