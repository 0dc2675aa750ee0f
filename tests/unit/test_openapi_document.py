"""The management API's OpenAPI document: valid, complete, and naming the fields the handlers
take (its answers are held to the handlers by the integration suite's check_exchange)."""

from __future__ import annotations

from types import SimpleNamespace

import pytest
from openapi_spec_validator import validate

from tollgate.key_policy import POLICY_FIELDS
from tollgate.openapi import document as described
from tollgate.openapi.document import described_routes, document, operations
from tollgate.openapi.schema import obj, string


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


@pytest.mark.parametrize("clash", ["schema", "operation"])
def test_two_areas_giving_one_name_fail_the_build_instead_of_overwriting(monkeypatch, clash):
    # Given a new area that reuses a schema name or a route another area already describes
    area = described.AREAS[0]
    reused_schema, reused_route = next(iter(area.SCHEMAS)), next(iter(area.OPERATIONS))
    newcomer = SimpleNamespace(
        TAG="newcomer",
        SCHEMAS={reused_schema if clash == "schema" else "Newcomer": obj({"id": string()})},
        OPERATIONS={reused_route: area.OPERATIONS[reused_route]} if clash == "operation" else {},
    )
    monkeypatch.setattr(described, "AREAS", (*described.AREAS, newcomer))

    # When the document is built, then the build names the clash
    with pytest.raises(ValueError, match=f"two areas describe the {clash}"):
        document.__wrapped__()
