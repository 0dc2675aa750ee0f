"""A small, thread-safe client for AWS JSON-protocol services (DynamoDB, Secrets Manager).

Standard library only, so the proxy's cold start does not pay for botocore. Each thread keeps
one persistent connection per client (the proxy runs these blocking calls in worker threads).

Retries are deliberately narrow, because a DynamoDB write must never be blindly repeated.
Before reusing an idle connection the client checks whether the server has closed it, and
opens a new one if so. Beyond that, a call is repeated once, on a new connection, only when it
cannot have been applied: sending it on a reused connection failed, or the server closed that
connection (RemoteDisconnected) before any byte of a response. Everything else, in particular
a timeout or a reset after the request was sent, raises AwsError with ``retryable`` False:
the write may have been applied. Callers retry service errors (``retryable`` True) and
unknown outcomes themselves, e.g. TransactWriteItems with the same ClientRequestToken.
"""

from __future__ import annotations

import http.client
import json
import select
import threading
from collections.abc import Mapping
from datetime import UTC, datetime
from urllib.parse import urlsplit

from tollgate import tls
from tollgate.aws.sigv4 import Credentials, sign

TYPE_CHECKING = False  # typing costs ~4 ms of import; it is only needed by type checkers
if TYPE_CHECKING:
    from typing import Any

THROTTLING_CODES = frozenset(
    {
        "Throttling",
        "ThrottlingException",
        "ThrottledException",
        "RequestThrottledException",
        "RequestThrottled",
        "TooManyRequestsException",
        "ProvisionedThroughputExceededException",
        "RequestLimitExceeded",
        "LimitExceededException",
    }
)
TRANSIENT_CODES = frozenset(
    {
        "InternalServerError",
        "InternalFailure",
        "InternalServiceError",
        "ServiceUnavailable",
        "RequestTimeout",
        "RequestTimeoutException",
        "PriorRequestNotComplete",
        "TransactionConflictException",
        "TransactionInProgressException",
    }
)
# A cancelled transaction is worth retrying when it lost a race, not when a condition failed.
TRANSIENT_CANCELLATION_CODES = frozenset(
    {"TransactionConflict", "ThrottlingError", "ProvisionedThroughputExceeded"}
)
# botocore's names for AWS_ENDPOINT_URL_<SERVICE> come from the service id, not the signing name.
ENDPOINT_ENV_SUFFIXES = {"dynamodb": "DYNAMODB", "secretsmanager": "SECRETS_MANAGER"}


class AwsError(Exception):
    """A failed call: a service error (``code`` from the response's ``__type``), or
    "ConnectionError" / "Timeout" when the service could not be reached or did not answer."""

    def __init__(
        self,
        code: str,
        message: str,
        *,
        status: int | None = None,
        cancellation_reasons: list[dict[str, Any]] | None = None,
        retryable: bool | None = None,
    ) -> None:
        super().__init__(f"{code}: {message}" if message else code)
        self.code = code
        self.message = message
        self.status = status
        self.cancellation_reasons = cancellation_reasons or []
        if retryable is None:
            retryable = is_retryable(code, status, self.cancellation_reasons)
        self.retryable = retryable


def is_retryable(code: str, status: int | None, cancellation_reasons: list[dict[str, Any]]) -> bool:
    if code in THROTTLING_CODES or code in TRANSIENT_CODES:
        return True
    if status is not None and (status >= 500 or status == 429):
        return True
    reasons = {reason.get("Code", "None") for reason in cancellation_reasons}
    return bool(reasons & TRANSIENT_CANCELLATION_CODES) and reasons <= (
        TRANSIENT_CANCELLATION_CODES | {"None"}
    )


def error_from_response(status: int, body: bytes, error_type_header: str | None) -> AwsError:
    fields = _json_object(body) or {}
    raw_type = fields.get("__type") or error_type_header or f"Http{status}"
    code = raw_type.rpartition("#")[2].partition(":")[0]
    message = fields.get("message") or fields.get("Message") or ""
    if not fields and body:
        message = body[:200].decode(errors="replace")
    return AwsError(
        code,
        message,
        status=status,
        cancellation_reasons=fields.get("CancellationReasons"),
    )


class _StaleConnection(Exception):
    """A reused keep-alive connection turned out to be closed; the request was not applied."""


class AwsJsonClient:
    def __init__(
        self,
        service: str,
        *,
        target_prefix: str,
        json_version: str,
        region: str,
        credentials: Credentials,
        endpoint_url: str | None = None,
        timeout: float = 5.0,
    ) -> None:
        self.service = service
        self.region = region
        self.url = endpoint_url or f"https://{service}.{region}.amazonaws.com"
        self.connections_opened = 0
        self._target_prefix = target_prefix
        self._content_type = f"application/x-amz-json-{json_version}"
        self._credentials = credentials
        self._timeout = timeout
        parts = urlsplit(self.url)
        self._scheme, self._host, self._port = parts.scheme, parts.hostname or "", parts.port
        self._path = parts.path or "/"
        self._local = threading.local()
        self._count_lock = threading.Lock()

    def call(self, operation: str, payload: dict[str, Any]) -> dict[str, Any]:
        """Run one operation; the decoded response, or AwsError."""
        body = json.dumps(payload, separators=(",", ":")).encode()
        headers = sign(
            "POST",
            self.url,
            {
                "Content-Type": self._content_type,
                "X-Amz-Target": f"{self._target_prefix}.{operation}",
            },
            body,
            service=self.service,
            region=self.region,
            credentials=self._credentials,
            now=datetime.now(UTC),
        )
        status, response_body, error_type = self._send(body, headers)
        if not 200 <= status < 300:
            raise error_from_response(status, response_body, error_type)
        decoded = _json_object(response_body) if response_body else {}
        if decoded is None:
            raise AwsError("InvalidResponse", f"{operation} answered with non-JSON", status=status)
        return decoded

    def close(self) -> None:
        """Close this thread's connection (others close when their threads end)."""
        connection = getattr(self._local, "connection", None)
        if connection is not None:
            connection.close()

    def _send(self, body: bytes, headers: dict[str, str]) -> tuple[int, bytes, str | None]:
        connection = self._thread_connection()
        if connection.sock is not None and not _looks_dropped(connection.sock):
            try:
                return self._round_trip(connection, body, headers, reused=True)
            except _StaleConnection:
                pass
        connection.close()
        self._connect(connection)
        return self._round_trip(connection, body, headers, reused=False)

    def _round_trip(
        self,
        connection: http.client.HTTPConnection,
        body: bytes,
        headers: dict[str, str],
        *,
        reused: bool,
    ) -> tuple[int, bytes, str | None]:
        try:
            connection.request("POST", self._path, body, headers)
        except (OSError, http.client.HTTPException) as exc:
            connection.close()
            if reused:
                raise _StaleConnection from exc
            raise self._transport_error(exc, request_sent=False) from exc
        try:
            response = connection.getresponse()
            return response.status, response.read(), response.getheader("x-amzn-ErrorType")
        except http.client.RemoteDisconnected as exc:
            connection.close()
            if reused:
                raise _StaleConnection from exc
            raise self._transport_error(exc, request_sent=True) from exc
        except (OSError, http.client.HTTPException) as exc:
            # Including a reset: the service may have applied the request before failing.
            connection.close()
            raise self._transport_error(exc, request_sent=True) from exc

    def _thread_connection(self) -> http.client.HTTPConnection:
        connection = getattr(self._local, "connection", None)
        if connection is None:
            connection = self._new_connection()
            self._local.connection = connection
        return connection

    def _new_connection(self) -> http.client.HTTPConnection:
        if self._scheme == "https":
            return http.client.HTTPSConnection(
                self._host, self._port, timeout=self._timeout, context=tls.client_context()
            )
        return http.client.HTTPConnection(self._host, self._port, timeout=self._timeout)

    def _connect(self, connection: http.client.HTTPConnection) -> None:
        try:
            connection.connect()
        except OSError as exc:
            connection.close()
            raise self._transport_error(exc, request_sent=False) from exc
        with self._count_lock:
            self.connections_opened += 1

    def _transport_error(self, exc: BaseException, *, request_sent: bool) -> AwsError:
        """Retryable only when the request never fully left, so it cannot have been applied."""
        code = "Timeout" if isinstance(exc, TimeoutError) else "ConnectionError"
        message = f"{self.service} at {self._host}: {type(exc).__name__}: {exc}"
        return AwsError(code, message, retryable=not request_sent)


def dynamodb_client(
    region: str, credentials: Credentials, endpoint_url: str | None = None, *, timeout: float = 5.0
) -> AwsJsonClient:
    return AwsJsonClient(
        "dynamodb",
        target_prefix="DynamoDB_20120810",
        json_version="1.0",
        region=region,
        credentials=credentials,
        endpoint_url=endpoint_url,
        timeout=timeout,
    )


def secrets_client(
    region: str, credentials: Credentials, endpoint_url: str | None = None, *, timeout: float = 5.0
) -> AwsJsonClient:
    return AwsJsonClient(
        "secretsmanager",
        target_prefix="secretsmanager",
        json_version="1.1",
        region=region,
        credentials=credentials,
        endpoint_url=endpoint_url,
        timeout=timeout,
    )


def endpoint_from_env(env: Mapping[str, str], service: str) -> str | None:
    """The endpoint botocore would use from the environment: AWS_ENDPOINT_URL_<SERVICE>, then
    AWS_ENDPOINT_URL; none when AWS_IGNORE_CONFIGURED_ENDPOINT_URLS is true."""
    if env.get("AWS_IGNORE_CONFIGURED_ENDPOINT_URLS", "").lower() == "true":
        return None
    suffix = ENDPOINT_ENV_SUFFIXES.get(service, service.upper().replace("-", "_"))
    return env.get(f"AWS_ENDPOINT_URL_{suffix}") or env.get("AWS_ENDPOINT_URL") or None


def _looks_dropped(sock: Any) -> bool:
    # An idle keep-alive socket with something to read has been closed (or reset) by the server;
    # catching that before sending avoids most of the races the reconnect rule has to absorb.
    poller = select.poll()
    poller.register(sock, select.POLLIN | select.POLLERR | select.POLLHUP)
    return bool(poller.poll(0))


def _json_object(body: bytes) -> dict[str, Any] | None:
    try:
        decoded = json.loads(body)
    except ValueError:
        return None
    return decoded if isinstance(decoded, dict) else None
