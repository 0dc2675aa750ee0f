import copy
import dataclasses
import datetime as dt
import os
import re
import sys
from collections import Counter
from pathlib import Path

import pytest
import yaml

import tollgate.catalog
from tollgate.catalog import (
    DEFAULT_CATALOG_PATH,
    CatalogError,
    Model,
    compiled_data,
    load_catalog,
    parse_catalog,
)
from tollgate.catalog_yaml import compile_catalog
from tollgate.money import parse_usd

AUG_6_2024_UTC = 1_722_902_400  # 2024-08-06T00:00:00Z


def catalog_data() -> dict:
    """A small valid catalog, as yaml.safe_load would return it."""
    return {
        "providers": {
            "openai": {
                "kind": "openai",
                "base_url": "https://api.openai.com/v1",
                "secret": "openai",
            },
            "gemini": {
                "kind": "gemini",
                "base_url": "https://generativelanguage.googleapis.com",
                "secret": "gemini",
            },
        },
        "models": [
            {
                "id": "openai/gpt-4o",
                "upstream_id": "gpt-4o-2024-08-06",
                "endpoints": ["chat"],
                "released": dt.date(2024, 8, 6),
                "context_length": 128000,
                "max_output_tokens": 16384,
                "pricing": {"input": "2.50", "output": "10.00", "cached_input": "1.25"},
            },
            {
                "id": "openai/gpt-4.1",
                "upstream_id": "gpt-4.1-2025-04-14",
                "endpoints": ["chat"],
                "released": dt.date(2025, 4, 14),
                "context_length": 1047576,
                "max_output_tokens": 32768,
                "pricing": {"input": "2.00", "output": "8.00"},
            },
            {
                "id": "openai/text-embedding-3-small",
                "upstream_id": "text-embedding-3-small",
                "endpoints": ["embeddings"],
                "released": dt.date(2024, 1, 25),
                "context_length": 8191,
                "pricing": {"input": "0.02"},
            },
            {
                "id": "openai/dall-e-3",
                "upstream_id": "dall-e-3",
                "endpoints": ["images"],
                "released": dt.date(2023, 11, 6),
                "context_length": 4000,
                "pricing": {"per_image": "0.04"},
            },
            {
                "id": "gemini/veo-3.0-generate-001",
                "upstream_id": "veo-3.0-generate-001",
                "endpoints": ["videos"],
                "released": dt.date(2025, 9, 9),
                "context_length": 1024,
                "pricing": {"per_video_second": "0.40"},
            },
        ],
    }


def changed(*path, to=None, delete=False):
    """A mutation of catalog_data(): set (or delete) the value at path."""

    def mutate(data):
        target = data
        for key in path[:-1]:
            target = target[key]
        if delete:
            del target[path[-1]]
        else:
            target[path[-1]] = to
        return data

    return mutate


def with_fallbacks(index, fallbacks):
    return changed("models", index, "fallbacks", to=fallbacks)


# --- the seeded catalog ----------------------------------------------------------------------


@pytest.fixture(scope="module")
def seeded():
    return load_catalog()


def test_seeded_catalog_has_three_chat_models_per_major_provider(seeded):
    chat_models = Counter(m.provider for m in seeded.models.values() if m.supports("chat"))

    assert chat_models["openai"] >= 3
    assert chat_models["anthropic"] >= 3
    assert chat_models["gemini"] >= 3


@pytest.mark.parametrize("endpoint", ["embeddings", "images", "videos"])
def test_seeded_catalog_has_models_for_every_other_endpoint(seeded, endpoint):
    assert any(model.supports(endpoint) for model in seeded.models.values())


def test_seeded_catalog_prices_are_parsed_to_nanos(seeded):
    gpt_4o = seeded.model("openai/gpt-4o")

    assert gpt_4o.upstream_id == "gpt-4o-2024-08-06"
    assert gpt_4o.pricing.input == parse_usd("2.50")
    assert gpt_4o.pricing.output == parse_usd("10.00")
    assert gpt_4o.created == AUG_6_2024_UTC


def test_seeded_catalog_prices_gemini_pro_long_prompts_higher(seeded):
    long_context = seeded.model("gemini/gemini-2.5-pro").pricing.long_context

    assert long_context.threshold_tokens == 200_000
    assert long_context.input > seeded.model("gemini/gemini-2.5-pro").pricing.input


def test_seeded_anthropic_models_price_cache_reads_and_writes(seeded):
    for model in seeded.models.values():
        if model.provider == "anthropic":
            assert model.pricing.cached_input < model.pricing.input < model.pricing.cache_write


def test_seeded_model_ids_are_lowercase_provider_slash_model(seeded):
    for model_id, model in seeded.models.items():
        assert model_id == model.id == model_id.lower()
        assert model_id.split("/", 1)[0] == model.provider
        assert seeded.provider_of(model).name == model.provider


def test_seeded_fallbacks_resolve_to_routes(seeded):
    for model in seeded.models.values():
        routes = seeded.routes(model)
        assert routes[0] is model
        assert [r.id for r in routes[1:]] == list(model.fallbacks)


def test_default_catalog_path_is_beside_the_module():
    module_dir = os.path.dirname(os.path.abspath(tollgate.catalog.__file__))

    assert os.path.join(module_dir, "catalog.yaml") == DEFAULT_CATALOG_PATH


# --- parsing ---------------------------------------------------------------------------------


def test_parsed_catalog_keeps_models_in_file_order():
    catalog = parse_catalog(catalog_data())

    assert list(catalog.models) == [m["id"] for m in catalog_data()["models"]]


def test_model_fields_are_typed_and_priced_in_nanos():
    model = parse_catalog(catalog_data()).model("openai/gpt-4o")

    assert model == Model(
        id="openai/gpt-4o",
        provider="openai",
        upstream_id="gpt-4o-2024-08-06",
        endpoints=frozenset({"chat"}),
        created=AUG_6_2024_UTC,
        context_length=128000,
        max_output_tokens=16384,
        pricing=tollgate.catalog.Pricing(
            input=2_500_000_000, output=10_000_000_000, cached_input=1_250_000_000
        ),
        fallbacks=(),
    )


def test_absent_prices_are_none():
    pricing = parse_catalog(catalog_data()).model("openai/text-embedding-3-small").pricing

    assert pricing.input == 20_000_000
    assert pricing.output is None
    assert pricing.per_image is None
    assert pricing.long_context is None


def test_embeddings_and_media_models_may_omit_max_output_tokens():
    catalog = parse_catalog(catalog_data())

    assert catalog.model("openai/text-embedding-3-small").max_output_tokens is None
    assert catalog.model("openai/dall-e-3").pricing.per_image == 40_000_000
    assert catalog.model("gemini/veo-3.0-generate-001").pricing.per_video_second == 400_000_000


def test_unknown_model_is_none():
    assert parse_catalog(catalog_data()).model("openai/gpt-9") is None


def test_model_supports_only_its_endpoints():
    model = parse_catalog(catalog_data()).model("openai/gpt-4o")

    assert model.supports("chat")
    assert not model.supports("embeddings")


def test_released_may_be_an_iso_string():
    data = changed("models", 0, "released", to="2024-08-06")(catalog_data())

    assert parse_catalog(data).model("openai/gpt-4o").created == AUG_6_2024_UTC


def test_provider_of_returns_the_model_provider():
    catalog = parse_catalog(catalog_data())

    provider = catalog.provider_of(catalog.model("gemini/veo-3.0-generate-001"))

    assert (provider.name, provider.kind, provider.secret) == ("gemini", "gemini", "gemini")


def test_openai_compatible_provider_may_have_no_secret_and_loses_trailing_slash():
    data = catalog_data()
    data["providers"]["local"] = {"kind": "openai_compatible", "base_url": "http://vllm:8000/v1/"}

    provider = parse_catalog(data).providers["local"]

    assert provider.secret is None
    assert provider.base_url == "http://vllm:8000/v1"


def test_seeded_providers_say_whether_their_terms_keep_api_data_out_of_training(seeded):
    # OpenAI's and Anthropic's API terms, and Gemini's paid tier: no training on API data
    assert {name: p.no_training for name, p in seeded.providers.items()} == {
        "openai": True,
        "anthropic": True,
        "gemini": True,
    }


def test_a_provider_is_not_marked_no_training_unless_the_operator_says_so():
    data = catalog_data()
    data["providers"]["local"] = {"kind": "openai_compatible", "base_url": "http://vllm:8000/v1"}
    data["providers"]["gemini"]["no_training"] = True

    providers = parse_catalog(data).providers

    assert not providers["local"].no_training and not providers["openai"].no_training
    assert providers["gemini"].no_training


@pytest.mark.parametrize("value", ["yes", 1, None, []])
def test_a_provider_no_training_flag_must_be_true_or_false(value):
    data = changed("providers", "openai", "no_training", to=value)(catalog_data())

    with pytest.raises(CatalogError, match=r"providers 'openai': no_training: .* is not true or"):
        parse_catalog(data)


def test_long_context_pricing_is_parsed_to_nanos():
    data = changed(
        "models",
        1,
        "pricing",
        "long_context",
        to={"threshold_tokens": 200000, "input": "2.50", "output": "15.00", "cached_input": "0.25"},
    )(catalog_data())

    long_context = parse_catalog(data).model("openai/gpt-4.1").pricing.long_context

    assert long_context == tollgate.catalog.LongContextPricing(
        threshold_tokens=200_000,
        input=2_500_000_000,
        output=15_000_000_000,
        cached_input=250_000_000,
    )


def test_long_context_cached_input_is_optional():
    data = changed(
        "models",
        1,
        "pricing",
        "long_context",
        to={"threshold_tokens": 200000, "input": "4.00", "output": "16.00"},
    )(catalog_data())

    long_context = parse_catalog(data).model("openai/gpt-4.1").pricing.long_context

    assert long_context.cached_input is None


def test_catalog_entries_are_immutable():
    model = parse_catalog(catalog_data()).model("openai/gpt-4o")

    with pytest.raises(dataclasses.FrozenInstanceError):
        model.upstream_id = "gpt-4o-mini"


# --- fallbacks -------------------------------------------------------------------------------


def test_routes_are_the_model_then_its_fallbacks_in_order():
    data = with_fallbacks(0, ["openai/gpt-4.1"])(catalog_data())
    data = with_fallbacks(1, ["openai/gpt-4o"])(data)
    catalog = parse_catalog(data)

    routes = catalog.routes(catalog.model("openai/gpt-4o"))

    assert [model.id for model in routes] == ["openai/gpt-4o", "openai/gpt-4.1"]


def test_a_model_without_fallbacks_has_a_single_route():
    catalog = parse_catalog(catalog_data())
    model = catalog.model("openai/gpt-4.1")

    assert catalog.routes(model) == [model]


def test_a_fallback_may_support_more_endpoints_than_its_model():
    data = changed("models", 1, "endpoints", to=["chat", "embeddings"])(catalog_data())
    data = with_fallbacks(2, ["openai/gpt-4.1"])(data)

    catalog = parse_catalog(data)

    assert catalog.model("openai/text-embedding-3-small").fallbacks == ("openai/gpt-4.1",)


@pytest.mark.parametrize(
    ("mutate", "expected"),
    [
        pytest.param(
            with_fallbacks(0, ["openai/gpt-9"]),
            "models[0] 'openai/gpt-4o': fallbacks[0]: 'openai/gpt-9' is not a model in the catalog",
            id="unknown",
        ),
        pytest.param(
            with_fallbacks(0, ["openai/gpt-4.1", "openai/gpt-4o"]),
            "models[0] 'openai/gpt-4o': fallbacks[1]: a model cannot be its own fallback",
            id="itself",
        ),
        pytest.param(
            with_fallbacks(0, ["openai/text-embedding-3-small"]),
            "models[0] 'openai/gpt-4o': fallbacks[0]: 'openai/text-embedding-3-small' "
            "does not support chat",
            id="missing-endpoint",
        ),
        pytest.param(
            with_fallbacks(0, ["openai/gpt-4.1", "openai/gpt-4.1"]),
            "models[0] 'openai/gpt-4o': fallbacks[1]: 'openai/gpt-4.1' is listed twice",
            id="twice",
        ),
        pytest.param(
            with_fallbacks(0, "openai/gpt-4.1"),
            "models[0] 'openai/gpt-4o': fallbacks: expected a list of model ids",
            id="not-a-list",
        ),
    ],
)
def test_invalid_fallbacks_are_rejected(mutate, expected):
    with pytest.raises(CatalogError) as caught:
        parse_catalog(mutate(catalog_data()))

    assert expected in str(caught.value)


# --- validation errors -----------------------------------------------------------------------


def duplicate_first_model(data):
    data["models"].append(copy.deepcopy(data["models"][0]))
    return data


BAD_CATALOGS = [
    pytest.param(lambda data: [data], "catalog: expected a mapping", id="not-a-mapping"),
    pytest.param(
        changed("model", to=[]), "catalog: model: unknown field", id="top-level-unknown-key"
    ),
    pytest.param(changed("models", delete=True), "catalog: models: is required", id="no-models"),
    pytest.param(changed("models", to={}), "catalog: models: expected a list", id="models-dict"),
    pytest.param(
        changed("providers", to={}), "catalog: providers: expected a non-empty", id="no-providers"
    ),
    pytest.param(
        changed("providers", "openai", "kind", to="azure"),
        "providers 'openai': kind: 'azure' is not one of anthropic, gemini, openai, "
        "openai_compatible",
        id="provider-kind",
    ),
    pytest.param(
        changed("providers", "openai", "base_url", to="ftp://api.openai.com"),
        "providers 'openai': base_url: 'ftp://api.openai.com' is not an http(s) URL",
        id="provider-base-url-scheme",
    ),
    pytest.param(
        changed("providers", "openai", "base_url", to="api.openai.com/v1"),
        "providers 'openai': base_url:",
        id="provider-base-url-relative",
    ),
    pytest.param(
        changed("providers", "openai", "secret", delete=True),
        "providers 'openai': secret: is required for kind 'openai'",
        id="provider-secret-missing",
    ),
    pytest.param(
        changed("providers", "openai", "secrets", to="openai"),
        "providers 'openai': secrets: unknown field",
        id="provider-unknown-key",
    ),
    pytest.param(
        changed("providers", "OpenAI", to={"kind": "openai", "base_url": "https://x.io"}),
        "providers 'OpenAI': name must be lowercase",
        id="provider-name",
    ),
    pytest.param(
        changed("models", 0, "id", to="gpt-4o"),
        "models[0] 'gpt-4o': id: 'gpt-4o' is not '<provider>/<model>'",
        id="model-id-without-provider",
    ),
    pytest.param(
        changed("models", 0, "id", to="openai/GPT-4o"),
        "models[0] 'openai/GPT-4o': id:",
        id="model-id-uppercase",
    ),
    pytest.param(
        changed("models", 0, "id", to="azure/gpt-4o"),
        "models[0] 'azure/gpt-4o': id: provider 'azure' is not one of gemini, openai",
        id="model-id-unknown-provider",
    ),
    pytest.param(
        changed("models", 0, "id", delete=True), "models[0]: id: is required", id="model-no-id"
    ),
    pytest.param(
        duplicate_first_model,
        "models[5] 'openai/gpt-4o': id: duplicate of models[0] 'openai/gpt-4o'",
        id="model-duplicate-id",
    ),
    pytest.param(
        changed("models", 0, "fallback", to=["openai/gpt-4.1"]),
        "models[0] 'openai/gpt-4o': fallback: unknown field",
        id="model-unknown-key",
    ),
    pytest.param(
        changed("models", 0, "upstream_id", delete=True),
        "models[0] 'openai/gpt-4o': upstream_id: is required",
        id="model-no-upstream-id",
    ),
    pytest.param(
        changed("models", 0, "upstream_id", to="gpt 4o"),
        "models[0] 'openai/gpt-4o': upstream_id: 'gpt 4o' is not a model name",
        id="model-upstream-id-space",
    ),
    pytest.param(
        changed("models", 0, "endpoints", to=[]),
        "models[0] 'openai/gpt-4o': endpoints: expected a non-empty list",
        id="endpoints-empty",
    ),
    pytest.param(
        changed("models", 0, "endpoints", to=["chat", "audio"]),
        "models[0] 'openai/gpt-4o': endpoints: 'audio' is not one of chat, embeddings, images, "
        "videos",
        id="endpoints-unknown",
    ),
    pytest.param(
        changed("models", 0, "endpoints", to="chat"),
        "models[0] 'openai/gpt-4o': endpoints: expected a non-empty list",
        id="endpoints-string",
    ),
    pytest.param(
        changed("models", 0, "released", to="yesterday"),
        "models[0] 'openai/gpt-4o': released: 'yesterday' is not a date",
        id="released-not-a-date",
    ),
    pytest.param(
        changed("models", 0, "released", to=dt.datetime(2024, 8, 6, 12)),
        "models[0] 'openai/gpt-4o': released:",
        id="released-datetime",
    ),
    pytest.param(
        changed("models", 0, "released", to=20240806),
        "models[0] 'openai/gpt-4o': released: 20240806 is not a date",
        id="released-int",
    ),
    pytest.param(
        changed("models", 0, "context_length", to=0),
        "models[0] 'openai/gpt-4o': context_length: 0 is not a positive integer",
        id="context-length-zero",
    ),
    pytest.param(
        changed("models", 0, "context_length", to=True),
        "models[0] 'openai/gpt-4o': context_length: True is not a positive integer",
        id="context-length-bool",
    ),
    pytest.param(
        changed("models", 0, "max_output_tokens", to="16k"),
        "models[0] 'openai/gpt-4o': max_output_tokens: '16k' is not a positive integer",
        id="max-output-string",
    ),
    pytest.param(
        changed("models", 0, "max_output_tokens", delete=True),
        "models[0] 'openai/gpt-4o': max_output_tokens: is required for chat models",
        id="max-output-missing-for-chat",
    ),
    pytest.param(
        changed("models", 0, "pricing", "input", to="1.2.3"),
        "models[0] 'openai/gpt-4o': pricing.input: '1.2.3' is not a decimal USD amount",
        id="price-not-decimal",
    ),
    pytest.param(
        changed("models", 0, "pricing", "input", to=2.5),
        "models[0] 'openai/gpt-4o': pricing.input: 2.5 must be a quoted decimal string",
        id="price-float",
    ),
    pytest.param(
        changed("models", 0, "pricing", "output", to="-10.00"),
        "models[0] 'openai/gpt-4o': pricing.output: '-10.00' is negative",
        id="price-negative",
    ),
    pytest.param(
        changed("models", 0, "pricing", "cached_input", to="0.0000000001"),
        "models[0] 'openai/gpt-4o': pricing.cached_input: '0.0000000001' has more than 9",
        id="price-too-precise",
    ),
    pytest.param(
        changed("models", 0, "pricing", "inptu", to="2.50"),
        "models[0] 'openai/gpt-4o': pricing.inptu: unknown field",
        id="pricing-unknown-key",
    ),
    pytest.param(
        changed("models", 0, "pricing", "output", delete=True),
        "models[0] 'openai/gpt-4o': pricing.output: is required for chat models",
        id="chat-without-output-price",
    ),
    pytest.param(
        changed("models", 2, "pricing", "input", delete=True),
        "models[2] 'openai/text-embedding-3-small': pricing.input: is required for embeddings",
        id="embeddings-without-input-price",
    ),
    pytest.param(
        changed("models", 3, "pricing", to={"input": "5.00"}),
        "models[3] 'openai/dall-e-3': pricing.per_image: is required for images models",
        id="images-without-per-image",
    ),
    pytest.param(
        changed("models", 4, "pricing", to={"per_image": "0.40"}),
        "models[4] 'gemini/veo-3.0-generate-001': pricing.per_video_second: is required for "
        "videos models",
        id="videos-without-per-second",
    ),
    pytest.param(
        changed("models", 0, "pricing", to=None),
        "models[0] 'openai/gpt-4o': pricing: is required",
        id="pricing-missing",
    ),
    pytest.param(
        changed("models", 0, "pricing", "long_context", to={"input": "5.00", "output": "20.00"}),
        "models[0] 'openai/gpt-4o': pricing.long_context.threshold_tokens: is required",
        id="long-context-no-threshold",
    ),
    pytest.param(
        changed(
            "models",
            0,
            "pricing",
            "long_context",
            to={"threshold_tokens": 128000, "input": "5.00", "output": "20.00"},
        ),
        "models[0] 'openai/gpt-4o': pricing.long_context.threshold_tokens: 128000 is not below "
        "context_length 128000",
        id="long-context-threshold-beyond-window",
    ),
    pytest.param(
        changed(
            "models",
            0,
            "pricing",
            "long_context",
            to={"threshold_tokens": 1000, "input": "5.00", "output": "20.00", "cache": "1"},
        ),
        "models[0] 'openai/gpt-4o': pricing.long_context.cache: unknown field",
        id="long-context-unknown-key",
    ),
    pytest.param(
        changed(
            "models",
            0,
            "pricing",
            "long_context",
            to={"threshold_tokens": 1000, "input": "five", "output": "20.00"},
        ),
        "models[0] 'openai/gpt-4o': pricing.long_context.input: 'five' is not a decimal USD",
        id="long-context-bad-price",
    ),
]


@pytest.mark.parametrize(("mutate", "expected"), BAD_CATALOGS)
def test_invalid_catalog_is_rejected_naming_the_entry_and_field(mutate, expected):
    with pytest.raises(CatalogError) as caught:
        parse_catalog(mutate(catalog_data()))

    assert expected in str(caught.value)


# --- loading files ---------------------------------------------------------------------------


VALID_YAML = """\
providers:
  openai: {kind: openai, base_url: https://api.openai.com/v1, secret: openai}
models:
  - id: openai/gpt-4o
    upstream_id: gpt-4o-2024-08-06
    endpoints: [chat]
    released: 2024-08-06
    context_length: 128000
    max_output_tokens: 16384
    pricing: {input: "2.50", output: "10.00"}
"""


def test_load_catalog_reads_a_yaml_file(tmp_path):
    path = tmp_path / "catalog.yaml"
    path.write_text(VALID_YAML)

    catalog = load_catalog(path)

    assert catalog.model("openai/gpt-4o").created == AUG_6_2024_UTC


def test_load_catalog_accepts_a_string_path(tmp_path):
    path = tmp_path / "catalog.yaml"
    path.write_text(VALID_YAML)

    assert list(load_catalog(str(path)).models) == ["openai/gpt-4o"]


def test_yaml_syntax_error_names_the_file_and_line(tmp_path):
    path = tmp_path / "catalog.yaml"
    path.write_text(VALID_YAML + "  - id: [unclosed\n")

    with pytest.raises(CatalogError, match="invalid YAML") as caught:
        load_catalog(path)

    assert str(path) in str(caught.value)
    assert "line 12" in str(caught.value)


def test_duplicate_yaml_keys_are_rejected(tmp_path):
    path = tmp_path / "catalog.yaml"
    path.write_text(
        VALID_YAML.replace(
            "    context_length: 128000\n", "    context_length: 1\n    context_length: 128000\n"
        )
    )

    with pytest.raises(CatalogError, match="duplicate key 'context_length'") as caught:
        load_catalog(path)

    assert str(path) in str(caught.value)


def test_validation_error_in_a_file_names_the_file_and_entry(tmp_path):
    path = tmp_path / "catalog.yaml"
    path.write_text(VALID_YAML.replace('input: "2.50"', "input: 2.50"))

    with pytest.raises(CatalogError) as caught:
        load_catalog(path)

    assert str(caught.value).startswith(f"{path}: models[0] 'openai/gpt-4o': pricing.input:")


def test_missing_file_is_a_catalog_error(tmp_path):
    path = tmp_path / "nope.yaml"

    with pytest.raises(CatalogError, match="cannot read") as caught:
        load_catalog(path)

    assert str(path) in str(caught.value)


def test_empty_file_is_a_catalog_error(tmp_path):
    path = tmp_path / "catalog.yaml"
    path.write_text("")

    with pytest.raises(CatalogError, match="catalog: expected a mapping"):
        load_catalog(path)


def test_a_catalog_compiled_by_the_build_loads_without_yaml(tmp_path, monkeypatch):
    # Given a catalog the build compiled
    path = tmp_path / "catalog.yaml"
    path.write_text(VALID_YAML)
    compiled = compile_catalog(path)

    # When it is loaded where PyYAML's side of the catalog cannot be imported
    monkeypatch.setitem(sys.modules, "tollgate.catalog_yaml", None)
    catalog = load_catalog(path)

    # Then it is the very catalog the YAML says, read from the JSON beside it
    assert compiled == f"{path}.json"
    monkeypatch.delitem(sys.modules, "tollgate.catalog_yaml")
    assert catalog == parse_catalog(yaml.safe_load(VALID_YAML))
    assert catalog.model("openai/gpt-4o").created == AUG_6_2024_UTC


def test_the_bundled_catalog_survives_compiling(tmp_path):
    path = tmp_path / "catalog.yaml"
    path.write_text(Path(DEFAULT_CATALOG_PATH).read_text(encoding="utf-8"))

    compile_catalog(path)

    assert compiled_data(str(path), path.read_text()) is not None
    assert load_catalog(path) == load_catalog(DEFAULT_CATALOG_PATH)


def test_a_catalog_edited_after_the_build_is_read_again_not_its_compiled_copy(tmp_path):
    # Given a compiled catalog whose YAML was edited afterwards
    path = tmp_path / "catalog.yaml"
    path.write_text(VALID_YAML)
    compile_catalog(path)
    path.write_text(VALID_YAML.replace("context_length: 128000", "context_length: 64000"))

    # When it is loaded, then the edit counts
    assert load_catalog(path).model("openai/gpt-4o").context_length == 64000


def test_the_build_refuses_to_compile_an_invalid_catalog(tmp_path):
    path = tmp_path / "catalog.yaml"
    path.write_text(VALID_YAML.replace("kind: openai", "kind: opneai"))

    with pytest.raises(CatalogError, match="kind: 'opneai'"):
        compile_catalog(path)

    assert not (tmp_path / "catalog.yaml.json").exists()


def test_a_video_model_makes_4_6_8_seconds_at_720p_unless_told_otherwise():
    video = parse_catalog(catalog_data()).model("gemini/veo-3.0-generate-001").video

    assert video is not None
    assert video.seconds == (4, 6, 8) and video.prices == {"720p": 400_000_000}
    assert video.sizes == {"720x1280": "720p", "1280x720": "720p"}
    assert (video.default_seconds, video.default_size) == (4, "720x1280")


def test_a_video_models_resolutions_price_each_second():
    data = changed(
        "models", 4, "video", to={"seconds": [8], "resolutions": {"1080p": "0.50", "4k": "0.75"}}
    )(catalog_data())

    video = parse_catalog(data).model("gemini/veo-3.0-generate-001").video

    assert video is not None and video.prices == {"1080p": 500_000_000, "4k": 750_000_000}
    assert video.sizes["3840x2160"] == "4k" and video.default_seconds == 8


@pytest.mark.parametrize(
    ("mutate", "message"),
    [
        (
            changed("models", 4, "video", to={"resolutions": {"8k": "1.00"}}),
            "video.resolutions: '8k' is not one of 1080p, 4k, 720p",
        ),
        (
            changed("models", 4, "video", to={"seconds": [0]}),
            "video.seconds: 0 is not a positive integer",
        ),
        (
            changed("models", 3, "video", to={"seconds": [4]}),
            "video: only videos models take a video entry",
        ),
        (
            changed("providers", "gemini", "kind", to="anthropic"),
            "endpoints: videos is served for gemini, openai, openai_compatible providers only",
        ),
    ],
)
def test_a_bad_video_entry_is_named(mutate, message):
    with pytest.raises(CatalogError, match=re.escape(message)):
        parse_catalog(mutate(catalog_data()))


# --- aliases ---------------------------------------------------------------------------------


def test_a_model_is_found_by_its_alias_and_keeps_its_public_id():
    data = catalog_data()
    data["models"][0]["aliases"] = ["gpt-4o", "gpt-4o-2024-08-06"]

    catalog = parse_catalog(data)

    assert catalog.model("gpt-4o") is catalog.model("openai/gpt-4o")
    assert catalog.model("gpt-4o-2024-08-06").id == "openai/gpt-4o"
    assert catalog.model("openai/gpt-4o").aliases == ("gpt-4o", "gpt-4o-2024-08-06")
    assert catalog.model("gpt-4.1") is None  # no alias, no model


@pytest.mark.parametrize(
    "aliases, expected",
    [
        ("gpt-4o", "aliases: expected a list of names"),
        (["openai/gpt-4o"], "aliases: 'openai/gpt-4o' is not a model name without a provider"),
        (["GPT-4o"], "aliases: 'GPT-4o' is not a model name"),
        ([""], "aliases: '' is not a model name"),
        (["gpt-4o", "gpt-4o"], "aliases: lists a name twice"),
    ],
)
def test_a_bad_alias_is_named(aliases, expected):
    data = catalog_data()
    data["models"][0]["aliases"] = aliases

    with pytest.raises(CatalogError, match=re.escape(f"models[0] 'openai/gpt-4o': {expected}")):
        parse_catalog(data)


def test_an_alias_names_one_model_only():
    data = catalog_data()
    data["models"][0]["aliases"] = ["gpt-4o"]
    data["models"][1]["aliases"] = ["gpt-4o"]

    with pytest.raises(
        CatalogError,
        match=re.escape(
            "models[1] 'openai/gpt-4.1': aliases: 'gpt-4o' is already an alias of "
            "models[0] 'openai/gpt-4o'"
        ),
    ):
        parse_catalog(data)


def test_every_seeded_model_answers_to_its_bare_name(seeded):
    for model in seeded.models.values():
        bare = model.id.split("/", 1)[1]
        assert seeded.model(bare) is model
    assert seeded.model("claude-haiku-4-5-20251001").id == "anthropic/claude-haiku-4-5"
