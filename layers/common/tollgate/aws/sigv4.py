"""AWS Signature Version 4 for header-signed requests, matching botocore's ``SigV4Auth``.

Standard library only: the proxy cannot afford botocore's import time on a cold start.
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Mapping
from datetime import UTC, datetime
from urllib.parse import quote, urlsplit

ALGORITHM = "AWS4-HMAC-SHA256"
TIMESTAMP_FORMAT = "%Y%m%dT%H%M%SZ"

# Headers botocore leaves out of the signature (proxies and the HTTP stack may change them).
UNSIGNED_HEADERS = frozenset(
    {
        "baggage",
        "connection",
        "expect",
        "keep-alive",
        "proxy-authenticate",
        "proxy-authorization",
        "te",
        "traceparent",
        "tracestate",
        "trailer",
        "transfer-encoding",
        "upgrade",
        "user-agent",
        "x-amzn-trace-id",
    }
)
# Headers sign() sets itself; a caller's copy would be stale.
REPLACED_HEADERS = frozenset({"authorization", "host", "x-amz-date", "x-amz-security-token"})
DEFAULT_PORTS = {"http": 80, "https": 443}


class MissingCredentialsError(RuntimeError):
    """The environment holds no AWS credentials."""


class Credentials:
    """Static credentials. Lambda puts the execution role's credentials in the environment and
    they stay valid for the whole life of the container, so nothing here refreshes them."""

    # A plain class rather than a dataclass: dataclasses costs ~8 ms of import on a cold start.
    __slots__ = ("access_key", "secret_key", "session_token")

    def __init__(self, access_key: str, secret_key: str, session_token: str | None = None) -> None:
        self.access_key = access_key
        self.secret_key = secret_key
        self.session_token = session_token

    def __repr__(self) -> str:
        return f"Credentials(access_key={self.access_key!r}, secret_key=..., session_token=...)"

    @classmethod
    def from_env(cls, env: Mapping[str, str]) -> Credentials:
        access_key = env.get("AWS_ACCESS_KEY_ID", "")
        secret_key = env.get("AWS_SECRET_ACCESS_KEY", "")
        if not access_key or not secret_key:
            raise MissingCredentialsError(
                "AWS credentials missing: set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY "
                "(and AWS_SESSION_TOKEN for temporary credentials)"
            )
        return cls(access_key, secret_key, env.get("AWS_SESSION_TOKEN") or None)


def sign(
    method: str,
    url: str,
    headers: dict[str, str],
    body: bytes,
    *,
    service: str,
    region: str,
    credentials: Credentials,
    now: datetime,
) -> dict[str, str]:
    """The headers to send: the caller's, plus Host, X-Amz-Date, X-Amz-Security-Token (with a
    session token) and Authorization. ``url`` must already be percent-encoded, as sent on the
    wire. An X-Amz-Content-Sha256 header, if given, is signed and used as the payload hash."""
    timestamp = _utc(now).strftime(TIMESTAMP_FORMAT)
    signed = {k: v for k, v in headers.items() if k.lower() not in REPLACED_HEADERS}
    signed["Host"] = host_header(url)
    signed["X-Amz-Date"] = timestamp
    if credentials.session_token:
        signed["X-Amz-Security-Token"] = credentials.session_token
    canonical, signed_names = canonical_request(method, url, signed, body)
    scope = f"{timestamp[:8]}/{region}/{service}/aws4_request"
    string_to_sign = "\n".join([ALGORITHM, timestamp, scope, _sha256_hex(canonical.encode())])
    key = signing_key(credentials.secret_key, timestamp[:8], region, service)
    signature = hmac.new(key, string_to_sign.encode(), hashlib.sha256).hexdigest()
    signed["Authorization"] = (
        f"{ALGORITHM} Credential={credentials.access_key}/{scope}, "
        f"SignedHeaders={signed_names}, Signature={signature}"
    )
    return signed


def canonical_request(
    method: str, url: str, headers: Mapping[str, str], body: bytes
) -> tuple[str, str]:
    """The canonical request and its signed-header list."""
    parts = urlsplit(url)
    names, header_lines = canonical_headers(headers)
    payload_hash = _header(headers, "x-amz-content-sha256") or _sha256_hex(body)
    lines = [
        method.upper(),
        canonical_path(parts.path),
        canonical_query(parts.query),
        header_lines + "\n",
        names,
        payload_hash,
    ]
    return "\n".join(lines), names


def canonical_path(path: str) -> str:
    """Dot segments and empty segments removed, then percent-encoded once more (every service
    but S3 signs the doubly encoded path)."""
    return quote(_remove_dot_segments(path) if path else "/", safe="/~")


def canonical_query(query: str) -> str:
    """Pairs sorted as they appear on the wire (already percent-encoded), like botocore."""
    if not query:
        return ""
    pairs = sorted(pair.partition("=")[::2] for pair in query.split("&"))
    return "&".join(f"{key}={value}" for key, value in pairs)


def canonical_headers(headers: Mapping[str, str]) -> tuple[str, str]:
    """(signed header names, canonical header lines): lowercase names, sorted, values with runs
    of whitespace collapsed, repeated names joined with commas."""
    values: dict[str, list[str]] = {}
    for name, value in headers.items():
        lname = name.lower()
        if lname not in UNSIGNED_HEADERS:
            values.setdefault(lname, []).append(" ".join(value.split()))
    names = sorted(values)
    lines = "\n".join(f"{name}:{','.join(values[name])}" for name in names)
    return ";".join(names), lines


def host_header(url: str) -> str:
    """Lowercase host, with the port only when it is not the scheme's default."""
    parts = urlsplit(url)
    host = parts.hostname or ""
    if ":" in host:
        host = f"[{host}]"
    if parts.port is not None and parts.port != DEFAULT_PORTS.get(parts.scheme):
        host = f"{host}:{parts.port}"
    return host


def signing_key(secret_key: str, date: str, region: str, service: str) -> bytes:
    key = f"AWS4{secret_key}".encode()
    for part in (date, region, service, "aws4_request"):
        key = hmac.new(key, part.encode(), hashlib.sha256).digest()
    return key


def _remove_dot_segments(path: str) -> str:
    # RFC 3986 section 5.2.4, plus collapsing empty segments as AWS expects.
    segments: list[str] = []
    for segment in path.split("/"):
        if segment == "..":
            if segments:
                segments.pop()
        elif segment and segment != ".":
            segments.append(segment)
    first = "/" if path.startswith("/") else ""
    last = "/" if path.endswith("/") and segments else ""
    return first + "/".join(segments) + last


def _header(headers: Mapping[str, str], lname: str) -> str | None:
    return next((v for k, v in headers.items() if k.lower() == lname), None)


def _sha256_hex(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def _utc(moment: datetime) -> datetime:
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)
