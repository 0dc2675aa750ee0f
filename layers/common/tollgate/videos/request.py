"""POST /v1/videos's body, as OpenAI's Videos API takes it: multipart/form-data (what the
``openai`` SDK sends) or JSON (what curl users write), checked against the model's catalog
entry. The prompt and the reference image are content: they go upstream and nowhere else.

An input reference is an uploaded image file (multipart ``input_reference``) or an
``input_reference.image_url`` data URL. A remote URL is refused: the gateway fetches nothing
a client names.
"""

from __future__ import annotations

import base64
import binascii
from dataclasses import dataclass
from typing import Any

from tollgate.catalog import Model
from tollgate.errors import BadRequest
from tollgate.providers.base import VideoReference, VideoRequest
from tollgate.validation import json_object

MAX_PROMPT_BYTES = 32 * 1024
REFERENCE_TYPES = frozenset({"image/png", "image/jpeg", "image/webp"})
FIELDS = frozenset({"model", "prompt", "seconds", "size", "input_reference"})


@dataclass(frozen=True)
class VideoCreate:
    """The body's fields, before the model is known."""

    model: Any
    prompt: Any
    seconds: Any = None
    size: Any = None
    reference: VideoReference | None = None


def parse_body(content_type: str, body: bytes) -> VideoCreate:
    if content_type.lower().startswith("multipart/form-data"):
        return _from_form(content_type, body)
    fields = json_object(body or b"null")
    for name in fields:
        if name not in FIELDS:
            raise BadRequest(f"Unknown parameter: '{name}'.", param=name)
    reference = fields.get("input_reference")
    return VideoCreate(
        model=fields.get("model"),
        prompt=fields.get("prompt"),
        seconds=fields.get("seconds"),
        size=fields.get("size"),
        reference=_reference_object(reference) if reference is not None else None,
    )


def video_request(create: VideoCreate, model: Model) -> VideoRequest:
    """The request checked against what ``model`` makes (its clip lengths and sizes)."""
    spec = model.video
    assert spec is not None, "the catalog gives every videos model its video entry"
    prompt = create.prompt
    if not isinstance(prompt, str) or not prompt.strip():
        raise BadRequest("'prompt' is required.", param="prompt")
    if len(prompt.encode()) > MAX_PROMPT_BYTES:
        raise BadRequest(f"'prompt' is longer than {MAX_PROMPT_BYTES // 1024} KB.", param="prompt")
    seconds = _seconds(create.seconds, spec.default_seconds)
    if seconds not in spec.seconds:
        allowed = ", ".join(str(s) for s in spec.seconds)
        raise BadRequest(f"'seconds' must be one of {allowed} for {model.id}.", param="seconds")
    size = spec.default_size if create.size is None else create.size
    if not isinstance(size, str) or size not in spec.sizes:
        raise BadRequest(
            f"'size' must be one of {', '.join(spec.sizes)} for {model.id}.", param="size"
        )
    return VideoRequest(prompt, seconds, size, spec.sizes[size], create.reference)


def _seconds(value: Any, default: int) -> int:
    if value is None:
        return default
    if isinstance(value, int) and not isinstance(value, bool):
        return value
    if isinstance(value, str) and value.isdigit() and len(value) <= 4:
        return int(value)
    raise BadRequest("'seconds' must be a whole number of seconds, e.g. \"4\".", param="seconds")


def _from_form(content_type: str, body: bytes) -> VideoCreate:
    # The email package is imported here only: no other route pays for it at cold start.
    from email import policy
    from email.parser import BytesParser

    head = f"Content-Type: {content_type}\r\nMIME-Version: 1.0\r\n\r\n".encode("latin-1")
    message = BytesParser(policy=policy.HTTP).parsebytes(head + body)
    if not message.is_multipart():
        raise BadRequest("The multipart/form-data body could not be read.")
    fields: dict[str, Any] = {}
    reference: VideoReference | None = None
    for part in message.iter_parts():
        name = part.get_param("name", header="content-disposition")
        if not isinstance(name, str):
            raise BadRequest("A form field has no name.")
        payload = part.get_payload(decode=True)
        data = payload if isinstance(payload, bytes) else b""
        if name == "input_reference" and part.get_filename() is not None:
            reference = _reference_file(part.get_content_type(), data)
        elif name == "input_reference[image_url]":
            reference = _reference_url(data.decode("utf-8", "replace"))
        elif name in FIELDS:
            fields[name] = data.decode("utf-8", "replace")
        else:
            raise BadRequest(f"Unknown parameter: '{name}'.", param=name)
    return VideoCreate(
        model=fields.get("model"),
        prompt=fields.get("prompt"),
        seconds=fields.get("seconds"),
        size=fields.get("size"),
        reference=reference,
    )


def _reference_object(value: Any) -> VideoReference:
    if not isinstance(value, dict) or not isinstance(value.get("image_url"), str):
        raise BadRequest(
            '\'input_reference\' must be an uploaded image or {"image_url": "data:..."}.',
            param="input_reference",
        )
    return _reference_url(value["image_url"])


def _reference_url(url: str) -> VideoReference:
    head, sep, data = url.partition(",")
    if not sep or not head.startswith("data:") or not head.endswith(";base64"):
        raise BadRequest(
            "'input_reference.image_url' must be a base64 data URL (data:image/png;base64,...):"
            " the gateway fetches no URL.",
            param="input_reference",
        )
    try:
        decoded = base64.b64decode(data, validate=True)
    except (binascii.Error, ValueError):
        raise BadRequest(
            "'input_reference.image_url' is not valid base64.", param="input_reference"
        ) from None
    return _reference_file(head[len("data:") : -len(";base64")], decoded)


def _reference_file(mime_type: str, data: bytes) -> VideoReference:
    if mime_type not in REFERENCE_TYPES:
        raise BadRequest(
            f"'input_reference' must be a PNG, JPEG or WebP image, not {mime_type!r}.",
            param="input_reference",
        )
    if not data:
        raise BadRequest("'input_reference' is empty.", param="input_reference")
    return VideoReference(mime_type, data)
