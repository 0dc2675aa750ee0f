"""The proxy's model selection under a key's policy: a key that requires no training never
reaches a provider not marked ``no_training``, neither as its model nor as a fallback."""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any

import pytest

from tollgate.catalog import Catalog, Model, Pricing, Provider
from tollgate.errors import Forbidden
from tollgate.key_policy import KeyPolicy
from tollgate.proxy.chat import ChatCall

PROVIDERS = {
    "openai": Provider("openai", "openai", "https://api.openai.com/v1", "openai", True),
    "local": Provider("local", "openai_compatible", "http://vllm:8000/v1", None),
}


def chat_model(model_id: str, *fallbacks: str) -> Model:
    return Model(
        id=model_id,
        provider=model_id.split("/")[0],
        upstream_id=model_id.split("/")[1],
        endpoints=frozenset({"chat"}),
        created=0,
        context_length=8000,
        max_output_tokens=1000,
        pricing=Pricing(input=1, output=1),
        fallbacks=fallbacks,
    )


CATALOG = Catalog(
    providers=PROVIDERS,
    models={
        m.id: m
        for m in (
            chat_model("openai/gpt-4o", "local/llama", "openai/gpt-4.1"),
            chat_model("openai/gpt-4.1"),
            chat_model("local/llama"),
        )
    },
)


def chat_call(**policy: Any) -> ChatCall:
    runtime: Any = SimpleNamespace(catalog=CATALOG)
    key: Any = SimpleNamespace(policy=KeyPolicy(**policy))
    return ChatCall(runtime, SimpleNamespace(), key, {}, wire="openai")  # type: ignore[arg-type]


def test_a_key_requiring_no_training_skips_a_fallback_of_a_provider_not_marked_so():
    # given a model whose first fallback is served by a provider not marked no_training
    primary = CATALOG.models["openai/gpt-4o"]

    # when a key requiring no training, and one that does not, are routed
    strict = [m.id for m in chat_call(require_no_training=True).routes(primary)]
    lax = [m.id for m in chat_call().routes(primary)]

    # then only the strict key skips it (its hold covers these routes only)
    assert strict == ["openai/gpt-4o", "openai/gpt-4.1"]
    assert lax == ["openai/gpt-4o", "local/llama", "openai/gpt-4.1"]


def test_a_key_requiring_no_training_is_refused_such_a_model_by_name():
    with pytest.raises(Forbidden) as refused:
        chat_call(require_no_training=True).model_for("local/llama")

    assert refused.value.code == "model_not_allowed"
    assert chat_call().model_for("local/llama").id == "local/llama"
