"""GET /v1/models and GET /v1/models/{id}: the catalog as OpenAI's models, with prices,
capabilities and aliases."""

from __future__ import annotations

from typing import Any

from tollgate.catalog import Catalog, Model
from tollgate.money import format_usd

_PRICE_FIELDS = ("input", "output", "cached_input", "cache_write", "per_image", "per_video_second")


def model_list(catalog: Catalog) -> dict[str, Any]:
    return {"object": "list", "data": [model_view(model) for model in catalog.models.values()]}


def model_view(model: Model) -> dict[str, Any]:
    pricing = {
        name: format_usd(getattr(model.pricing, name))
        for name in _PRICE_FIELDS
        if getattr(model.pricing, name) is not None
    }
    return {
        "id": model.id,
        "object": "model",
        "created": model.created,
        "owned_by": model.provider,
        "context_length": model.context_length,
        "max_output_tokens": model.max_output_tokens,
        "endpoints": sorted(model.endpoints),
        "aliases": list(model.aliases),
        "pricing": {"unit": "USD per 1M tokens, per image or per video second", **pricing},
    }
