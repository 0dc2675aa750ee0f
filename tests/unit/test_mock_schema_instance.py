"""The mock models' structured answers: a deterministic instance of whatever schema a
structured-output client sends, checked by an independent JSON Schema validator."""

from __future__ import annotations

import datetime
import enum
import json
import uuid

import jsonschema
import pytest
from openai.lib._pydantic import to_strict_json_schema
from pydantic import BaseModel, Field

from devstack.upstreams.schema_instance import instance_of


class Colour(enum.StrEnum):
    RED = "red"
    BLUE = "blue"


class Address(BaseModel):
    city: str
    postcode: str = Field(min_length=5, max_length=5)


class Person(BaseModel):
    name: str
    favourite: Colour
    home: Address
    tags: list[str] = Field(min_length=2)
    age: int = Field(ge=18, le=120)
    score: float = Field(gt=0, lt=1)
    born: datetime.date
    seen_at: datetime.datetime
    id: uuid.UUID
    nickname: str | None = None
    manager: Person | None = None  # recursive, through $defs


def assert_valid(schema, value) -> None:
    jsonschema.validate(value, schema, format_checker=jsonschema.FormatChecker())


@pytest.mark.parametrize(
    "schema",
    [Person.model_json_schema(), to_strict_json_schema(Person)],
    ids=["pydantic", "openai-sdk-strict"],
)
def test_an_instance_of_a_pydantic_models_schema_is_valid_and_parses_back(schema):
    value = instance_of(schema)

    assert_valid(schema, value)
    person = Person.model_validate(value)
    assert person.favourite is Colour.RED
    assert len(person.tags) == 2
    assert instance_of(schema) == value  # deterministic


@pytest.mark.parametrize(
    "schema",
    [
        {
            "type": "object",
            "properties": {
                "when": {"type": "string", "format": "date-time"},
                "mail": {"type": "string", "format": "email"},
                "kind": {"const": "fixed"},
                "maybe": {"type": ["string", "null"]},
                "count": {"type": "integer", "minimum": 7, "maximum": 9},
                "small": {"type": "number", "exclusiveMaximum": -3},
                "flags": {"type": "array", "items": {"type": "boolean"}, "minItems": 3},
                "none": {"type": "array", "items": {"type": "integer"}, "maxItems": 0},
                "either": {"oneOf": [{"$ref": "#/definitions/Code"}, {"type": "integer"}]},
            },
            "required": ["when", "mail", "kind", "maybe", "count", "small", "flags", "none"],
            "additionalProperties": False,
            "definitions": {"Code": {"type": "string", "enum": ["A1", "B2"]}},
        },
        {
            "allOf": [
                {"type": "object", "properties": {"a": {"type": "integer"}}, "required": ["a"]},
                {"properties": {"b": {"type": "string"}}, "required": ["b"]},
            ]
        },
    ],
    ids=["json-schema-keywords", "all-of"],
)
def test_an_instance_honours_the_keywords_structured_output_schemas_use(schema):
    assert_valid(schema, instance_of(schema))


def test_gemini_openapi_subset_schemas_get_typed_values():
    schema = {
        "type": "OBJECT",
        "properties": {
            "title": {"type": "STRING"},
            "rating": {"type": "INTEGER", "minimum": 3},
            "mood": {"type": "STRING", "format": "enum", "enum": ["calm", "busy"]},
            "notes": {"type": "ARRAY", "items": {"type": "STRING"}},
            "extra": {"type": "NUMBER", "nullable": True},
        },
        "required": ["title", "rating", "mood", "notes", "extra"],
    }

    assert instance_of(schema) == {
        "title": "example title",
        "rating": 3,
        "mood": "calm",
        "notes": ["example notes"],
        "extra": 1.5,
    }


def test_a_schema_that_requires_itself_forever_still_ends():
    schema = {
        "$defs": {"Node": {"type": "object", "properties": {"next": {"$ref": "#/$defs/Node"}}}},
        "$ref": "#/$defs/Node",
    }

    value = instance_of(schema)

    assert isinstance(value, dict) and "next" in value


@pytest.mark.parametrize(
    "schema",
    [
        {"type": "object", "properties": ["a"], "required": "a"},
        {"type": "array", "minItems": "2", "maxItems": None, "prefixItems": 3},
        {"$ref": "#/nowhere"},
        {"anyOf": []},
    ],
)
def test_a_malformed_schema_still_gets_a_json_answer_not_a_crash(schema):
    json.dumps(instance_of(schema))
