"""Provider adapters: OpenAI-format requests to each upstream's wire format and back.

``adapter_for(kind)`` returns the adapter module for a catalog provider kind; every adapter
exposes the functions of ``base.Adapter``. No adapter does I/O: the proxy sends the
``UpstreamCall`` and hands the answer's bytes back.
"""

from __future__ import annotations

from typing import cast

from tollgate.providers import anthropic, gemini, openai
from tollgate.providers.base import Adapter, ChatStream, ProviderError, UpstreamCall, Usage

_ADAPTERS = {
    "openai": openai,
    "openai_compatible": openai,
    "anthropic": anthropic,
    "gemini": gemini,
}


def adapter_for(kind: str) -> Adapter:
    try:
        return cast(Adapter, _ADAPTERS[kind])
    except KeyError:
        raise ValueError(f"no provider adapter for kind {kind!r}") from None


__all__ = ["Adapter", "ChatStream", "ProviderError", "UpstreamCall", "Usage", "adapter_for"]
