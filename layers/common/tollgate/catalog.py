"""The model catalog: providers, public model ids, upstream ids, limits, prices and fallbacks.

Loaded once per container at cold start from ``catalog.yaml`` beside this module. Every entry is
validated strictly (unknown keys, duplicate keys and typos are errors naming the entry and field),
and every price is converted to integer nano-USD with ``tollgate.money.parse_usd``.

The build compiles the YAML to JSON beside it (``tollgate.catalog_yaml``): a cold start that
finds the compiled copy of this very file reads that, without importing PyYAML or running its
parser (about a third of the proxy's import), and validates it all the same.
"""

import datetime as dt
import functools
import hashlib
import json
import os
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TypeGuard
from urllib.parse import urlsplit

from tollgate.money import MoneyError, parse_usd

DEFAULT_CATALOG_PATH = os.path.join(os.path.dirname(os.path.abspath(__file__)), "catalog.yaml")
COMPILED_SUFFIX = ".json"  # catalog.yaml.json: made by the build from catalog.yaml

ENDPOINTS = frozenset({"chat", "embeddings", "images", "videos"})
PROVIDER_KINDS = frozenset({"anthropic", "gemini", "openai", "openai_compatible"})
VIDEO_PROVIDER_KINDS = frozenset({"gemini", "openai", "openai_compatible"})

# The prices an endpoint cannot be billed without.
REQUIRED_PRICES = {
    "chat": ("input", "output"),
    "embeddings": ("input",),
    "images": ("per_image",),
    "videos": ("per_video_second",),
}

_PROVIDER_KEYS = {"kind", "base_url", "secret", "no_training"}
_MODEL_KEYS = {
    "id",
    "upstream_id",
    "endpoints",
    "released",
    "context_length",
    "max_output_tokens",
    "pricing",
    "fallbacks",
    "video",
    "aliases",
}
_VIDEO_KEYS = {"seconds", "resolutions", "retention_hours"}
# Each resolution in both orientations, as OpenAI's Videos API names sizes (width x height).
VIDEO_SIZES = {
    "720p": ("720x1280", "1280x720"),
    "1080p": ("1080x1920", "1920x1080"),
    "4k": ("2160x3840", "3840x2160"),
}
DEFAULT_VIDEO_SECONDS = (4, 6, 8)
DEFAULT_VIDEO_RETENTION_HOURS = 48  # how long the provider keeps a generated file
_PRICE_KEYS = ("input", "output", "cached_input", "cache_write", "per_image", "per_video_second")
_LONG_CONTEXT_KEYS = {"threshold_tokens", "input", "output", "cached_input"}

_PROVIDER_NAME = re.compile(r"[a-z0-9][a-z0-9_-]*")
_MODEL_ID = re.compile(r"([a-z0-9][a-z0-9_-]*)/([a-z0-9][a-z0-9._:-]*)")
_ALIAS = re.compile(r"[a-z0-9][a-z0-9._:-]*")  # a model id's own part: no provider prefix
_NO_WHITESPACE = re.compile(r"\S+")


class CatalogError(ValueError):
    """The catalog is invalid; the message names the file, entry and field."""


@dataclass(frozen=True)
class Provider:
    """An upstream API: its kind, base URL and the name of its key in the secret."""

    name: str
    kind: str
    base_url: str
    secret: str | None  # entry in the provider-keys secret; None: no key (openai_compatible only)
    no_training: bool = False  # its terms say API data is not used for training


@dataclass(frozen=True)
class LongContextPricing:
    """Prices that replace the base ones when the prompt exceeds ``threshold_tokens``."""

    threshold_tokens: int
    input: int
    output: int
    cached_input: int | None


@dataclass(frozen=True)
class Pricing:
    """Nano-USD per 1M tokens (input, output, cached_input, cache_write), per image, or per
    video second; None where the model has no such price."""

    input: int | None = None
    output: int | None = None
    cached_input: int | None = None
    cache_write: int | None = None
    per_image: int | None = None
    per_video_second: int | None = None
    long_context: LongContextPricing | None = None


@dataclass(frozen=True)
class VideoSpec:
    """What a video model makes: clip lengths, resolutions with their nano-USD per second,
    and how long its provider keeps a generated file for download."""

    seconds: tuple[int, ...]
    prices: dict[str, int]  # resolution (720p, 1080p, 4k) -> nano-USD per second
    retention_hours: int = DEFAULT_VIDEO_RETENTION_HOURS

    @property
    def sizes(self) -> dict[str, str]:
        """Each size (e.g. 1280x720) the model makes, with its resolution."""
        return {size: res for res in self.prices for size in VIDEO_SIZES[res]}

    @property
    def default_size(self) -> str:
        return next(iter(self.sizes))

    @property
    def default_seconds(self) -> int:
        return 4 if 4 in self.seconds else min(self.seconds)


@dataclass(frozen=True)
class Model:
    """A model of the catalog: its provider, endpoints, limits and prices."""

    id: str
    provider: str
    upstream_id: str
    endpoints: frozenset[str]
    created: int
    context_length: int
    max_output_tokens: int | None
    pricing: Pricing
    fallbacks: tuple[str, ...] = ()
    video: VideoSpec | None = None  # set for every videos model
    aliases: tuple[str, ...] = ()  # other names clients may call it by (gpt-4o-mini)

    def supports(self, endpoint: str) -> bool:
        return endpoint in self.endpoints


@dataclass(frozen=True)
class Catalog:
    """The providers and models the gateway serves, by name and by id."""

    providers: dict[str, Provider]
    models: dict[str, Model]
    aliases: dict[str, str] = field(default_factory=dict)  # alias -> public model id

    def model(self, id_or_alias: str) -> Model | None:
        """The model of a public id or of one of its aliases."""
        model = self.models.get(id_or_alias)
        if model is None and id_or_alias in self.aliases:
            model = self.models[self.aliases[id_or_alias]]
        return model

    def provider_of(self, model: Model) -> Provider:
        return self.providers[model.provider]

    def routes(self, model: Model) -> list[Model]:
        """The model followed by its fallbacks, in the order they are tried."""
        return [model, *(self.models[fallback] for fallback in model.fallbacks)]


def load_catalog(path: str | os.PathLike[str] | None = None) -> Catalog:
    """Read, parse and validate a catalog file (the bundled one by default)."""
    path = os.fspath(DEFAULT_CATALOG_PATH if path is None else path)
    try:
        with open(path, encoding="utf-8") as file:
            text = file.read()
    except OSError as exc:
        raise CatalogError(f"{path}: cannot read the catalog: {exc.strerror or exc}") from exc
    data = compiled_data(path, text)
    if data is None:
        from tollgate import catalog_yaml

        data = catalog_yaml.load(path, text)
    try:
        return parse_catalog(data)
    except CatalogError as exc:
        raise CatalogError(f"{path}: {exc}") from exc


@functools.cache
def aliases_of(path: str | None) -> Mapping[str, str]:
    """The catalog's aliases (alias -> public id), read once per container."""
    return load_catalog(path).aliases


def source_digest(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def compiled_data(path: str, text: str) -> object | None:
    """The data compiled from ``text`` beside ``path``; None when there is none, or when it was
    compiled from another text (the YAML is the source of truth: edited, it is read again)."""
    try:
        with open(path + COMPILED_SUFFIX, encoding="utf-8") as file:
            compiled = json.load(file)
    except (OSError, ValueError):
        return None
    if not isinstance(compiled, dict) or compiled.get("source_sha256") != source_digest(text):
        return None
    return compiled.get("catalog")


def parse_catalog(data: object) -> Catalog:
    """Validate already-loaded catalog data (a mapping with providers and models)."""
    if not isinstance(data, Mapping):
        raise CatalogError(f"catalog: expected a mapping, got {_type_name(data)}")
    _reject_unknown("catalog", data, {"providers", "models"})
    for key in ("providers", "models"):
        if key not in data:
            raise CatalogError(f"catalog: {key}: is required")

    raw_providers = data["providers"]
    if not isinstance(raw_providers, Mapping) or not raw_providers:
        raise CatalogError("catalog: providers: expected a non-empty mapping of name to provider")
    providers = {}
    for name, raw in raw_providers.items():
        provider = _parse_provider(name, raw)
        providers[provider.name] = provider

    raw_models = data["models"]
    if not isinstance(raw_models, list):
        raise CatalogError(f"catalog: models: expected a list, got {_type_name(raw_models)}")
    models: dict[str, Model] = {}
    entries: dict[str, str] = {}
    for index, raw in enumerate(raw_models):
        model = _parse_model(index, raw, providers)
        if model.id in models:
            raise CatalogError(
                f"{_model_entry(index, model.id)}: id: duplicate of {entries[model.id]}"
            )
        models[model.id] = model
        entries[model.id] = _model_entry(index, model.id)

    for model in models.values():
        _check_fallbacks(model, models, entries[model.id])
    return Catalog(providers=providers, models=models, aliases=_alias_index(models, entries))


# --- providers -------------------------------------------------------------------------------


def _parse_provider(name: object, raw: object) -> Provider:
    entry = f"providers {name!r}"
    if not isinstance(name, str) or not _PROVIDER_NAME.fullmatch(name):
        raise CatalogError(
            f"{entry}: name must be lowercase letters, digits, '-' or '_' (it prefixes model ids)"
        )
    if not isinstance(raw, Mapping):
        raise CatalogError(f"{entry}: expected a mapping, got {_type_name(raw)}")
    _reject_unknown(entry, raw, _PROVIDER_KEYS)

    kind = _required(entry, raw, "kind")
    if not isinstance(kind, str) or kind not in PROVIDER_KINDS:
        raise CatalogError(f"{entry}: kind: {kind!r} is not one of {_one_of(PROVIDER_KINDS)}")

    base_url = _required(entry, raw, "base_url")
    if not _is_http_url(base_url):
        raise CatalogError(f"{entry}: base_url: {base_url!r} is not an http(s) URL")

    secret = raw.get("secret")
    if secret is None:
        if kind != "openai_compatible":
            raise CatalogError(f"{entry}: secret: is required for kind {kind!r}")
    elif not isinstance(secret, str) or not _NO_WHITESPACE.fullmatch(secret):
        raise CatalogError(f"{entry}: secret: {secret!r} is not a secret entry name")

    no_training = raw.get("no_training", False)
    if not isinstance(no_training, bool):
        raise CatalogError(f"{entry}: no_training: {no_training!r} is not true or false")

    return Provider(
        name=name,
        kind=kind,
        base_url=base_url.rstrip("/"),
        secret=secret,
        no_training=no_training,
    )


def _is_http_url(value: object) -> TypeGuard[str]:
    if not isinstance(value, str) or not _NO_WHITESPACE.fullmatch(value):
        return False
    try:
        parts = urlsplit(value)
    except ValueError:
        return False
    return (
        parts.scheme in ("http", "https")
        and bool(parts.hostname)
        and not parts.query
        and not parts.fragment
    )


# --- models ----------------------------------------------------------------------------------


def _parse_model(index: int, raw: object, providers: dict[str, Provider]) -> Model:
    if not isinstance(raw, Mapping):
        raise CatalogError(f"models[{index}]: expected a mapping, got {_type_name(raw)}")
    model_id = raw.get("id")
    entry = _model_entry(index, model_id)
    _reject_unknown(entry, raw, _MODEL_KEYS)

    model_id = _required(entry, raw, "id")
    if not isinstance(model_id, str) or (match := _MODEL_ID.fullmatch(model_id)) is None:
        raise CatalogError(
            f"{entry}: id: {model_id!r} is not '<provider>/<model>' "
            "(lowercase letters, digits and - _ . :)"
        )
    provider = match.group(1)
    if provider not in providers:
        raise CatalogError(f"{entry}: id: provider {provider!r} is not one of {_one_of(providers)}")

    upstream_id = _required(entry, raw, "upstream_id")
    if not isinstance(upstream_id, str) or not _NO_WHITESPACE.fullmatch(upstream_id):
        raise CatalogError(f"{entry}: upstream_id: {upstream_id!r} is not a model name")

    endpoints = _parse_endpoints(entry, _required(entry, raw, "endpoints"))
    created = _parse_released(entry, _required(entry, raw, "released"))
    context_length = _positive_int(entry, "context_length", _required(entry, raw, "context_length"))

    max_output_tokens = raw.get("max_output_tokens")
    if max_output_tokens is None:
        if "chat" in endpoints:
            raise CatalogError(f"{entry}: max_output_tokens: is required for chat models")
    else:
        max_output_tokens = _positive_int(entry, "max_output_tokens", max_output_tokens)

    pricing = _parse_pricing(entry, _required(entry, raw, "pricing"), endpoints)
    if pricing.long_context and pricing.long_context.threshold_tokens >= context_length:
        raise CatalogError(
            f"{entry}: pricing.long_context.threshold_tokens: "
            f"{pricing.long_context.threshold_tokens} is not below context_length {context_length}"
        )

    fallbacks = raw.get("fallbacks", [])
    if not isinstance(fallbacks, list) or not all(isinstance(f, str) for f in fallbacks):
        raise CatalogError(f"{entry}: fallbacks: expected a list of model ids")

    video = None
    if "videos" in endpoints and providers[provider].kind not in VIDEO_PROVIDER_KINDS:
        raise CatalogError(
            f"{entry}: endpoints: videos is served for {_one_of(VIDEO_PROVIDER_KINDS)} "
            "providers only"
        )
    if "videos" in endpoints:
        video = _parse_video(entry, raw.get("video") or {}, pricing)
    elif raw.get("video") is not None:
        raise CatalogError(f"{entry}: video: only videos models take a video entry")

    aliases = _parse_aliases(entry, raw.get("aliases", []))

    return Model(
        id=model_id,
        provider=provider,
        upstream_id=upstream_id,
        endpoints=endpoints,
        created=created,
        context_length=context_length,
        max_output_tokens=max_output_tokens,
        pricing=pricing,
        fallbacks=tuple(fallbacks),
        video=video,
        aliases=aliases,
    )


def _parse_aliases(entry: str, value: object) -> tuple[str, ...]:
    if not isinstance(value, list):
        raise CatalogError(f"{entry}: aliases: expected a list of names")
    for alias in value:
        if not isinstance(alias, str) or not _ALIAS.fullmatch(alias):
            raise CatalogError(
                f"{entry}: aliases: {alias!r} is not a model name without a provider "
                "(lowercase letters, digits and - _ . :)"
            )
    if len(set(value)) != len(value):
        raise CatalogError(f"{entry}: aliases: lists a name twice")
    return tuple(value)


def _alias_index(models: dict[str, Model], entries: dict[str, str]) -> dict[str, str]:
    """Each alias with its model's id; an alias names one model, never a public id."""
    index: dict[str, str] = {}
    for model in models.values():
        for alias in model.aliases:
            if alias in index:
                raise CatalogError(
                    f"{entries[model.id]}: aliases: {alias!r} is already an alias of "
                    f"{entries[index[alias]]}"
                )
            index[alias] = model.id
    return index


def _parse_video(entry: str, value: object, pricing: Pricing) -> VideoSpec:
    """Clip lengths (default 4, 6, 8 s) and per-second prices by resolution (default: 720p at
    ``pricing.per_video_second``)."""
    if not isinstance(value, Mapping):
        raise CatalogError(f"{entry}: video: expected a mapping, got {_type_name(value)}")
    _reject_unknown(entry, value, _VIDEO_KEYS, prefix="video.")
    seconds = value.get("seconds", list(DEFAULT_VIDEO_SECONDS))
    if not isinstance(seconds, list) or not seconds:
        raise CatalogError(f"{entry}: video.seconds: expected a list of clip lengths")
    for length in seconds:
        _positive_int(entry, "video.seconds", length)
    raw_prices = value.get("resolutions") or {"720p": None}
    if not isinstance(raw_prices, Mapping):
        raise CatalogError(f"{entry}: video.resolutions: expected a mapping of resolution to price")
    prices: dict[str, int] = {}
    for resolution, raw_price in raw_prices.items():
        if resolution not in VIDEO_SIZES:
            raise CatalogError(
                f"{entry}: video.resolutions: {resolution!r} is not one of {_one_of(VIDEO_SIZES)}"
            )
        price = _price(entry, f"video.resolutions.{resolution}", raw_price)
        prices[resolution] = price if price is not None else pricing.per_video_second or 0
    retention = _positive_int(
        entry,
        "video.retention_hours",
        value.get("retention_hours", DEFAULT_VIDEO_RETENTION_HOURS),
    )
    return VideoSpec(tuple(sorted(seconds)), prices, retention)


def _parse_endpoints(entry: str, value: object) -> frozenset[str]:
    if not isinstance(value, list) or not value:
        raise CatalogError(f"{entry}: endpoints: expected a non-empty list of {_one_of(ENDPOINTS)}")
    for endpoint in value:
        if not isinstance(endpoint, str) or endpoint not in ENDPOINTS:
            raise CatalogError(
                f"{entry}: endpoints: {endpoint!r} is not one of {_one_of(ENDPOINTS)}"
            )
    if len(set(value)) != len(value):
        raise CatalogError(f"{entry}: endpoints: lists an endpoint twice")
    return frozenset(value)


def _parse_released(entry: str, value: object) -> int:
    """A release date (YAML date or 'YYYY-MM-DD') as unix seconds at UTC midnight."""
    date = value
    if isinstance(value, str) and re.fullmatch(r"[0-9]{4}-[0-9]{2}-[0-9]{2}", value):
        try:
            date = dt.date.fromisoformat(value)
        except ValueError:
            date = None
    if not isinstance(date, dt.date) or isinstance(date, dt.datetime):
        raise CatalogError(f"{entry}: released: {value!r} is not a date like 2024-08-06")
    midnight = dt.datetime(date.year, date.month, date.day, tzinfo=dt.UTC)
    return int(midnight.timestamp())


def _parse_pricing(entry: str, value: object, endpoints: frozenset[str]) -> Pricing:
    if not isinstance(value, Mapping):
        raise CatalogError(f"{entry}: pricing: expected a mapping, got {_type_name(value)}")
    _reject_unknown(entry, value, {*_PRICE_KEYS, "long_context"}, prefix="pricing.")
    prices = {key: _price(entry, f"pricing.{key}", value.get(key)) for key in _PRICE_KEYS}
    for endpoint in sorted(endpoints):
        for key in REQUIRED_PRICES[endpoint]:
            if prices[key] is None:
                raise CatalogError(f"{entry}: pricing.{key}: is required for {endpoint} models")
    long_context = None
    if value.get("long_context") is not None:
        long_context = _parse_long_context(entry, value["long_context"])
    return Pricing(**prices, long_context=long_context)


def _parse_long_context(entry: str, value: object) -> LongContextPricing:
    field = "pricing.long_context"
    if not isinstance(value, Mapping):
        raise CatalogError(f"{entry}: {field}: expected a mapping, got {_type_name(value)}")
    _reject_unknown(entry, value, _LONG_CONTEXT_KEYS, prefix=f"{field}.")
    for key in ("threshold_tokens", "input", "output"):
        if value.get(key) is None:
            raise CatalogError(f"{entry}: {field}.{key}: is required")
    return LongContextPricing(
        threshold_tokens=_positive_int(
            entry, f"{field}.threshold_tokens", value["threshold_tokens"]
        ),
        input=_required_price(entry, f"{field}.input", value["input"]),
        output=_required_price(entry, f"{field}.output", value["output"]),
        cached_input=_price(entry, f"{field}.cached_input", value.get("cached_input")),
    )


def _price(entry: str, field: str, value: object) -> int | None:
    if value is None:
        return None
    if not isinstance(value, str):
        raise CatalogError(
            f'{entry}: {field}: {value!r} must be a quoted decimal string like "2.50" '
            "(YAML numbers are floats)"
        )
    try:
        return parse_usd(value)
    except MoneyError as exc:
        raise CatalogError(f"{entry}: {field}: {exc}") from exc


def _required_price(entry: str, field: str, value: object) -> int:
    price = _price(entry, field, value)
    if price is None:
        raise CatalogError(f"{entry}: {field}: is required")
    return price


def _check_fallbacks(model: Model, models: dict[str, Model], entry: str) -> None:
    seen = set()
    for index, fallback_id in enumerate(model.fallbacks):
        field = f"fallbacks[{index}]"
        if fallback_id == model.id:
            raise CatalogError(f"{entry}: {field}: a model cannot be its own fallback")
        if fallback_id in seen:
            raise CatalogError(f"{entry}: {field}: {fallback_id!r} is listed twice")
        seen.add(fallback_id)
        fallback = models.get(fallback_id)
        if fallback is None:
            raise CatalogError(f"{entry}: {field}: {fallback_id!r} is not a model in the catalog")
        missing = model.endpoints - fallback.endpoints
        if missing:
            raise CatalogError(
                f"{entry}: {field}: {fallback_id!r} does not support {_one_of(missing)}"
            )


# --- helpers ---------------------------------------------------------------------------------


def _model_entry(index: int, model_id: object) -> str:
    return f"models[{index}] {model_id!r}" if isinstance(model_id, str) else f"models[{index}]"


def _required(entry: str, raw: Mapping, key: str) -> object:
    value = raw.get(key)
    if value is None:
        raise CatalogError(f"{entry}: {key}: is required")
    return value


def _reject_unknown(entry: str, raw: Mapping, allowed: set[str], *, prefix: str = "") -> None:
    unknown = [key for key in raw if key not in allowed]
    if unknown:
        raise CatalogError(
            f"{entry}: {prefix}{unknown[0]}: unknown field (expected one of {_one_of(allowed)})"
        )


def _positive_int(entry: str, field: str, value: object) -> int:
    if not isinstance(value, int) or isinstance(value, bool) or value <= 0:
        raise CatalogError(f"{entry}: {field}: {value!r} is not a positive integer")
    return value


def _one_of(values) -> str:
    return ", ".join(sorted(values))


def _type_name(value: object) -> str:
    return "nothing" if value is None else type(value).__name__
