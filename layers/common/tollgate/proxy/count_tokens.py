"""POST /v1/messages/count_tokens: Anthropic's token count, for any chat model of the catalog.

Free (no hold, no charge, no usage record) but authenticated like every route, and counted as
one request in an rpm key's rate window. An Anthropic model is counted by Anthropic; any other
model, or an Anthropic model whose provider cannot count just now, by our estimate (about four
bytes of the request's text a token, and each image as the model's image tokens).
"""

from __future__ import annotations

import math
from typing import Any

from tollgate import clock, pricing
from tollgate.catalog import Model
from tollgate.observability import logger
from tollgate.providers import ProviderError, anthropic
from tollgate.proxy.chat import CHARS_PER_TOKEN, chat_input
from tollgate.proxy.http import Request, Send, send_json
from tollgate.proxy.pipeline import ProxyCall
from tollgate.proxy.runtime import Runtime
from tollgate.proxy.threads import blocking
from tollgate.proxy.upstream import UpstreamUnreachable
from tollgate.store.hotpath import KeyRecord
from tollgate.wire import anthropic_messages


class _Counted(ProxyCall):
    endpoint = "chat"  # what the model must serve, and the key allow, to be counted


async def count_tokens(runtime: Runtime, request: Request, key: KeyRecord, send: Send) -> None:
    body = await request.json()
    if isinstance(body, dict):  # a Messages request without max_tokens (it counts nothing)
        body = {**{k: v for k, v in body.items() if k != "stream"}, "max_tokens": 1}
    chat_body = anthropic_messages.to_chat_request(body)
    model = _Counted(runtime, request, key, chat_body).model_for(chat_body["model"])
    await blocking(runtime.hotpath.count_request, key.key_id, key.policy, clock.utcnow())
    tokens = None
    if runtime.catalog.provider_of(model).kind == "anthropic":
        tokens = await _counted_by_anthropic(runtime, model, chat_body)
    if tokens is None:
        tokens = estimated_input_tokens(model, chat_body)
    headers = {"x-request-id": request.request_id, "x-tollgate-cost": "0.00"}
    await send_json(send, 200, {"input_tokens": tokens}, headers)


def estimated_input_tokens(model: Model, chat_body: dict[str, Any]) -> int:
    prompt = chat_input(chat_body)
    text = math.ceil(prompt.text_bytes / CHARS_PER_TOKEN)
    return text + prompt.images * pricing.image_tokens(model)


async def _counted_by_anthropic(
    runtime: Runtime, model: Model, chat_body: dict[str, Any]
) -> int | None:
    """Anthropic's count; None when it could not count (then we estimate)."""
    provider = runtime.catalog.provider_of(model)
    api_key = await blocking(runtime.provider_keys.for_provider, provider)
    call = anthropic.build_count_tokens(chat_body, model=model, provider=provider, api_key=api_key)
    try:
        response = await runtime.upstream.send(call)
        raw = await response.read()
        if response.status >= 400:
            raise anthropic.error_from(response.status, raw, response.headers)
        return anthropic.parse_count_tokens(raw)
    except (UpstreamUnreachable, ProviderError) as error:
        status = getattr(error, "status", None)  # never the message: it may quote the prompt
        logger.warning("token count upstream failed: estimated", extra={"status": status})
        return None
