"""Hostile request bodies, query strings and path ids on the management API and the Stripe
webhook: each answers 400 in the management error body, naming the field where there is one,
and writes nothing. Never a 500 (a webhook 500 would make Stripe retry forever)."""

from __future__ import annotations

import base64
import json
from typing import Any

import pytest

from tests.integration.conftest import event
from tests.integration.test_payment_webhook import FUNCTION as WEBHOOK
from tests.integration.test_payment_webhook import delivery, processed_events
from tests.support.environment import OPERATOR_KEY

DEEP_ARRAY = "[" * 5000 + "]" * 5000
DEEP_OBJECT = '{"name":' * 5000 + "1" + "}" * 5000
NESTED_BELOW_THE_RECURSION_LIMIT = '{"name":' + "[" * 900 + "]" * 900 + "}"
BAD_BODIES = {
    "deep-arrays": DEEP_ARRAY,
    "deep-objects": DEEP_OBJECT,
    "900-deep": NESTED_BELOW_THE_RECURSION_LIMIT,
    "nan": '{"name": NaN}',
    "infinity": '{"name": -Infinity}',
    "float-overflow": '{"name": 1e400}',
    "5000-digits": '{"name": ' + "9" * 5000 + "}",
    "not-an-object": "[1, 2]",
    "truncated": '{"name": "x"',
}
HOSTILE = ("deep-arrays", "deep-objects", "nan")

# (function, event, path parameters, who calls): every management route that reads a body
BODY_ROUTES = {
    "POST /operator/accounts": ("AccountFunction", "account_create", None, "operator"),
    "POST /operator/accounts/{id}/adjustments": (
        "AccountFunction",
        "adjustment_create",
        "account",
        "operator",
    ),
    "POST /v1/keys": ("KeysFunction", "keys_create", None, "admin"),
    "PATCH /v1/keys/{id}": ("KeysFunction", "keys_update", "key", "admin"),
    "POST /v1/keys/{id}/rotate": ("KeysFunction", "keys_rotate", "key", "admin"),
    "POST /v1/wallet/checkout": ("BillingFunction", "wallet_checkout", None, "admin"),
    "POST /v1/members/invitations": ("MembersFunction", "invitations_create", None, "admin"),
    "PATCH /v1/members/{id}": ("MembersFunction", "members_update", "person", "admin"),
}


@pytest.fixture
def caller(invoke, new_account):
    """Sends a raw body to a route as its rightful caller, about a key and account that exist."""
    account = new_account()
    created = invoke(
        "KeysFunction", event("keys_create", key=account.admin_key, body={"name": "target"})
    )
    ids = {
        "account": {"account_id": account.account_id},
        "key": {"key_id": created.body["id"]},
        "person": {"person_id": "person-0001"},
    }

    def send(route: str, body: str, *, base64_encoded: bool = False):
        function, name, path, who = BODY_ROUTES[route]
        key = OPERATOR_KEY if who == "operator" else account.admin_key
        request = event(name, key=key, body=body, path_parameters=ids.get(path or ""))
        if base64_encoded:
            request["body"] = base64.b64encode(body.encode("latin-1")).decode()
            request["isBase64Encoded"] = True
        return invoke(function, request)

    return send


def assert_refused(answer, *, code: str | None = None, param: str | None = None) -> None:
    assert answer.status == 400, answer.body
    error = answer.body["error"]
    assert error["type"] == "invalid_request_error"
    if code is not None:
        assert error["code"] == code
    if param is not None:
        assert error["param"] == param


@pytest.mark.parametrize("body", BAD_BODIES.values(), ids=BAD_BODIES.keys())
def test_a_key_body_that_is_not_plain_json_is_refused_with_400(caller, body):
    answer = caller("POST /v1/keys", body)

    assert_refused(answer, code="invalid_json")


@pytest.mark.parametrize("body", HOSTILE)
@pytest.mark.parametrize("route", BODY_ROUTES)
def test_a_deep_or_nan_body_is_refused_with_400_on_every_route(caller, route, body):
    answer = caller(route, BAD_BODIES[body])

    assert_refused(answer, code="invalid_json")


@pytest.mark.parametrize("route", BODY_ROUTES)
def test_a_body_that_is_not_utf8_is_refused_with_400(caller, route):
    answer = caller(route, '{"name": "caf\xe9"}', base64_encoded=True)

    assert_refused(answer, code="invalid_json")


@pytest.mark.parametrize(
    "grace", ["1e30", "10" + "0" * 30, "86401", "1.5", "-1", '"60"', "true", "null"]
)
def test_a_rotation_grace_that_is_not_a_whole_number_of_seconds_is_refused(caller, grace):
    answer = caller("POST /v1/keys/{id}/rotate", '{"grace_seconds": ' + grace + "}")

    assert_refused(answer, param="grace_seconds")


@pytest.mark.parametrize(
    ("field", "value", "param"),
    [
        ("rate_limit", {"rpm": 1e30}, "rate_limit.rpm"),
        ("rate_limit", {"tpm": 1.5}, "rate_limit.tpm"),
        ("rate_limit", {"rpm": -1}, "rate_limit.rpm"),
        ("rate_limit", {"tpm": "1"}, "rate_limit.tpm"),
        ("rate_limit", {"rpm": True}, "rate_limit.rpm"),
        ("rate_limit", {"rpm": 10**30}, "rate_limit.rpm"),
        ("spend_cap", {"amount_usd": 1e30, "period": "day"}, "spend_cap.amount_usd"),
        ("spend_cap", {"amount_usd": 10**30, "period": "day"}, "spend_cap.amount_usd"),
        ("spend_cap", {"amount_usd": -1, "period": "day"}, "spend_cap.amount_usd"),
        ("spend_cap", {"amount_usd": True, "period": "day"}, "spend_cap.amount_usd"),
        ("spend_cap", {"amount_usd": "1e3", "period": "day"}, "spend_cap.amount_usd"),
        ("spend_cap", {"amount_usd": "5", "period": 1}, "spend_cap.period"),
        ("spend_cap", [], "spend_cap"),
        ("expires_at", 1e30, "expires_at"),
        ("expires_at", 10**30, "expires_at"),
        ("expires_at", True, "expires_at"),
        ("expires_at", "not a time", "expires_at"),
        ("allowed_models", [{"a": 1}], "allowed_models"),
        ("allowed_cidrs", ["10.0.0.0/33"], "allowed_cidrs"),
        ("tags", {"a": 1}, "tags"),
        ("name", 1e30, "name"),
    ],
)
def test_a_key_policy_of_the_wrong_type_or_range_is_refused_naming_the_field(
    caller, field, value, param
):
    answer = caller("PATCH /v1/keys/{id}", json.dumps({field: value}))

    assert_refused(answer, param=param)


def list_event(name: str, admin_key: str, **query: str) -> dict[str, Any]:
    return event(name, key=admin_key, query=query)


LISTINGS = {
    "GET /v1/keys": ("KeysFunction", "keys_list"),
    "GET /v1/usage": ("UsageFunction", "usage_list"),
    "GET /v1/wallet/ledger": ("BillingFunction", "wallet_ledger"),
    "GET /v1/payments": ("BillingFunction", "payments_list"),
    "GET /v1/audit": ("AuditFunction", "audit_list"),
}  # GET /v1/archives is one short list: it takes neither


def b64(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).decode()


GARBAGE_CURSORS = {
    "not-base64": "%%%",
    "not-utf8": b64(b"\xff\xfe"),
    "deep": b64(DEEP_ARRAY.encode()),
    "a-list": b64(b"[1]"),
    "foreign-key-shape": b64(b'{"pk": {"S": "x"}, "sk": {"N": "abc"}, "zz": 1}'),
}
BAD_LIMITS = {
    "abc": "abc",
    "1e9": "1e9",
    "a-billion": "1000000000",
    "zero": "0",
    "negative": "-1",
    "5000-digits": "9" * 5000,
    "float": "1.5",
}


@pytest.fixture
def admin_key(new_account) -> str:
    return new_account().admin_key


@pytest.mark.parametrize("route", LISTINGS)
def test_a_garbage_cursor_is_refused_naming_the_cursor(invoke, admin_key, route):
    function, name = LISTINGS[route]

    for label, cursor in GARBAGE_CURSORS.items():
        answer = invoke(function, list_event(name, admin_key, cursor=cursor))

        assert answer.status != 500, (label, answer.body)
        assert_refused(answer, param="cursor")


@pytest.mark.parametrize("route", LISTINGS)
def test_a_limit_that_is_not_a_page_size_is_refused_naming_the_limit(invoke, admin_key, route):
    function, name = LISTINGS[route]

    for label, limit in BAD_LIMITS.items():
        answer = invoke(function, list_event(name, admin_key, limit=limit))

        assert answer.status != 500, (label, answer.body)
        assert_refused(answer, param="limit")


USAGE_TIMES = {
    "before-year-1-in-utc": "0001-01-01T00:00:00+14:00",
    "after-year-9999-in-utc": "9999-12-31T23:59:59-14:00",
    "unix-seconds-past-year-9999": "9" * 30,
    "garbage": "yesterday",
}


@pytest.mark.parametrize("name", ["from", "to"])
def test_a_usage_time_out_of_range_is_refused_naming_it(invoke, admin_key, name):
    for label, moment in USAGE_TIMES.items():
        answer = invoke("UsageFunction", list_event("usage_list", admin_key, **{name: moment}))

        assert answer.status != 500, (label, answer.body)
        assert_refused(answer, param=name)


ODD_IDS = {
    "very-long": "key_" + "a" * 5000,
    "a-path": "../../etc/passwd",
    "unicode": "ключ_☃",
    "nul": "key_\x00",
}
BY_ID = {
    "GET /v1/keys/{id}": ("KeysFunction", "keys_get", "key_id"),
    "PATCH /v1/keys/{id}": ("KeysFunction", "keys_update", "key_id"),
    "POST /v1/keys/{id}/rotate": ("KeysFunction", "keys_rotate", "key_id"),
    "DELETE /v1/keys/{id}": ("KeysFunction", "keys_revoke", "key_id"),
    "GET /v1/usage/{id}": ("UsageFunction", "usage_get", "request_id"),
    "GET /v1/payments/{id}": ("BillingFunction", "payments_get", "payment_id"),
    "GET /v1/archives/{month}": ("UsageFunction", "archive_get", "month"),
}


@pytest.mark.parametrize("route", BY_ID)
def test_an_odd_path_id_is_not_found_or_refused_never_an_error(invoke, admin_key, route):
    function, name, parameter = BY_ID[route]
    body = "{}" if name in ("keys_update", "keys_rotate") else None

    for label, odd in ODD_IDS.items():
        request = event(name, key=admin_key, body=body, path_parameters={parameter: odd})

        answer = invoke(function, request)

        assert answer.status in (400, 404), (label, answer.body)


def test_an_odd_account_id_in_an_adjustment_is_not_found_or_refused(invoke):
    request = event(
        "adjustment_create",
        key=OPERATOR_KEY,
        body={"amount_usd": "1.00", "reason": "test"},
        path_parameters={"account_id": "acct_" + "a" * 5000},
    )

    answer = invoke("AccountFunction", request)

    assert answer.status in (400, 404), answer.body


def test_nothing_is_written_by_a_refused_key_body(invoke, admin_key):
    def listed() -> list[str]:
        answer = invoke("KeysFunction", list_event("keys_list", admin_key))
        return [key["id"] for key in answer.body["data"]]

    before = listed()

    invoke("KeysFunction", event("keys_create", key=admin_key, body='{"name": NaN}'))
    invoke("KeysFunction", event("keys_create", key=admin_key, body=DEEP_OBJECT))

    assert listed() == before


@pytest.mark.parametrize(
    "body",
    [DEEP_ARRAY, DEEP_OBJECT, NESTED_BELOW_THE_RECURSION_LIMIT, '{"id": NaN}', '{"id": 1e400}'],
    ids=["deep-arrays", "deep-objects", "900-deep", "nan", "float-overflow"],
)
def test_a_signed_webhook_body_that_cannot_be_parsed_is_refused_with_400(invoke, body):
    answer = invoke(WEBHOOK, delivery(body))

    assert answer.status == 400, answer.body
    assert answer.body["error"]["code"] == "malformed_event"
    assert processed_events() == 0


def test_an_unsigned_deep_webhook_body_is_refused_for_its_signature_first(invoke):
    answer = invoke(WEBHOOK, delivery(DEEP_ARRAY, signature="t=1,v1=00"))

    assert (answer.status, answer.body["error"]["code"]) == (400, "invalid_signature")


@pytest.mark.parametrize(
    ("route", "body", "param"),
    [
        ("POST /v1/members/invitations", {"email": ["a@b.co"], "role": "viewer"}, "email"),
        ("POST /v1/members/invitations", {"email": "a@b.co", "role": ["owner"]}, "role"),
        ("POST /v1/members/invitations", {"email": "a@b.co", "role": {"owner": 1}}, "role"),
        ("PATCH /v1/members/{id}", {"role": None}, "role"),
        ("PATCH /v1/members/{id}", {"role": 1e400}, None),
        ("PATCH /v1/members/{id}", {"role": "viewer", "email": "a@b.co"}, "email"),
    ],
)
def test_a_member_field_of_the_wrong_type_is_refused_naming_it(caller, route, body, param):
    raw = body if isinstance(body, str) else json.dumps(body).replace("Infinity", "1e400")

    assert_refused(caller(route, raw), param=param)
