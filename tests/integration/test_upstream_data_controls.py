"""Providers told not to keep data: through the proxy's ASGI app, against moto and the mock
upstreams (which record the data-control fields they were sent, never the prompt), OpenAI is
told ``store: false`` whatever the client asked, on the primary route and on a fallback; a
key that requires no training is served only by providers marked ``no_training``."""

from __future__ import annotations

import asyncio
from typing import Any

from devstack.upstreams import RunningUpstreams
from tests.support.proxy_asgi import Exchange, call
from tollgate.proxy.app import ProxyApp

CHAT = "/v1/chat/completions"
GPT_4O = "openai/gpt-4o"  # falls back to openai/gpt-4.1
GPT_4O_FAILS = "Hello [[mock:fault=500,fault_model=gpt-4o-2024-08-06]]"


def chat(app: ProxyApp, key: str, text: str, **extra: Any) -> Exchange:
    body = {"model": GPT_4O, "messages": [{"role": "user", "content": text}], **extra}
    return asyncio.run(call(app, CHAT, body, key=key))


def sent_to_openai(upstreams: RunningUpstreams) -> list[dict[str, Any]]:
    return upstreams.app.sent("openai", "/v1/chat/completions")


def test_a_client_asking_openai_to_store_its_chat_gets_store_false_sent(app, upstreams, customer):
    # given a client that asks OpenAI to store its completion, with metadata to find it by
    key = customer().api_key

    # when it chats with an OpenAI model
    answer = chat(app, key, "Hello", store=True, metadata={"team": "a"})

    # then it is answered, and OpenAI was told store: false, without the metadata
    assert answer.status == 200, answer.body
    assert sent_to_openai(upstreams) == [{"model": "gpt-4o-2024-08-06", "store": False}]


def test_a_fallback_route_is_told_store_false_too(app, upstreams, customer):
    # given a client asking to store, whose primary model fails upstream
    key = customer().api_key

    # when its chat falls back to openai/gpt-4.1
    answer = chat(app, key, GPT_4O_FAILS, store=True)

    # then the fallback answered, and every request of both routes said store: false
    assert answer.status == 200, answer.body
    assert answer.json()["model"] == "openai/gpt-4.1"
    sent = sent_to_openai(upstreams)
    assert {c["model"] for c in sent} == {"gpt-4o-2024-08-06", "gpt-4.1-2025-04-14"}
    assert all(c["store"] is False and "metadata" not in c for c in sent)


def test_a_key_requiring_no_training_is_refused_a_provider_not_marked_so(app, upstreams, customer):
    # given a key that requires providers which do not train on API data
    key = customer(require_no_training=True).api_key

    # when it asks devstack's OpenAI-compatible video provider (not marked no_training)
    body = {"model": "videolab/video-1", "prompt": "A paper boat", "seconds": "4"}
    refused = asyncio.run(call(app, "/v1/videos", body, key=key))

    # then it is refused before any upstream is asked, saying why
    assert refused.status == 403
    error = refused.json()["error"]
    assert (error["code"], error["param"]) == ("model_not_allowed", "model")
    assert "do not train on API data" in error["message"]
    assert upstreams.app.count("openai_compatible") == 0

    # and the same key is served by an OpenAI model
    assert chat(app, key, "Hello").status == 200
