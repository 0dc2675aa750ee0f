"""The standard-library SigV4 signer agrees with botocore's, byte for byte; the DynamoDB JSON
codec round-trips; service errors are classified the way the ledger relies on."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta, timezone

import pytest
from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials as BotocoreCredentials

from tollgate.aws import Credentials, MissingCredentialsError, endpoint_from_env, sign
from tollgate.aws.client import error_from_response
from tollgate.aws.dynamodb_json import deserialize, deserialize_item, serialize, serialize_item

NOW = datetime(2026, 11, 23, 10, 0, 0, tzinfo=UTC)
LONG_TERM = Credentials("AKIDEXAMPLE", "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY")
TEMPORARY = Credentials("ASIAEXAMPLE", "c2VjcmV0L2tleQ==", "FwoGZXIvYXdzEBYaD//session+token=")
JSON_BODY = json.dumps({"TableName": "Wallet", "Key": {"pk": {"S": "ACCOUNT#a1"}}}).encode()

REQUESTS = {
    "get_with_query": (
        "GET",
        "https://execute-api.eu-west-1.amazonaws.com/prod/items?b=2&a=1&a=0&empty=&x%20y=%2F",
        {},
        b"",
        "execute-api",
        "eu-west-1",
        LONG_TERM,
    ),
    "dynamodb_post_json": (
        "POST",
        "https://dynamodb.us-east-1.amazonaws.com",
        {
            "Content-Type": "application/x-amz-json-1.0",
            "X-Amz-Target": "DynamoDB_20120810.GetItem",
        },
        JSON_BODY,
        "dynamodb",
        "us-east-1",
        LONG_TERM,
    ),
    "secrets_post_json_with_session_token": (
        "POST",
        "https://secretsmanager.us-east-1.amazonaws.com/",
        {
            "Content-Type": "application/x-amz-json-1.1",
            "X-Amz-Target": "secretsmanager.GetSecretValue",
        },
        b'{"SecretId":"tollgate/operator-key"}',
        "secretsmanager",
        "us-east-1",
        TEMPORARY,
    ),
    "path_needing_uri_encoding": (
        "GET",
        "https://example.execute-api.us-east-1.amazonaws.com/a b/caf%C3%A9/./x/../~user//end/",
        {},
        b"",
        "execute-api",
        "us-east-1",
        TEMPORARY,
    ),
    "local_endpoint_with_port_and_messy_headers": (
        "POST",
        "http://127.0.0.1:4566/",
        {
            "Content-Type": "application/x-amz-json-1.0",
            "X-Custom": "  spaced    out   value ",
            "User-Agent": "not-signed/1.0",
            "X-Amzn-Trace-Id": "Root=1-not-signed",
            "Authorization": "stale",
        },
        JSON_BODY,
        "dynamodb",
        "us-east-1",
        TEMPORARY,
    ),
}


def botocore_signed(method, url, headers, body, service, region, credentials, monkeypatch):
    monkeypatch.setattr(
        "botocore.auth.get_current_datetime",
        lambda remove_tzinfo=True: NOW.replace(tzinfo=None),
    )
    request = AWSRequest(method=method, url=url, headers=dict(headers), data=body)
    boto_credentials = BotocoreCredentials(
        credentials.access_key, credentials.secret_key, credentials.session_token
    )
    SigV4Auth(boto_credentials, service, region).add_auth(request)
    return request.headers


@pytest.mark.parametrize("name", REQUESTS)
def test_signature_matches_botocore(name, monkeypatch):
    method, url, headers, body, service, region, credentials = REQUESTS[name]

    ours = sign(
        method, url, headers, body, service=service, region=region, credentials=credentials, now=NOW
    )
    theirs = botocore_signed(method, url, headers, body, service, region, credentials, monkeypatch)

    assert ours["Authorization"] == theirs["Authorization"]
    assert ours["X-Amz-Date"] == theirs["X-Amz-Date"] == "20261123T100000Z"
    assert ours.get("X-Amz-Security-Token") == theirs.get("X-Amz-Security-Token")


def test_signed_headers_keep_the_callers_and_add_host():
    headers = sign(
        "POST",
        "http://127.0.0.1:4566/",
        {"Content-Type": "application/x-amz-json-1.0"},
        b"{}",
        service="dynamodb",
        region="us-east-1",
        credentials=TEMPORARY,
        now=NOW,
    )

    assert headers["Content-Type"] == "application/x-amz-json-1.0"
    assert headers["Host"] == "127.0.0.1:4566"
    assert headers["X-Amz-Security-Token"] == TEMPORARY.session_token
    assert (
        "SignedHeaders=content-type;host;x-amz-date;x-amz-security-token"
        in (headers["Authorization"])
    )


def test_default_port_is_left_out_of_host():
    headers = sign(
        "GET",
        "https://DynamoDB.us-east-1.amazonaws.com:443/",
        {},
        b"",
        service="dynamodb",
        region="us-east-1",
        credentials=LONG_TERM,
        now=NOW,
    )

    assert headers["Host"] == "dynamodb.us-east-1.amazonaws.com"


def test_naive_and_aware_times_sign_the_same_instant():
    def signed(now):
        return sign(
            "POST",
            "https://dynamodb.us-east-1.amazonaws.com/",
            {},
            b"{}",
            service="dynamodb",
            region="us-east-1",
            credentials=LONG_TERM,
            now=now,
        )["Authorization"]

    paris = timezone(timedelta(hours=1))
    assert signed(NOW) == signed(NOW.replace(tzinfo=None)) == signed(NOW.astimezone(paris))


def test_credentials_come_from_the_lambda_environment():
    credentials = Credentials.from_env(
        {"AWS_ACCESS_KEY_ID": "ASIA1", "AWS_SECRET_ACCESS_KEY": "s3cr3t", "AWS_SESSION_TOKEN": "t"}
    )

    assert (credentials.access_key, credentials.secret_key, credentials.session_token) == (
        "ASIA1",
        "s3cr3t",
        "t",
    )


def test_credentials_without_session_token_have_none():
    credentials = Credentials.from_env(
        {"AWS_ACCESS_KEY_ID": "AKIA1", "AWS_SECRET_ACCESS_KEY": "s3cr3t", "AWS_SESSION_TOKEN": ""}
    )

    assert credentials.session_token is None


def test_missing_credentials_raise_a_clear_error():
    with pytest.raises(MissingCredentialsError, match="AWS_SECRET_ACCESS_KEY"):
        Credentials.from_env({"AWS_ACCESS_KEY_ID": "AKIA1"})


def test_credentials_repr_hides_the_secrets():
    assert "s3cr3t" not in repr(Credentials("AKIA1", "s3cr3t", "token-value"))
    assert "token-value" not in repr(Credentials("AKIA1", "s3cr3t", "token-value"))


def test_service_endpoint_variable_wins_over_the_global_one():
    env = {
        "AWS_ENDPOINT_URL": "http://127.0.0.1:1",
        "AWS_ENDPOINT_URL_SECRETS_MANAGER": "http://127.0.0.1:2",
    }

    assert endpoint_from_env(env, "secretsmanager") == "http://127.0.0.1:2"
    assert endpoint_from_env(env, "dynamodb") == "http://127.0.0.1:1"
    assert endpoint_from_env({}, "dynamodb") is None


def test_configured_endpoints_can_be_ignored():
    env = {"AWS_ENDPOINT_URL": "http://127.0.0.1:1", "AWS_IGNORE_CONFIGURED_ENDPOINT_URLS": "true"}

    assert endpoint_from_env(env, "dynamodb") is None


# DynamoDB JSON


def test_item_round_trips_through_dynamodb_json():
    item = {
        "pk": "WALLET#a1",
        "balance": 12_500_000_000,
        "held": -3,
        "active": True,
        "note": None,
        "limits": {"rpm": 60, "models": ["gpt-4o", "claude"]},
        "tags": {"vip", "beta"},
        "windows": {1, 2, 3},
        "empty_list": [],
        "empty_map": {},
    }

    assert deserialize_item(serialize_item(item)) == item


def test_values_serialize_to_their_dynamodb_types():
    assert serialize(True) == {"BOOL": True}
    assert serialize(7) == {"N": "7"}
    assert serialize(None) == {"NULL": True}
    assert serialize({"b", "a"}) == {"SS": ["a", "b"]}
    assert serialize({2, 1}) == {"NS": ["1", "2"]}
    assert serialize(("x", 1)) == {"L": [{"S": "x"}, {"N": "1"}]}


def test_floats_are_rejected_because_money_is_integer_nano_usd():
    with pytest.raises(TypeError):
        serialize(0.1)
    with pytest.raises(TypeError):
        serialize_item({"amount": {"nested": [1.5]}})


def test_fractional_numbers_fail_to_read():
    with pytest.raises(ValueError, match="non-integer"):
        deserialize({"N": "1.5"})


def test_empty_and_mixed_sets_are_rejected():
    with pytest.raises(ValueError):
        serialize(set())
    with pytest.raises(TypeError):
        serialize({"a", 1})


# Service errors


def error(body: dict, status: int = 400, header: str | None = None):
    return error_from_response(status, json.dumps(body).encode(), header)


def test_error_code_is_the_type_suffix():
    failure = error(
        {
            "__type": "com.amazonaws.dynamodb.v20120810#ConditionalCheckFailedException",
            "message": "The conditional request failed",
        }
    )

    assert failure.code == "ConditionalCheckFailedException"
    assert failure.message == "The conditional request failed"
    assert failure.status == 400
    assert failure.retryable is False


def test_error_code_falls_back_to_the_error_type_header():
    failure = error_from_response(404, b"", "ResourceNotFoundException:http://internal.amazon.com/")

    assert failure.code == "ResourceNotFoundException"


def test_cancelled_transaction_lists_reasons_per_item():
    failure = error(
        {
            "__type": "com.amazonaws.dynamodb.v20120810#TransactionCanceledException",
            "Message": "Transaction cancelled",
            "CancellationReasons": [{"Code": "None"}, {"Code": "ConditionalCheckFailed"}],
        }
    )

    assert failure.code == "TransactionCanceledException"
    assert [r["Code"] for r in failure.cancellation_reasons] == ["None", "ConditionalCheckFailed"]
    assert failure.retryable is False


def test_transaction_lost_to_a_conflict_is_retryable():
    failure = error(
        {
            "__type": "com.amazonaws.dynamodb.v20120810#TransactionCanceledException",
            "CancellationReasons": [{"Code": "TransactionConflict"}, {"Code": "None"}],
        }
    )

    assert failure.retryable is True


@pytest.mark.parametrize(
    ("code", "status"),
    [
        ("ProvisionedThroughputExceededException", 400),
        ("ThrottlingException", 400),
        ("InternalServerError", 500),
        ("ServiceUnavailable", 503),
    ],
)
def test_throttling_and_server_errors_are_retryable(code, status):
    assert error({"__type": f"ns#{code}"}, status).retryable is True


def test_non_json_error_bodies_keep_the_status():
    failure = error_from_response(502, b"<html>Bad Gateway</html>", None)

    assert (failure.code, failure.status, failure.retryable) == ("Http502", 502, True)
    assert "Bad Gateway" in failure.message
