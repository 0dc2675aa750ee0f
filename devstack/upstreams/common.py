"""Deterministic behaviour shared by the three mock providers.

Everything here is a pure function of the request, so identical requests get identical
answers (only ids and timestamps differ):

- Tokens: ``count_tokens`` counts words (``\\w+``) and single punctuation characters
  (``[^\\w\\s]``). The prompt's token count is that rule applied to every text of the
  prompt (system text, message texts, tool-call arguments and tool results as JSON; tool
  definitions and images are not counted). Output tokens are that rule applied to the
  reply text; a tool call costs the tokens of its name plus the tokens of its JSON
  arguments. Streamed text is cut into pieces of exactly one token each (with the
  whitespace before it), so the streamed pieces join back into the reply text.
- Reply text: one of ``REPLIES``, picked by the SHA-256 of the last user message text
  (with the ``[[mock:...]]`` markers removed). ``max_tokens`` truncates it to its first N
  tokens, and the finish reason becomes the provider's "length".
- Tool calls (see ``choose_tool``): when tools are offered and the tool choice does not
  forbid them, the mock calls a tool if the choice forces one (a named tool, OpenAI
  ``"required"``, Anthropic ``{"type": "any"}``, Gemini mode ``ANY``), or, in auto mode,
  if the last user message text mentions a tool's name or the word "weather" and the
  conversation does not end with a tool result. The tool called is the forced one, else
  the one named in the text, else the first. Its arguments are built from its JSON schema
  (``example_arguments``) and never truncated by ``max_tokens``.
"""

from __future__ import annotations

import base64
import hashlib
import json
import math
import re
import struct
import zlib
from dataclasses import dataclass
from typing import Any

from devstack.upstreams.schema_instance import instance_of

TOKEN_RE = re.compile(r"\w+|[^\w\s]")
_PIECE_RE = re.compile(r"\s*(?:\w+|[^\w\s])")
_WEATHER_RE = re.compile(r"\bweather\b", re.IGNORECASE)

REPLIES: tuple[str, ...] = (
    "Hello from the Tollgate mock upstream! This answer is deterministic, so the same "
    "prompt always gets the same reply.",
    "The mock model has read your message carefully, and it agrees that this is a fine "
    "question to ask a gateway.",
    "Here is a short, predictable answer: tokens are counted as words and punctuation, one by one.",
    "Streaming works piece by piece; every word you see arrived in its own chunk, with a "
    "small pause between them.",
    "Nothing you send is stored or logged by this mock provider; it only counts how many "
    "requests it received.",
)

DEFAULT_EMBEDDING_DIMENSIONS = 16


def count_tokens(text: str) -> int:
    """Number of tokens of ``text``: words and single punctuation characters."""
    return len(TOKEN_RE.findall(text))


def token_pieces(text: str) -> list[str]:
    """``text`` cut into one-token pieces, each with the whitespace before it."""
    return _PIECE_RE.findall(text)


def digest(text: str) -> bytes:
    return hashlib.sha256(text.encode("utf-8")).digest()


def json_text(value: Any) -> str:
    """Compact JSON, the way the providers write tool arguments."""
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False)


def split_text(text: str, size: int) -> list[str]:
    """``text`` cut into consecutive parts of ``size`` characters (at least one part)."""
    return [text[i : i + size] for i in range(0, len(text), size)] or [""]


@dataclass(frozen=True)
class ToolCall:
    name: str
    arguments: dict[str, Any]

    @property
    def arguments_json(self) -> str:
        return json_text(self.arguments)


@dataclass(frozen=True)
class Completion:
    """What the mock model "generates" for one request."""

    text: str  # empty for a tool call
    pieces: tuple[str, ...]  # one token each; joined they give ``text``
    tool_call: ToolCall | None
    output_tokens: int
    finish: str  # "stop", "length" or "tool"


def complete(
    last_user_text: str,
    max_tokens: int | None,
    tool_call: ToolCall | None,
    reply: str | None = None,
) -> Completion:
    """``reply`` replaces the picked reply text (a structured answer, see ``json_reply``)."""
    if tool_call is not None:
        tokens = count_tokens(tool_call.name) + count_tokens(tool_call.arguments_json)
        return Completion("", (), tool_call, tokens, "tool")
    if reply is None:
        reply = picked_reply(last_user_text)
    pieces = token_pieces(reply)
    finish = "stop"
    if max_tokens is not None and max_tokens < len(pieces):
        pieces = pieces[: max(max_tokens, 0)]
        finish = "length"
    return Completion("".join(pieces), tuple(pieces), None, len(pieces), finish)


def picked_reply(last_user_text: str) -> str:
    return REPLIES[int.from_bytes(digest(last_user_text)[:8], "big") % len(REPLIES)]


def json_reply(schema: Any, last_user_text: str) -> str:
    """The JSON text of an answer asked to be JSON: an instance of ``schema``, or without a
    schema an object holding the picked reply."""
    if isinstance(schema, dict) and schema:
        return json_text(instance_of(schema))
    return json_text({"answer": picked_reply(last_user_text)})


def choose_tool(
    tools: dict[str, Any],
    *,
    mode: str,
    forced: str | None,
    last_user_text: str,
    ends_with_tool_result: bool,
) -> ToolCall | None:
    """The tool call the mock makes, or None. ``tools`` maps name -> JSON schema.

    ``mode`` is "none", "auto" or "required"; ``forced`` names a tool the caller forces.
    """
    if not tools or mode == "none":
        return None
    named = next(
        (
            name
            for name in tools
            if re.search(rf"(?<!\w){re.escape(name)}(?!\w)", last_user_text, re.IGNORECASE)
        ),
        None,
    )
    if forced is not None:
        name = forced
    elif mode == "required":
        name = named or next(iter(tools))
    elif ends_with_tool_result:
        return None
    elif named is not None:
        name = named
    elif _WEATHER_RE.search(last_user_text):
        name = next(iter(tools))
    else:
        return None
    arguments = example_arguments(tools.get(name))
    return ToolCall(name, arguments if isinstance(arguments, dict) else {})


def example_arguments(schema: Any) -> Any:
    """A deterministic instance of a (JSON or Gemini) schema of tool parameters."""
    if not isinstance(schema, dict) or not schema:
        return {}
    return instance_of(schema)


def embedding(text: str, dimensions: int) -> list[float]:
    """A unit vector derived from ``text``, rounded to float32 so base64 round-trips."""
    seed = digest(text)
    raw: list[float] = []
    counter = 0
    while len(raw) < dimensions:
        block = hashlib.sha256(seed + counter.to_bytes(4, "big")).digest()
        raw.extend((b - 127.5) / 127.5 for b in block)
        counter += 1
    raw = raw[:dimensions]
    norm = math.sqrt(sum(v * v for v in raw)) or 1.0
    packed = struct.pack(f"<{dimensions}f", *(v / norm for v in raw))
    return list(struct.unpack(f"<{dimensions}f", packed))


def embedding_base64(values: list[float]) -> str:
    return base64.b64encode(struct.pack(f"<{len(values)}f", *values)).decode("ascii")


def png_pixel(rgb: str) -> bytes:
    """A valid 1x1 PNG of the colour ``rgb`` (six hex digits)."""
    pixel = b"\x00" + bytes.fromhex(rgb)

    def chunk(tag: bytes, data: bytes) -> bytes:
        body = tag + data
        return struct.pack(">I", len(data)) + body + struct.pack(">I", zlib.crc32(body))

    header = struct.pack(">IIBBBBB", 1, 1, 8, 2, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", header)
        + chunk(b"IDAT", zlib.compress(pixel))
        + chunk(b"IEND", b"")
    )


def colour_of(text: str) -> str:
    return digest(text)[:3].hex()
