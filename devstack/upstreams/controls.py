"""Per-request fault, latency and usage injection.

A request asks for them with headers, or with markers inside the last user message text
(the gateway in front forwards no arbitrary header, but it forwards the prompt). A header
wins over a marker of the same name.

==========================  ===================================  ==========================
header                      marker                               effect
==========================  ===================================  ==========================
``x-mock-fault``            ``[[mock:fault=NAME]]``              see ``FAULTS``
``x-mock-latency-ms``       ``[[mock:latency_ms=N]]``            wait N ms before answering
``x-mock-chunk-delay-ms``   ``[[mock:chunk_delay_ms=N]]``        pause between stream chunks
``x-mock-cached-tokens``    ``[[mock:cached_tokens=N]]``         prompt tokens read from cache
``x-mock-cache-write-tokens`` ``[[mock:cache_write_tokens=N]]``  prompt tokens written to cache
``x-mock-reasoning-tokens`` ``[[mock:reasoning_tokens=N]]``      extra hidden reasoning tokens
``x-mock-fault-model``      ``[[mock:fault_model=ID]]``          the fault hits only model ID
``x-mock-video-ms``         ``[[mock:video_ms=N]]``              a video job runs N ms
``x-mock-video-retention-ms`` ``[[mock:video_retention_ms=N]]``  its file is gone N ms after
==========================  ===================================  ==========================

Video jobs (``video_jobs``) take ``video_ms`` (default 1500) to finish; their file stays
downloadable ``video_retention_ms`` after completion (default 2 days). The faults
``video_failed`` and ``moderation`` end a video job with an error or a safety filter; on
other requests they change nothing.

Several settings can share one marker: ``[[mock:fault=cut,chunk_delay_ms=20]]``. Cached and
cache-write tokens are capped by the prompt's token count; Anthropic reports them as
``cache_read_input_tokens`` / ``cache_creation_input_tokens`` (and leaves them out of
``input_tokens``), OpenAI as ``prompt_tokens_details.cached_tokens`` (included in
``prompt_tokens``), Gemini as ``cachedContentTokenCount``. Reasoning tokens are added to the
output usage (OpenAI ``reasoning_tokens``, Gemini ``thoughtsTokenCount``, Anthropic
``output_tokens``) but produce no text and do not count against ``max_tokens``.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass

FAULTS: dict[str, str] = {
    "500": "the provider's 5xx error body (status 500)",
    "429": "the provider's rate-limit error body (status 429) with retry-after",
    "overloaded": "the provider's overloaded error (OpenAI 503, Anthropic 529, Gemini 503)",
    "timeout": "no answer for 120 s (ends early when the client leaves or the app closes)",
    "malformed": "status 200 with an invalid JSON body, or an invalid SSE chunk mid-stream",
    "cut": "the connection closes without a body, or mid-stream before the final events",
    "video_failed": "a video job ends failed (Gemini: an operation error; OpenAI: an error)",
    "moderation": "a video job ends filtered by the provider's safety system",
}
STATUS_FAULTS = frozenset({"500", "429", "overloaded"})

MARKER_RE = re.compile(r"\[\[mock:([^\]]*)\]\]")

_INT_SETTINGS = {
    "latency_ms": "x-mock-latency-ms",
    "chunk_delay_ms": "x-mock-chunk-delay-ms",
    "cached_tokens": "x-mock-cached-tokens",
    "cache_write_tokens": "x-mock-cache-write-tokens",
    "reasoning_tokens": "x-mock-reasoning-tokens",
    "video_ms": "x-mock-video-ms",
    "video_retention_ms": "x-mock-video-retention-ms",
}


class ControlError(ValueError):
    """A fault or setting the mock does not know (answered with a 400)."""


@dataclass(frozen=True)
class Controls:
    fault: str | None = None
    latency_ms: int = 0
    chunk_delay_ms: int | None = None
    cached_tokens: int = 0
    cache_write_tokens: int = 0
    reasoning_tokens: int = 0
    video_ms: int | None = None  # None: the video jobs' default
    video_retention_ms: int | None = None


def strip_markers(text: str) -> str:
    return MARKER_RE.sub("", text)


def parse_controls(headers: Mapping[str, str], text: str, *, model: str | None = None) -> Controls:
    """Controls from the request headers (lower-case names) and the last user text; a fault
    with a ``fault_model`` applies only to requests for that (upstream) model, so a gateway's
    fallback to another model can be exercised."""
    settings: dict[str, str] = {}
    for marker in MARKER_RE.findall(text):
        for item in re.split(r"[,;\s]+", marker.strip()):
            if not item:
                continue
            key, sep, value = item.partition("=")
            if not sep:
                raise ControlError(f"mock marker setting without a value: {key!r}")
            settings[key.strip()] = value.strip()
    if "x-mock-fault" in headers:
        settings["fault"] = headers["x-mock-fault"].strip()
    if "x-mock-fault-model" in headers:
        settings["fault_model"] = headers["x-mock-fault-model"].strip()
    for key, header in _INT_SETTINGS.items():
        if header in headers:
            settings[key] = headers[header].strip()

    unknown = set(settings) - {"fault", "fault_model", *_INT_SETTINGS}
    if unknown:
        raise ControlError(f"unknown mock setting(s): {', '.join(sorted(unknown))}")
    fault = settings.get("fault") or None
    if fault is not None and fault not in FAULTS:
        raise ControlError(f"unknown mock fault {fault!r}; known: {', '.join(FAULTS)}")
    if settings.get("fault_model") not in (None, model):
        fault = None
    values: dict[str, int] = {}
    for key in _INT_SETTINGS:
        if key in settings:
            try:
                values[key] = int(settings[key])
            except ValueError:
                raise ControlError(f"mock setting {key} must be an integer") from None
            if values[key] < 0:
                raise ControlError(f"mock setting {key} must not be negative")
    return Controls(fault=fault, **values)
