"""Everything the proxy builds once per container: catalog, AWS clients, caches."""

from __future__ import annotations

import json
import os
import threading
import time
from collections.abc import Mapping
from dataclasses import dataclass

from tollgate import clock, key_policy
from tollgate.aws import AwsError, AwsJsonClient, Credentials, dynamodb_client, secrets_client
from tollgate.catalog import Catalog, Provider, load_catalog
from tollgate.errors import Forbidden, InternalError, Unauthenticated
from tollgate.proxy.upstream import UpstreamClient
from tollgate.secret_keys import digest as secret_digest
from tollgate.settings import Settings
from tollgate.store.hotpath import HotPath, KeyRecord, Tables, account_suspended

KEY_CACHE_SECONDS = 60.0
LOOKUP_STRIPES = 64  # locks shared by digests, so memory stays bounded whatever is presented


class KeyCache:
    """Key records by secret digest for a minute. A cached record is never trusted alone: the
    hold transaction proves it current (key at the same revision, secret still good, account
    still active), and a route without a hold asks for a ``fresh`` read. Only a record of an
    active key of an active account is kept, so a reinstated account is served at once."""

    def __init__(self, hotpath: HotPath, ttl: float = KEY_CACHE_SECONDS) -> None:
        self.hotpath = hotpath
        self.ttl = ttl
        self._records: dict[str, tuple[float, KeyRecord]] = {}
        self._lookups = [threading.Lock() for _ in range(LOOKUP_STRIPES)]

    def resolve(self, secret: str, *, fresh: bool = False) -> KeyRecord:
        digest = secret_digest(secret)
        if fresh:
            return self._look_up(digest)
        cached = self._cached(digest)
        if cached is not None:
            return cached
        with self._lookup_lock(digest):  # a burst on a cold key reads it once, not per request
            return self._cached(digest) or self._look_up(digest)

    def _cached(self, digest: str) -> KeyRecord | None:
        cached = self._records.get(digest)
        return cached[1] if cached and cached[0] > time.monotonic() else None

    def _lookup_lock(self, digest: str) -> threading.Lock:
        return self._lookups[int(digest[:8], 16) % LOOKUP_STRIPES]

    def _look_up(self, digest: str) -> KeyRecord:
        self._records.pop(digest, None)
        record = self.hotpath.find_key(digest)
        if record is None:
            raise Unauthenticated("Invalid API key.", code="invalid_api_key")
        if record.status == "active" and record.account_status == "active":
            self._records[digest] = (time.monotonic() + self.ttl, record)
        return record

    def forget(self, secret: str) -> None:
        self._records.pop(secret_digest(secret), None)


class ProviderKeys:
    """The provider-keys secret (a JSON object), re-read at most every ``max_age`` seconds."""

    def __init__(self, secrets: AwsJsonClient, secret_id: str, max_age: float) -> None:
        self.secrets = secrets
        self.secret_id = secret_id
        self.max_age = max_age
        self._lock = threading.Lock()
        self._value: tuple[float, dict[str, str]] | None = None

    def for_provider(self, provider: Provider) -> str:
        if provider.secret is None:
            return ""
        key = self._current().get(provider.secret)
        if not key:
            raise InternalError(f"No API key is configured for provider '{provider.name}'.")
        return key

    def _current(self) -> dict[str, str]:
        with self._lock:
            if self._value is None or self._value[0] < time.monotonic():
                self._value = (time.monotonic() + self.max_age, self._load())
            return self._value[1]

    def _load(self) -> dict[str, str]:
        try:
            answer = self.secrets.call("GetSecretValue", {"SecretId": self.secret_id})
            value = json.loads(answer["SecretString"])
        except (AwsError, KeyError, ValueError) as error:
            raise InternalError("The provider keys could not be read.") from error
        return value if isinstance(value, dict) else {}


@dataclass
class Runtime:
    """What the proxy's routes share for the life of the process."""

    settings: Settings
    catalog: Catalog
    hotpath: HotPath
    key_cache: KeyCache
    provider_keys: ProviderKeys
    upstream: UpstreamClient

    @classmethod
    def from_settings(cls, settings: Settings, env: Mapping[str, str] = os.environ) -> Runtime:
        credentials = Credentials.from_env(env)
        endpoint = settings.aws_endpoint_url
        timeout = settings.aws_timeout_seconds
        dynamodb = dynamodb_client(settings.region, credentials, endpoint, timeout=timeout)
        secrets = secrets_client(settings.region, credentials, endpoint, timeout=timeout)
        hotpath = HotPath(dynamodb, Tables.of(settings))
        return cls(
            settings=settings,
            catalog=load_catalog(settings.catalog_path),
            hotpath=hotpath,
            key_cache=KeyCache(hotpath),
            provider_keys=ProviderKeys(
                secrets, settings.provider_keys_secret, settings.secrets_max_age_seconds
            ),
            upstream=UpstreamClient(
                connect_timeout=settings.upstream_connect_timeout_seconds,
                read_timeout=settings.upstream_read_timeout_seconds,
            ),
        )

    def authenticate(self, secret: str | None, *, fresh: bool = False) -> KeyRecord:
        """The key behind ``secret``, from the cache unless ``fresh`` (then read anew)."""
        if secret is None:
            raise Unauthenticated(
                "Missing API key. Send it as 'Authorization: Bearer <key>' or 'x-api-key'.",
                code="missing_api_key",
            )
        record = self.key_cache.resolve(secret, fresh=fresh)
        now = clock.utcnow()
        if record.grace_until is not None and record.grace_until <= now:
            raise Unauthenticated(
                "This API key was rotated; use its new secret.", code="key_rotated"
            )
        if record.status != "active":
            raise Unauthenticated("This API key has been revoked.", code="key_revoked")
        key_policy.check_expiry(record.policy, now)
        if record.account_status == "suspended":  # a cached record's is proven by the hold
            raise account_suspended()
        if record.role != "inference":
            raise Forbidden(
                "Admin keys manage the account; use an inference key for model requests.",
                code="inference_key_required",
            )
        return record
