"""S3's browser uploads (POST policies) enforced in devstack's moto, as S3 enforces them.

moto stores whatever a multipart POST to a bucket carries, without reading its policy or its
signature; a real bucket refuses an upload its policy does not allow. ``check`` is S3's rule
(SigV4 signature over the base64 policy, expiration, every condition, no field the policy
does not name) as a pure function; ``enforcing`` applies it in front of moto's WSGI app and
answers a refusal with S3's XML error.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import io
import json
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any
from xml.sax.saxutils import escape

from werkzeug.formparser import parse_form_data

WSGIApp = Callable[[dict[str, Any], Any], Iterable[bytes]]
ALGORITHM = "AWS4-HMAC-SHA256"
# fields a policy never names (S3: the signature, the policy itself, the file, x-ignore-*)
UNCHECKED = {"policy", "x-amz-signature", "file", "awsaccesskeyid", "signature"}


@dataclass(frozen=True)
class Refusal:
    status: int
    code: str
    message: str
    details: dict[str, str] = field(default_factory=dict)  # e.g. ProposedSize, MaxSizeAllowed


def check(
    fields: Mapping[str, str],
    *,
    bucket: str,
    file_size: int,
    secrets: Mapping[str, str],
    now: datetime,
) -> Refusal | None:
    """Why S3 would refuse this upload (None: it would take it). ``fields`` are the form's
    fields but the file, ``secrets`` the secret access key of each access key id."""
    named = {name.lower(): value for name, value in fields.items()}
    if "policy" not in named:
        return _invalid("Bucket POST must contain a field named 'policy'.")
    if "awsaccesskeyid" in named:
        refused = _signature_v2_refusal(named, secrets)
    else:
        refused = _signature_refusal(named, secrets)
    if refused:
        return refused
    try:
        policy = json.loads(base64.b64decode(named["policy"], validate=True))
        expiration = datetime.fromisoformat(policy["expiration"].replace("Z", "+00:00"))
        conditions = list(policy["conditions"])
    except (ValueError, KeyError, TypeError, binascii.Error):
        return Refusal(400, "InvalidPolicyDocument", "Invalid Policy: Invalid JSON.")
    if now >= expiration:
        return _denied("Policy expired.")
    values = {**named, "bucket": bucket}
    covered = {"bucket"}
    for condition in conditions:
        refused = _condition_refusal(condition, values, file_size, covered)
        if refused:
            return refused
    extra = sorted(
        name
        for name in named
        if name not in covered and name not in UNCHECKED and not name.startswith("x-ignore-")
    )
    if extra:
        return _denied(f"Extra input fields: {', '.join(extra)}")
    return None


def _signature_refusal(named: Mapping[str, str], secrets: Mapping[str, str]) -> Refusal | None:
    """SigV4: the policy signed by the key derived from the secret, day, region and s3."""
    for required in ("x-amz-algorithm", "x-amz-credential", "x-amz-date", "x-amz-signature"):
        if required not in named:
            return _invalid(f"Bucket POST must contain a field named '{required}'.")
    if named["x-amz-algorithm"] != ALGORITHM:
        return _invalid(f"Unsupported algorithm: {named['x-amz-algorithm']}.")
    parts = named["x-amz-credential"].split("/")
    if len(parts) != 5 or parts[3:] != ["s3", "aws4_request"]:
        return _invalid("Invalid credential: " + named["x-amz-credential"])
    access_key, day, region = parts[:3]
    secret = secrets.get(access_key)
    if secret is None:
        return _unknown_key()
    key = f"AWS4{secret}".encode()
    for part in (day, region, "s3", "aws4_request"):
        key = hmac.new(key, part.encode(), hashlib.sha256).digest()
    expected = hmac.new(key, named["policy"].encode(), hashlib.sha256).hexdigest()
    return _mismatch(expected, named["x-amz-signature"])


def _signature_v2_refusal(named: Mapping[str, str], secrets: Mapping[str, str]) -> Refusal | None:
    """SigV2 (boto3's default for presigned POSTs): base64 HMAC-SHA1 of the policy."""
    if "signature" not in named:
        return _invalid("Bucket POST must contain a field named 'signature'.")
    secret = secrets.get(named["awsaccesskeyid"])
    if secret is None:
        return _unknown_key()
    digest = hmac.new(secret.encode(), named["policy"].encode(), hashlib.sha1).digest()
    return _mismatch(base64.b64encode(digest).decode(), named["signature"])


def _mismatch(expected: str, given: str) -> Refusal | None:
    if hmac.compare_digest(expected.encode(), given.encode()):
        return None
    return Refusal(
        403,
        "SignatureDoesNotMatch",
        "The request signature we calculated does not match the signature you provided. "
        "Check your key and signing method.",
    )


def _unknown_key() -> Refusal:
    return Refusal(
        403,
        "InvalidAccessKeyId",
        "The AWS Access Key Id you provided does not exist in our records.",
    )


def _condition_refusal(
    condition: Any, values: Mapping[str, str], file_size: int, covered: set[str]
) -> Refusal | None:
    if isinstance(condition, dict) and len(condition) == 1:
        ((name, expected),) = condition.items()
        condition = ["eq", f"${name}", expected]
    if not isinstance(condition, list) or len(condition) != 3:
        return Refusal(400, "InvalidPolicyDocument", "Invalid Policy: Invalid Condition.")
    operator = str(condition[0]).lower()
    if operator == "content-length-range":
        try:
            return _size_refusal(int(condition[1]), int(condition[2]), file_size)
        except (TypeError, ValueError):
            return Refusal(400, "InvalidPolicyDocument", "Invalid Policy: Invalid Condition.")
    if operator not in ("eq", "starts-with"):
        return Refusal(400, "InvalidPolicyDocument", "Invalid Policy: Invalid Condition.")
    name = str(condition[1]).removeprefix("$").lower()
    covered.add(name)
    value, expected = values.get(name), str(condition[2])
    if value is not None and (
        value == expected if operator == "eq" else value.startswith(expected)
    ):
        return None
    return _denied(f"Policy Condition failed: {json.dumps(condition)}")


def _size_refusal(least: int, most: int, size: int) -> Refusal | None:
    if size > most:
        details = {"ProposedSize": str(size), "MaxSizeAllowed": str(most)}
        message = "Your proposed upload exceeds the maximum allowed size"
        return Refusal(400, "EntityTooLarge", message, details)
    if size < least:
        details = {"ProposedSize": str(size), "MinSizeAllowed": str(least)}
        message = "Your proposed upload is smaller than the minimum allowed size"
        return Refusal(400, "EntityTooSmall", message, details)
    return None


def _denied(why: str) -> Refusal:
    return Refusal(403, "AccessDenied", f"Invalid according to Policy: {why}")


def _invalid(message: str) -> Refusal:
    return Refusal(400, "InvalidArgument", message)


def error_xml(refusal: Refusal, request_id: str) -> bytes:
    """S3's error document."""
    details = "".join(f"<{k}>{escape(v)}</{k}>" for k, v in refusal.details.items())
    return (
        '<?xml version="1.0" encoding="UTF-8"?>\n'
        f"<Error><Code>{refusal.code}</Code><Message>{escape(refusal.message)}</Message>"
        f"{details}<RequestId>{request_id}</RequestId><HostId>devstack</HostId></Error>"
    ).encode()


# ------------------------------------------------------------------------------ WSGI


def enforcing(app: WSGIApp, secrets: Mapping[str, str]) -> WSGIApp:
    """``app`` behind S3's POST policy check: a browser upload (a multipart POST to a bucket)
    that S3 would refuse is answered here and never reaches moto."""

    def serve(environ: dict[str, Any], start_response: Any) -> Iterable[bytes]:
        if not _is_browser_upload(environ):
            return app(environ, start_response)
        body = environ["wsgi.input"].read(int(environ.get("CONTENT_LENGTH") or 0))
        parsing = {**environ, "wsgi.input": io.BytesIO(body), "CONTENT_LENGTH": str(len(body))}
        _, form, files = parse_form_data(parsing)
        upload = files.get("file")
        size = len(upload.read()) if upload is not None else 0
        bucket = environ.get("PATH_INFO", "/").strip("/").split("/")[0]
        refusal = check(
            form.to_dict(), bucket=bucket, file_size=size, secrets=secrets, now=datetime.now(UTC)
        )
        if refusal is None:
            environ["wsgi.input"] = io.BytesIO(body)
            return app(environ, start_response)
        answer = error_xml(refusal, hashlib.sha256(body[:64]).hexdigest()[:16].upper())
        headers = [("Content-Type", "application/xml"), ("Content-Length", str(len(answer)))]
        # as moto's answers do (and the bucket's CORS rule): the console's page reads why
        headers.append(("Access-Control-Allow-Origin", "*"))
        start_response(f"{refusal.status} {_REASONS[refusal.status]}", headers)
        return [answer]

    return serve


_REASONS = {400: "Bad Request", 403: "Forbidden"}


def _is_browser_upload(environ: Mapping[str, Any]) -> bool:
    path = environ.get("PATH_INFO", "/").strip("/")
    return (
        environ.get("REQUEST_METHOD") == "POST"
        and environ.get("CONTENT_TYPE", "").startswith("multipart/form-data")
        and bool(path)
        and "/" not in path
        and not environ.get("QUERY_STRING")
    )
