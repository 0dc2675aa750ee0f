"""devstack's S3 refuses a browser upload exactly when its POST policy does not allow it, as
S3 does: a policy signed by boto3 is taken as signed, and any change to the file's size, its
fields or the policy is refused with S3's error."""

from __future__ import annotations

import io
from datetime import UTC, datetime, timedelta

import boto3
import pytest
from botocore.config import Config
from werkzeug.test import EnvironBuilder

from devstack.s3_post_policy import check, enforcing, error_xml

MB5 = 5 * 1024 * 1024
SECRETS = {"devstack": "devstack"}


def signed_post(content_type: str = "image/png", *, version: str = "s3v4") -> dict[str, str]:
    client = boto3.client(
        "s3",
        region_name="us-east-1",
        endpoint_url="http://127.0.0.1:9",
        aws_access_key_id="devstack",
        aws_secret_access_key="devstack",
        config=Config(signature_version=version),
    )
    post = client.generate_presigned_post(
        Bucket="files",
        Key="tickets/acct_1/tkt_1/att_1",
        Fields={"Content-Type": content_type},
        Conditions=[{"Content-Type": content_type}, ["content-length-range", 1, MB5]],
        ExpiresIn=600,
    )
    return post["fields"]


def refusal(fields, *, size=100, bucket="files", secrets=SECRETS, later=timedelta(0)):
    now = datetime.now(UTC) + later
    return check(fields, bucket=bucket, file_size=size, secrets=secrets, now=now)


def test_an_upload_as_signed_is_taken():
    assert refusal(signed_post()) is None
    assert refusal(signed_post(), size=MB5) is None
    assert refusal(signed_post(version="s3")) is None  # SigV2, boto3's default for a POST
    assert refusal(signed_post(version="s3") | {"signature": "x"}).code == "SignatureDoesNotMatch"


def test_a_file_outside_the_size_range_is_refused_as_s3_does():
    too_large = refusal(signed_post(), size=MB5 + 1)
    assert (too_large.status, too_large.code) == (400, "EntityTooLarge")
    assert too_large.details == {"ProposedSize": str(MB5 + 1), "MaxSizeAllowed": str(MB5)}
    body = error_xml(too_large, "R1").decode()
    assert "<Code>EntityTooLarge</Code>" in body and f"<MaxSizeAllowed>{MB5}<" in body

    too_small = refusal(signed_post(), size=0)
    assert (too_small.status, too_small.code) == (400, "EntityTooSmall")


@pytest.mark.parametrize(
    ("change", "code", "message"),
    [
        (
            {"Content-Type": "text/html"},
            "AccessDenied",
            'Invalid according to Policy: Policy Condition failed: ["eq", "$Content-Type", '
            '"image/png"]',
        ),
        (
            {"key": "tickets/acct_2/tkt_1/att_1"},
            "AccessDenied",
            "Invalid according to Policy: Policy Condition failed: "
            '["eq", "$key", "tickets/acct_1/tkt_1/att_1"]',
        ),
        (
            {"acl": "public-read"},
            "AccessDenied",
            "Invalid according to Policy: Extra input fields: acl",
        ),
        ({"x-amz-signature": "0" * 64}, "SignatureDoesNotMatch", None),
        (
            {"x-amz-credential": "AKIAOTHER/20261130/us-east-1/s3/aws4_request"},
            "InvalidAccessKeyId",
            None,
        ),
    ],
)
def test_a_changed_field_is_refused(change, code, message):
    refused = refusal(signed_post() | change)
    assert refused is not None and refused.code == code
    assert refused.status == 403
    if message:
        assert refused.message == message


def test_a_policy_signed_with_another_secret_for_another_bucket_or_expired_is_refused():
    fields = signed_post()
    assert refusal(fields, secrets={"devstack": "other"}).code == "SignatureDoesNotMatch"
    wrong_bucket = refusal(fields, bucket="elsewhere")
    assert wrong_bucket.code == "AccessDenied" and '"$bucket"' in wrong_bucket.message
    expired = refusal(fields, later=timedelta(minutes=11))
    assert (expired.status, expired.message) == (
        403,
        "Invalid according to Policy: Policy expired.",
    )


def test_a_refusal_is_readable_by_the_console_page_that_posted_the_file():
    # Given a browser's upload from the console's origin whose file is too large
    fields = signed_post("text/plain")
    data = {**fields, "file": (io.BytesIO(b"x" * (MB5 + 1)), "big.txt")}
    environ = EnvironBuilder(
        method="POST", path="/files", data=data, headers={"Origin": "http://127.0.0.1:8787"}
    ).get_environ()
    answered: list[tuple[str, list[tuple[str, str]]]] = []

    def moto(environ, start_response):  # never reached
        raise AssertionError("the refused upload reached moto")

    # When devstack's S3 refuses it
    body = b"".join(
        enforcing(moto, SECRETS)(
            environ, lambda status, headers: answered.append((status, headers))
        )
    )

    # Then the page's script may read why (CORS, as moto's own answers and the bucket's rule)
    [(status, headers)] = answered
    assert status.startswith("400") and b"EntityTooLarge" in body
    assert ("Access-Control-Allow-Origin", "*") in headers
