"""What a key may do: models, endpoints, source networks, expiry, spend cap, rate limits.

Parsed and validated here for the management API (each error names its field), and checked
here on the proxy's hot path (pure functions, no I/O: the hold transaction enforces the
counters). Light imports only: the proxy's cold start pays for this module.
"""

from __future__ import annotations

import fnmatch
import ipaddress
import re
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from typing import Any

from tollgate.errors import BadRequest, Forbidden, Unauthenticated
from tollgate.money import MoneyError, format_usd, parse_usd

ENDPOINTS = (
    "models",
    "chat.completions",
    "messages",
    "embeddings",
    "images.generations",
    "videos",
    "responses",
)
PERIODS = ("day", "month", "lifetime")
MAX_LIST = 50
MAX_TAGS = 20
_MODEL_PATTERN = re.compile(r"^[A-Za-z0-9._:/*?\[\]-]{1,128}$")
_ORIGIN = re.compile(r"https?://[A-Za-z0-9.-]{1,253}(:[0-9]{1,5})?")


@dataclass(frozen=True, slots=True)
class SpendCap:
    """A key's spending limit: at most ``amount`` per ``period``."""

    amount: int  # nano-USD
    period: str  # day, month or lifetime


@dataclass(frozen=True, slots=True)
class KeyPolicy:
    """What a key may do: models, endpoints, source addresses, expiry, spend and rates."""

    environment: str = ""
    allowed_models: tuple[str, ...] | None = None  # None: every model
    allowed_endpoints: tuple[str, ...] | None = None
    allowed_cidrs: tuple[str, ...] | None = None
    expires_at: datetime | None = None
    spend_cap: SpendCap | None = None
    rpm: int | None = None
    tpm: int | None = None
    tags: dict[str, str] = field(default_factory=dict)
    allowed_origins: tuple[str, ...] | None = None  # browser origins (CORS); None: none
    require_no_training: bool = False  # only providers that do not train on API data


POLICY_FIELDS = (
    "environment",
    "allowed_models",
    "allowed_endpoints",
    "allowed_cidrs",
    "expires_at",
    "spend_cap",
    "rate_limit",
    "tags",
    "allowed_origins",
    "require_no_training",
)


def parse_policy(
    body: Mapping[str, Any],
    base: KeyPolicy,
    *,
    now: datetime,
    aliases: Mapping[str, str] | None = None,
) -> KeyPolicy:
    """``base`` updated with the policy fields present in ``body`` (null clears a field);
    ``aliases`` (the catalog's, alias -> public id) turn a model's alias into its id."""
    changes: dict[str, Any] = {}
    if "environment" in body:
        changes["environment"] = _text(body["environment"], "environment", 64)
    for name in ("allowed_models", "allowed_endpoints", "allowed_cidrs", "allowed_origins"):
        if name in body:
            changes[name] = _LIST_PARSERS[name](body[name], name)
    if changes.get("allowed_models"):
        changes["allowed_models"] = _public_ids(changes["allowed_models"], aliases or {})
    if "expires_at" in body:
        changes["expires_at"] = _expiry(body["expires_at"], now)
    if "spend_cap" in body:
        changes["spend_cap"] = _spend_cap(body["spend_cap"])
    if "rate_limit" in body:
        changes["rpm"], changes["tpm"] = _rate_limit(body["rate_limit"])
    if "tags" in body:
        changes["tags"] = _tags(body["tags"])
    if "require_no_training" in body:
        if not isinstance(body["require_no_training"], bool):
            raise BadRequest(
                "'require_no_training' must be true or false.", param="require_no_training"
            )
        changes["require_no_training"] = body["require_no_training"]
    return replace(base, **changes)


def policy_view(policy: KeyPolicy) -> dict[str, Any]:
    cap = policy.spend_cap
    return {
        "environment": policy.environment,
        "allowed_models": list(policy.allowed_models) if policy.allowed_models else None,
        "allowed_endpoints": list(policy.allowed_endpoints) if policy.allowed_endpoints else None,
        "allowed_cidrs": list(policy.allowed_cidrs) if policy.allowed_cidrs else None,
        "expires_at": int(policy.expires_at.timestamp()) if policy.expires_at else None,
        "spend_cap": {"amount_usd": format_usd(cap.amount), "period": cap.period} if cap else None,
        "rate_limit": {"rpm": policy.rpm, "tpm": policy.tpm} if policy.rpm or policy.tpm else None,
        "tags": dict(policy.tags),
        "allowed_origins": list(policy.allowed_origins) if policy.allowed_origins else None,
        "require_no_training": policy.require_no_training,
    }


# -- enforcement on the hot path --------------------------------------------------------------


def check_expiry(policy: KeyPolicy, now: datetime) -> None:
    if policy.expires_at is not None and policy.expires_at <= now:
        raise Unauthenticated("This API key has expired.", code="key_expired")


def check_endpoint(policy: KeyPolicy, endpoint: str) -> None:
    if policy.allowed_endpoints is not None and endpoint not in policy.allowed_endpoints:
        raise Forbidden(
            f"This API key may not use the {endpoint} endpoint.", code="endpoint_not_allowed"
        )


def allows_model(policy: KeyPolicy, model_id: str) -> bool:
    if policy.allowed_models is None:
        return True
    return any(fnmatch.fnmatchcase(model_id, pattern) for pattern in policy.allowed_models)


def check_model(policy: KeyPolicy, model_id: str) -> None:
    if not allows_model(policy, model_id):
        raise Forbidden(
            f"This API key may not use the model '{model_id}'.",
            code="model_not_allowed",
            param="model",
        )


def allows_provider(policy: KeyPolicy, *, no_training: bool) -> bool:
    """A ``require_no_training`` key uses only providers marked ``no_training``."""
    return no_training or not policy.require_no_training


def check_provider(policy: KeyPolicy, model_id: str, *, no_training: bool) -> None:
    if not allows_provider(policy, no_training=no_training):
        raise Forbidden(
            f"This API key may only use providers that do not train on API data; the provider "
            f"of '{model_id}' is not marked so in the catalog.",
            code="model_not_allowed",
            param="model",
        )


def check_source_ip(policy: KeyPolicy, source_ip: str) -> None:
    if policy.allowed_cidrs is None:
        return
    try:
        address = ipaddress.ip_address(source_ip)
    except ValueError:
        address = None
    networks = (ipaddress.ip_network(cidr) for cidr in policy.allowed_cidrs)
    if address is None or not any(address in network for network in networks):
        raise Forbidden("This API key may not be used from this address.", code="ip_not_allowed")


def spend_period(cap: SpendCap, at: datetime) -> str:
    """The counter a charge at ``at`` belongs to: the UTC day, the UTC month, or lifetime."""
    at = at.astimezone(UTC)
    if cap.period == "day":
        return at.strftime("%Y-%m-%d")
    if cap.period == "month":
        return at.strftime("%Y-%m")
    return "lifetime"


# -- parsing -------------------------------------------------------------------------------------


def _text(value: Any, name: str, limit: int) -> str:
    if value is None:
        return ""
    if not isinstance(value, str) or len(value) > limit:
        raise BadRequest(f"'{name}' must be a string of at most {limit} characters.", param=name)
    return value.strip()


def _string_list(value: Any, name: str) -> list[str] | None:
    if value is None:
        return None
    if not isinstance(value, list) or not value or len(value) > MAX_LIST:
        raise BadRequest(
            f"'{name}' must be a non-empty list of at most {MAX_LIST} strings, or null.",
            param=name,
        )
    if not all(isinstance(item, str) and item for item in value):
        raise BadRequest(f"'{name}' must hold non-empty strings.", param=name)
    return value


def _models(value: Any, name: str) -> tuple[str, ...] | None:
    items = _string_list(value, name)
    if items is None:
        return None
    for item in items:
        if not _MODEL_PATTERN.match(item):
            raise BadRequest(f"'{name}': '{item}' is not a model id or glob.", param=name)
    return tuple(items)


def _public_ids(patterns: tuple[str, ...], aliases: Mapping[str, str]) -> tuple[str, ...]:
    """The proxy checks a policy against public ids (``provider/model``), never the name a
    client called: an alias is kept as the id it names today (an operator who later points
    the alias elsewhere widens no key), and a bare name no id can match is refused."""
    resolved = tuple(dict.fromkeys(aliases.get(pattern, pattern) for pattern in patterns))
    for pattern in resolved:
        if "/" not in pattern and "*" not in pattern:
            raise BadRequest(
                f"'allowed_models': '{pattern}' is no model id of this gateway: ids name "
                "their provider, as in 'openai/gpt-4o-mini', and patterns match ids "
                "('openai/*').",
                param="allowed_models",
            )
    return resolved


def _endpoints(value: Any, name: str) -> tuple[str, ...] | None:
    items = _string_list(value, name)
    if items is None:
        return None
    unknown = sorted(set(items) - set(ENDPOINTS))
    if unknown:
        raise BadRequest(
            f"'{name}': unknown endpoint(s) {', '.join(unknown)}; known: {', '.join(ENDPOINTS)}.",
            param=name,
        )
    return tuple(items)


def _cidrs(value: Any, name: str) -> tuple[str, ...] | None:
    items = _string_list(value, name)
    if items is None:
        return None
    networks = []
    for item in items:
        try:
            networks.append(str(ipaddress.ip_network(item, strict=False)))
        except ValueError:
            raise BadRequest(
                f"'{name}': '{item}' is not an IPv4 or IPv6 network.", param=name
            ) from None
    return tuple(networks)


def _origins(value: Any, name: str) -> tuple[str, ...] | None:
    """Exact browser origins (scheme://host[:port]); never ``*``: a key is a credential."""
    items = _string_list(value, name)
    if items is None:
        return None
    for item in items:
        if not _ORIGIN.fullmatch(item):
            raise BadRequest(
                f"'{name}': '{item}' is not an origin like https://app.example.com "
                "(scheme, host and port only; no wildcard).",
                param=name,
            )
    return tuple(item.lower() for item in items)


_LIST_PARSERS = {
    "allowed_models": _models,
    "allowed_endpoints": _endpoints,
    "allowed_cidrs": _cidrs,
    "allowed_origins": _origins,
}


def _expiry(value: Any, now: datetime) -> datetime | None:
    if value is None:
        return None
    try:
        if isinstance(value, bool):
            raise ValueError
        if isinstance(value, int):
            moment = datetime.fromtimestamp(value, UTC)
        elif isinstance(value, str):
            moment = datetime.fromisoformat(value.replace("Z", "+00:00"))
        else:
            raise ValueError
    except (ValueError, OverflowError, OSError):
        raise BadRequest(
            "'expires_at' must be unix seconds or an ISO 8601 time.", param="expires_at"
        ) from None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    if moment <= now:
        raise BadRequest("'expires_at' must be in the future.", param="expires_at")
    return moment


def _spend_cap(value: Any) -> SpendCap | None:
    if value is None:
        return None
    if not isinstance(value, Mapping) or set(value) - {"amount_usd", "period"}:
        raise BadRequest(
            "'spend_cap' must be an object with 'amount_usd' and 'period'.", param="spend_cap"
        )
    amount_text = value.get("amount_usd", "")  # parse_usd refuses anything but a string
    try:
        amount = parse_usd(str(amount_text) if isinstance(amount_text, int) else amount_text)
    except MoneyError:
        raise BadRequest(
            "'spend_cap.amount_usd' must be a decimal USD amount such as '25.00'.",
            param="spend_cap.amount_usd",
        ) from None
    if amount <= 0:
        raise BadRequest("'spend_cap.amount_usd' must be above zero.", param="spend_cap.amount_usd")
    period = value.get("period")
    if period not in PERIODS:
        raise BadRequest(
            f"'spend_cap.period' must be one of: {', '.join(PERIODS)}.", param="spend_cap.period"
        )
    return SpendCap(amount, period)


def _rate_limit(value: Any) -> tuple[int | None, int | None]:
    if value is None:
        return None, None
    if not isinstance(value, Mapping) or not value or set(value) - {"rpm", "tpm"}:
        raise BadRequest(
            "'rate_limit' must be an object with 'rpm' and/or 'tpm'.", param="rate_limit"
        )
    limits = []
    for name in ("rpm", "tpm"):
        limit = value.get(name)
        if limit is not None and (
            isinstance(limit, bool) or not isinstance(limit, int) or not 1 <= limit <= 10**9
        ):
            raise BadRequest(
                f"'rate_limit.{name}' must be a positive integer.", param=f"rate_limit.{name}"
            )
        limits.append(limit)
    return limits[0], limits[1]


def _tags(value: Any) -> dict[str, str]:
    if value is None:
        return {}
    if (
        not isinstance(value, Mapping)
        or len(value) > MAX_TAGS
        or not all(
            isinstance(k, str) and isinstance(v, str) and 0 < len(k) <= 64 and len(v) <= 256
            for k, v in value.items()
        )
    ):
        raise BadRequest(
            f"'tags' must be an object of at most {MAX_TAGS} string values.", param="tags"
        )
    return dict(value)
