"""One management route described: what it takes and what it answers."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from tollgate.openapi.schema import Schema


@dataclass(frozen=True)
class Content:
    """An answer that is not JSON (a CSV, a file) or a redirect."""

    media_type: str
    description: str
    schema: Schema = field(default_factory=lambda: {"type": "string"})
    headers: dict[str, str] = field(default_factory=dict)  # header name -> description


@dataclass(frozen=True)
class Redirect:
    """A 302 with no body: ``Location`` is where to fetch (``location`` says what it is)."""

    location: str


# status -> the JSON body's schema, a Content, a Redirect, None (no body), or a tuple of
# the first two when the client chooses (e.g. a listing as JSON or, with ?format=csv, a CSV)
Answer = Schema | Content | Redirect
Answers = dict[int, "Answer | tuple[Answer, ...] | None"]


@dataclass(frozen=True)
class Operation:
    summary: str
    answers: Answers
    body: Schema | None = None  # the JSON request body, when the route takes one
    query: dict[str, Schema] = field(default_factory=dict)
    description: str = ""
    body_media_type: str = "application/json"  # e.g. multipart/form-data for uploads
    extra: dict[str, Any] = field(default_factory=dict)  # more OpenAPI operation fields
